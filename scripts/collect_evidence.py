#!/usr/bin/env python3
"""Collect the runs of scripts/reproduce_evidence.sh into one JSON file and one markdown table.

    python scripts/collect_evidence.py --runs_dir runs/evidence --out_dir results \\
        --setting mode=full --setting mlm_steps=600 --setting seed=42   # header lines, any KEY=VALUE

Reads, for each attention type (softmax, lion_lit, lion_d, lion_s), whichever of these run folders exist:

* ``mlm-<type>/``            run_mlm.py pretraining: eval_results.json (parallel form), train_results.json
* ``mlm-<type>-recurrent/``  run_mlm.py evaluation of the same model in the recurrent form: eval_results.json
* ``stsb-mlm-<type>/``       run_glue.py STS-B fine-tune of the pretrained model
* ``stsb-minilm-<type>/``    run_glue.py STS-B fine-tune of all-MiniLM-L6-v2 converted to <type>

(of a run_glue.py folder, 🤗's files: eval_results.json (dev scores in the evaluation form), form_agreement.json
(that form against the other LION form), train_results.json, trainer_state.json and config.json; see `stsb_entry`)

and every ``lever-<name>/`` folder: one run_glue.py run (a fine-tune, or an evaluation) of the converted model with
one change, described by its ``lever.json`` ({"change": ..., "stage": ...}); with ``distilled-<type>/`` holding the
distilled conversion (conversion_results.json) that a ``lever-distilled-<type>`` run starts from,

and writes ``evidence.json`` (every number, the machine, the settings, the gaps vs softmax against the targets)
and ``evidence.md`` (the tables) to --out_dir. Missing runs show as "-"; nothing is trained here.

The targets are data: ``--targets`` (default: benchmarks/evidence_targets.json of this checkout, described in
benchmarks/README.md) names the attention type they apply to and the largest gap to softmax, in points, for each of
the gaps in GAP_NAMES.
"""

import json
import math
import os
import sys
from argparse import RawDescriptionHelpFormatter
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from lion_bert.benchmarking import LABELS as VARIANT_LABELS
from lion_bert.benchmarking import LION_VARIANTS
from lion_bert.cli import parse_known_flags
from lion_bert.configuration_lion_bert import ATTENTION_VARIANTS
from lion_bert.machine import machine_info

ATTENTION_TYPES = ("softmax", *LION_VARIANTS)
LABELS = {"softmax": "softmax (BERT)", **VARIANT_LABELS}
DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "benchmarks" / "evidence_targets.json"
GAP_NAMES = {  # gap (a key of "gaps_vs_softmax" without "_points"): what it compares, for the report
    "mlm_accuracy": "MLM accuracy",
    "stsb_pretrained_spearman": "STS-B Spearman after the MLM pretraining",
    "stsb_minilm_spearman": "STS-B Spearman of the converted all-MiniLM-L6-v2",
}


def load_targets(path) -> dict:
    """The evidence targets: {"source": where they come from, "attention_type": the model they apply to,
    "max_gap_points": {gap name (GAP_NAMES): largest gap to softmax, in points}}. Raises ValueError for a file
    `collect` could not use."""
    targets = json.loads(Path(path).read_text(encoding="utf-8"))
    unknown = sorted(set(targets.get("max_gap_points", {})) - set(GAP_NAMES))
    if not {"source", "attention_type", "max_gap_points"} <= set(targets) or unknown:
        raise ValueError(f"{path}: needs source, attention_type and max_gap_points over {', '.join(GAP_NAMES)}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    if targets["attention_type"] not in ATTENTION_TYPES:
        raise ValueError(f"{path}: attention_type {targets['attention_type']!r} is not one of {ATTENTION_TYPES}")
    return targets


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def mlm_entry(runs_dir: Path, attention_type: str) -> dict | None:
    folder = runs_dir / f"mlm-{attention_type}"
    parallel = _read_json(folder / "eval_results.json")
    if parallel is None:
        return None
    train = _read_json(folder / "train_results.json") or {}
    entry = {
        "accuracy": parallel.get("eval_accuracy"),
        "eval_loss": parallel.get("eval_loss"),
        "perplexity": parallel.get("perplexity"),
        "masked_tokens": parallel.get("eval_masked_tokens"),
        "eval_blocks": parallel.get("eval_samples"),
        "train_tokens_per_second": train.get("train_tokens_per_second"),
        "train_runtime_s": train.get("train_runtime"),
        "train_loss": train.get("train_loss"),
    }
    recurrent = _read_json(runs_dir / f"mlm-{attention_type}-recurrent" / "eval_results.json")
    if recurrent is not None:
        entry["accuracy_recurrent"] = recurrent.get("eval_accuracy")
        entry["eval_loss_recurrent"] = recurrent.get("eval_loss")
        entry["max_form_diff"] = max(abs(entry["accuracy"] - entry["accuracy_recurrent"]),
                                     abs(entry["eval_loss"] - entry["eval_loss_recurrent"]))
    return entry


def stsb_entry(folder: Path) -> dict | None:
    """One run_glue.py STS-B run from 🤗's files in ``folder``: eval_results.json (dev Pearson and Spearman in the
    evaluation form), form_agreement.json (the evaluation form, listed first, against the other LION form on a sample
    of the dev pairs; absent for softmax), train_results.json and trainer_state.json (absent for an evaluation-only
    run), config.json (the attention type, and the position embeddings: null there is the variant's default).
    None when there is no eval_results.json."""
    results = _read_json(folder / "eval_results.json")
    if results is None:
        return None
    config = _read_json(folder / "config.json") or {}
    agreement = _read_json(folder / "form_agreement.json") or {}
    train = _read_json(folder / "train_results.json") or {}
    state = _read_json(folder / "trainer_state.json") or {}
    attention_type = config.get("attention_type")
    positions = config.get("position_embedding_type")
    if positions is None and attention_type in ATTENTION_VARIANTS:
        positions = ATTENTION_VARIANTS[attention_type].position_embedding_type
    eval_form, other_form = agreement.get("forms") or (None, None)
    return {
        "attention_type": attention_type,
        "position_embedding_type": positions,
        "num_samples": results.get("eval_samples"),
        "pearson": results.get("eval_pearson"),
        "spearman": results.get("eval_spearmanr"),
        "eval_runtime_s": results.get("eval_runtime"),
        "eval_form": eval_form,
        "other_form": other_form,
        "form_check_samples": agreement.get("num_samples"),
        "max_abs_logit_diff": agreement.get("max_abs_logit_diff"),
        "forms_agree": agreement.get("predictions_agree"),
        "train_runtime_s": train.get("train_runtime"),
        "train_steps": state.get("global_step"),
    }


def lever_entries(runs_dir: Path, models: dict) -> list[dict]:
    """Every lever-<name>/ run (lever.json and the run_glue.py files of `stsb_entry`), in pipeline order, with its
    Spearman change against the plain conversion of the same attention type (points, positive = better) and its gap
    to the fine-tuned softmax model."""
    softmax = models["softmax"]["stsb_minilm"] or {}
    levers = []
    for folder in sorted(runs_dir.glob("lever-*")):
        described, entry = _read_json(folder / "lever.json"), stsb_entry(folder)
        if described is None or entry is None:
            continue
        plain = (models.get(entry["attention_type"]) or {}).get("stsb_minilm") or {}
        name = folder.name[len("lever-"):]
        conversion = _read_json(runs_dir / name / "conversion_results.json") if name.startswith("distilled-") else None
        levers.append({
            "name": name, "change": described.get("change"), "stage": described.get("stage", 0), **entry,
            "spearman_change_points": _gap_points(plain.get("spearman"), entry["spearman"]),
            "spearman_gap_to_softmax_points": _gap_points(entry["spearman"], softmax.get("spearman")),
            "conversion": conversion,
        })
    return sorted(levers, key=lambda lever: lever["stage"])


def _gap_points(value, reference):
    if value is None or reference is None or any(math.isnan(x) for x in (value, reference)):
        return None
    return 100.0 * (reference - value)  # positive: worse than softmax


def _target(gap, limit):
    if gap is None:
        return None
    return {"gap_points": gap, "limit_points": limit, "met": bool(gap <= limit),
            "missed_by_points": max(0.0, gap - limit)}


def collect(runs_dir, settings: dict | None = None, targets: dict | None = None) -> dict:
    """The evidence document of the run folders in ``runs_dir`` (see the module docstring), with the gaps checked
    against ``targets`` (see `load_targets`; default: DEFAULT_TARGETS)."""
    runs_dir = Path(runs_dir)
    targets = targets or load_targets(DEFAULT_TARGETS)
    models = {}
    for attention_type in ATTENTION_TYPES:
        models[attention_type] = {
            "mlm": mlm_entry(runs_dir, attention_type),
            "stsb_pretrained": stsb_entry(runs_dir / f"stsb-mlm-{attention_type}"),
            "stsb_minilm": stsb_entry(runs_dir / f"stsb-minilm-{attention_type}"),
        }
    base = models["softmax"]
    for attention_type, entry in models.items():
        gaps = {}
        if entry["mlm"] and base["mlm"]:
            gaps["mlm_accuracy_points"] = _gap_points(entry["mlm"]["accuracy"], base["mlm"]["accuracy"])
        for key in ("stsb_pretrained", "stsb_minilm"):
            if entry[key] and base[key]:
                gaps[f"{key}_spearman_points"] = _gap_points(entry[key]["spearman"], base[key]["spearman"])
        entry["gaps_vs_softmax"] = gaps
    targeted_gaps = models[targets["attention_type"]]["gaps_vs_softmax"]
    levers = lever_entries(runs_dir, models)
    stsb_runs = [e[k] for e in models.values() for k in ("stsb_pretrained", "stsb_minilm") if e[k]] + levers
    checks = [run["forms_agree"] for run in stsb_runs if run["forms_agree"] is not None]  # softmax: none
    diffs = [e["mlm"].get("max_form_diff") for e in models.values() if e["mlm"]] \
        + [run["max_abs_logit_diff"] for run in stsb_runs]
    diffs = [diff for diff in diffs if diff is not None]
    return {
        "machine": machine_info(),
        "settings": settings or {},
        "models": models,
        "target_limits": targets,
        "targets": {name: _target(targeted_gaps.get(f"{name}_points"), limit)
                    for name, limit in targets["max_gap_points"].items()},
        "levers": levers,
        "forms_agree": {"max_difference": max(diffs) if diffs else None,
                        "stsb_runs_checked": len(checks), "stsb_runs_agree": sum(checks)},
    }


def _f(value, digits=4, scale=1.0):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * scale:.{digits}f}"


def _e(value):
    return "-" if value is None else f"{value:.1e}"


def _gap_cell(evidence, attention_type, name):
    """The gap ``name`` of ``attention_type`` in points, with its target where the targets cover it."""
    gap = evidence["models"][attention_type]["gaps_vs_softmax"].get(f"{name}_points")
    if gap is None or attention_type == "softmax":
        return "-"
    text = f"{gap:+.2f}"
    limits = evidence["target_limits"]
    if attention_type == limits["attention_type"] and name in limits["max_gap_points"]:
        limit = limits["max_gap_points"][name]
        text += f" ({'met' if gap <= limit else f'MISSED by {gap - limit:.2f}'}, target <= {limit:g})"
    return text


def _stsb_cells(run: dict) -> str:
    """The cells Pearson | Spearman | form | forms agree of a `stsb_entry` ({} for a missing run)."""
    agree = "-" if run.get("forms_agree") is None else (
        f"{'yes' if run['forms_agree'] else 'NO'} vs {run['other_form']} "
        f"({_e(run['max_abs_logit_diff'])}, {run['form_check_samples']})")
    return f"{_f(run.get('pearson'))} | {_f(run.get('spearman'))} | {run.get('eval_form') or '-'} | {agree}"


def to_markdown(evidence: dict) -> str:
    m, s = evidence["machine"], evidence["settings"]
    lines = ["# Evidence: softmax vs LION-LIT / LION-D / LION-S", ""]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch {m['torch']}, "
                 f"transformers {m['transformers']}, Python {m['python']}.")
    if s:
        lines.append("Settings: " + ", ".join(f"{k} = {v}" for k, v in s.items()) + ".")
    lines.append("")
    limits = evidence["target_limits"]
    lines.append("Gaps are softmax minus the model, in points (x100); positive = worse than softmax. Targets "
                 f"({limits['source']}), largest gaps of {LABELS[limits['attention_type']]}: " + ", ".join(
                     f"{GAP_NAMES[name]} {points:g} point{'s' * (points != 1)}"
                     for name, points in limits["max_gap_points"].items()) + ".")
    lines.append("STS-B scores are those of the evaluation form (form); forms agree: its predictions against the other "
                 "LION form's on the checked dev pairs (largest logit difference, pairs).")
    lines += ["", "## Pretrained from scratch (MLM), then fine-tuned on STS-B", ""]
    lines.append("| model | MLM acc (parallel) | MLM acc (recurrent) | eval loss | train tokens/s | MLM max diff "
                 "between forms | STS-B Pearson | STS-B Spearman | form | forms agree | MLM acc gap | Spearman gap |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|")
    for t in ATTENTION_TYPES:
        e = evidence["models"][t]
        mlm, st = e["mlm"] or {}, e["stsb_pretrained"] or {}
        lines.append(
            f"| {LABELS[t]} | {_f(mlm.get('accuracy'))} | {_f(mlm.get('accuracy_recurrent'))} | "
            f"{_f(mlm.get('eval_loss'))} | {_f(mlm.get('train_tokens_per_second'), 0)} | "
            f"{_e(mlm.get('max_form_diff'))} | {_stsb_cells(st)} | "
            f"{_gap_cell(evidence, t, 'mlm_accuracy')} | {_gap_cell(evidence, t, 'stsb_pretrained_spearman')} |"
        )
    lines += ["", "## all-MiniLM-L6-v2 converted, fine-tuned on STS-B", ""]
    lines.append("| model | STS-B Pearson | STS-B Spearman | form | forms agree | dev pairs | Spearman gap |")
    lines.append("|---|---:|---:|---|---|---:|---|")
    for t in ATTENTION_TYPES:
        st = evidence["models"][t]["stsb_minilm"] or {}
        lines.append(f"| {LABELS[t]} | {_stsb_cells(st)} | {st.get('num_samples', '-')} | "
                     f"{_gap_cell(evidence, t, 'stsb_minilm_spearman')} |")
    levers = evidence.get("levers") or []
    if levers:
        lines += ["", "## Levers on the converted model (one change each; same recipe otherwise)", ""]
        lines.append("| lever | model | positions | change | STS-B Pearson | STS-B Spearman | form | forms agree | "
                     "Spearman change vs plain conversion | Spearman gap to softmax |")
        lines.append("|---|---|---|---|---:|---:|---|---|---:|---:|")
        for lever in levers:
            conversion = lever.get("conversion")
            change = lever["change"]
            if conversion:
                before, after = conversion["errors_before"], conversion["errors_after_model"]
                change += (f"; last hidden-state error {before['hidden_relative_error'][-1]:.3f} -> "
                           f"{after['hidden_relative_error'][-1]:.3f}")
            change_points = lever["spearman_change_points"]
            lines.append(
                f"| {lever['name']} | {LABELS.get(lever['attention_type'], lever['attention_type'])} | "
                f"{lever['position_embedding_type'] or '-'} | {change} | {_stsb_cells(lever)} | "
                f"{'-' if change_points is None else f'{change_points:+.2f}'} | "
                f"{_f(lever['spearman_gap_to_softmax_points'], 2)} |"
            )
    agree = evidence["forms_agree"]
    lines += ["", f"Between the forms of every LION model: largest difference {_e(agree['max_difference'])} (MLM: "
                  "accuracy and loss, parallel vs recurrent; STS-B: logits on the checked dev pairs); STS-B "
                  f"predictions agree within tolerance in {agree['stsb_runs_agree']} of {agree['stsb_runs_checked']} "
                  "checked runs.", ""]
    return "\n".join(lines)


def write(evidence: dict, out_dir) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evidence.json", out_dir / "evidence.md"
    for path, text in ((json_path, json.dumps(evidence, indent=2, sort_keys=False) + "\n"),
                       (md_path, to_markdown(evidence))):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return json_path, md_path


@dataclass
class EvidenceArguments:
    runs_dir: str = field(default="runs/evidence", metadata={"help": "the run folders (see above)"})
    out_dir: str = field(default="results", metadata={"help": "where evidence.json and evidence.md go"})
    setting: list[str] = field(default_factory=list, metadata={
        "help": "a setting for the header (repeatable: --setting a=1 --setting b=2), e.g. --setting mlm_steps=600",
        "action": "extend", "metavar": "KEY=VALUE"})
    targets: str = field(default=str(DEFAULT_TARGETS), metadata={
        "help": "JSON file of the targets (format: benchmarks/README.md; default: benchmarks/evidence_targets.json "
                "of this checkout)"})


def parse_args(argv=None) -> tuple[EvidenceArguments, dict]:
    """(EvidenceArguments, the targets of its --targets file) from a list of strings, or sys.argv; exits with a
    usage error for a flag it does not know or a targets file `load_targets` refuses. Each flag also takes dashes
    (--runs-dir); --setting adds to the earlier ones, each time it is given."""
    parser = HfArgumentParser(EvidenceArguments, description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    (args,) = parse_known_flags(parser, argv)
    try:
        return args, load_targets(args.targets)
    except (OSError, ValueError) as error:
        parser.error(f"--targets: {error}")


def main(argv=None):
    args, targets = parse_args(argv)
    settings = {}
    for item in args.setting:
        key, _, value = item.partition("=")
        settings[key.strip()] = value.strip()
    evidence = collect(args.runs_dir, settings, targets)
    json_path, md_path = write(evidence, args.out_dir)
    print(to_markdown(evidence))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return evidence


if __name__ == "__main__":
    main()
