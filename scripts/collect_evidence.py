#!/usr/bin/env python3
"""Collect the runs of scripts/reproduce_evidence.sh into one JSON file and one markdown table.

    python scripts/collect_evidence.py --runs_dir runs/evidence --out_dir results \\
        --setting mode=full --setting mlm_steps=600 --setting seed=42   # header lines, any KEY=VALUE

Reads, for each attention type (softmax, lion_lit, lion_d, lion_s), whichever of these run folders exist:

* ``mlm-<type>/``            run_mlm.py pretraining: eval_results.json (parallel form), train_results.json
* ``mlm-<type>-recurrent/``  run_mlm.py evaluation of the same model in the recurrent form: eval_results.json
* ``stsb-mlm-<type>/``       run_glue.py STS-B fine-tune of the pretrained model: eval_results.json (both forms)
* ``stsb-minilm-<type>/``    run_glue.py STS-B fine-tune of all-MiniLM-L6-v2 converted to <type>

and every ``lever-<name>/`` folder: one run_glue.py run (a fine-tune, or an evaluation) of the converted model with
one change, described by its ``lever.json`` ({"change": ..., "stage": ...}); with ``distilled-<type>/`` holding the
distilled conversion (conversion_results.json) that a ``lever-distilled-<type>`` run starts from,

and writes ``evidence.json`` (every number, the machine, the settings, the gaps vs softmax against the issue's
targets) and ``evidence.md`` (the tables) to --out_dir. Missing runs show as "-"; nothing is trained here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from lion_bert.machine import machine_info

ATTENTION_TYPES = ("softmax", "lion_lit", "lion_d", "lion_s")
LABELS = {"softmax": "softmax (BERT)", "lion_lit": "LION-LIT", "lion_d": "LION-D", "lion_s": "LION-S"}
# the targets: LION-S within 1.0 point of softmax in MLM accuracy, within 2 points of its STS-B Spearman
MLM_ACC_TARGET_POINTS = 1.0
STSB_SPEARMAN_TARGET_POINTS = 2.0


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
    results = _read_json(folder / "eval_results.json")
    if results is None:
        return None
    split = (results.get("splits") or {}).get("validation")
    if split is None:
        return None
    training_form, eval_form = results.get("training_form", "parallel"), results.get("eval_form", "recurrent")
    forms = split.get("forms", {})
    first = forms.get(training_form, {})
    second = forms.get(eval_form, first)
    agreement = split.get("agreement", {})
    return {
        "num_samples": split.get("num_samples"),
        "training_form": training_form,
        "eval_form": eval_form,
        "pearson": first.get("pearson"),
        "spearman": first.get("spearmanr"),
        "pearson_eval_form": second.get("pearson"),
        "spearman_eval_form": second.get("spearmanr"),
        "eval_runtime_s": first.get("runtime_s"),
        "eval_runtime_s_eval_form": second.get("runtime_s"),
        "max_abs_logit_diff": agreement.get("max_abs_logit_diff"),
        "forms_agree": agreement.get("predictions_agree"),
        "train_runtime_s": (results.get("train") or {}).get("train_runtime"),
        "train_steps": (results.get("train") or {}).get("global_step"),
    }


def lever_entries(runs_dir: Path, models: dict) -> list[dict]:
    """Every lever-<name>/ run, in pipeline order, with its Spearman change against the plain conversion of the same
    attention type (points, positive = better) and its gap to the fine-tuned softmax model."""
    softmax = models["softmax"]["stsb_minilm"] or {}
    levers = []
    for folder in sorted(runs_dir.glob("lever-*")):
        described, entry = _read_json(folder / "lever.json"), stsb_entry(folder)
        results = _read_json(folder / "eval_results.json") or {}
        if described is None or entry is None:
            continue
        attention_type = results.get("attention_type")
        plain = (models.get(attention_type) or {}).get("stsb_minilm") or {}
        name = folder.name[len("lever-"):]
        conversion = _read_json(runs_dir / name / "conversion_results.json") if name.startswith("distilled-") else None
        levers.append({
            "name": name, "change": described.get("change"), "stage": described.get("stage", 0),
            "attention_type": attention_type, **entry,
            "spearman_change_points": _gap_points(plain.get("spearman"), entry["spearman"]),
            "spearman_gap_to_softmax_points": _gap_points(entry["spearman"], softmax.get("spearman")),
            "conversion": conversion,
        })
    return sorted(levers, key=lambda lever: lever["stage"])


def _gap_points(value, reference):
    if value is None or reference is None or any(math.isnan(x) for x in (value, reference)):
        return None
    return 100.0 * (reference - value)  # positive: worse than softmax


def _target(gap, limit, attention_type):
    if attention_type != "lion_s" or gap is None:
        return None
    return {"gap_points": gap, "limit_points": limit, "met": bool(gap <= limit),
            "missed_by_points": max(0.0, gap - limit)}


def collect(runs_dir, settings: dict | None = None) -> dict:
    runs_dir = Path(runs_dir)
    models = {}
    for attention_type in ATTENTION_TYPES:
        models[attention_type] = {
            "mlm": mlm_entry(runs_dir, attention_type),
            "stsb_pretrained": stsb_entry(runs_dir / f"stsb-mlm-{attention_type}"),
            "stsb_minilm": stsb_entry(runs_dir / f"stsb-minilm-{attention_type}"),
        }
    base = models["softmax"]
    targets = {}
    for attention_type, entry in models.items():
        gaps = {}
        if entry["mlm"] and base["mlm"]:
            gaps["mlm_accuracy_points"] = _gap_points(entry["mlm"]["accuracy"], base["mlm"]["accuracy"])
        for key in ("stsb_pretrained", "stsb_minilm"):
            if entry[key] and base[key]:
                gaps[f"{key}_spearman_points"] = _gap_points(entry[key]["spearman"], base[key]["spearman"])
        entry["gaps_vs_softmax"] = gaps
        if attention_type == "lion_s":
            targets = {
                "mlm_accuracy": _target(gaps.get("mlm_accuracy_points"), MLM_ACC_TARGET_POINTS, attention_type),
                "stsb_pretrained_spearman": _target(gaps.get("stsb_pretrained_spearman_points"),
                                                    STSB_SPEARMAN_TARGET_POINTS, attention_type),
                "stsb_minilm_spearman": _target(gaps.get("stsb_minilm_spearman_points"),
                                                STSB_SPEARMAN_TARGET_POINTS, attention_type),
            }
    lion_diffs = [v for t, e in models.items() if t != "softmax"
                  for v in ([e["mlm"].get("max_form_diff")] if e["mlm"] else [])
                  + [e[k]["max_abs_logit_diff"] for k in ("stsb_pretrained", "stsb_minilm") if e[k]]
                  if v is not None]
    levers = lever_entries(runs_dir, models)
    lion_diffs += [lever["max_abs_logit_diff"] for lever in levers if lever["max_abs_logit_diff"] is not None]
    return {
        "machine": machine_info(),
        "settings": settings or {},
        "models": models,
        "targets": targets,
        "levers": levers,
        "forms_agree": {"max_difference": max(lion_diffs) if lion_diffs else None,
                        "all_stsb_agree": all(e[k]["forms_agree"] for t, e in models.items() if t != "softmax"
                                              for k in ("stsb_pretrained", "stsb_minilm") if e[k])
                        and all(lever["forms_agree"] is not False for lever in levers)},
    }


def _f(value, digits=4, scale=1.0):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * scale:.{digits}f}"


def _e(value):
    return "-" if value is None else f"{value:.1e}"


def _gap_cell(gap, attention_type, limit):
    if gap is None or attention_type == "softmax":
        return "-"
    text = f"{gap:+.2f}"
    if attention_type == "lion_s":
        text += f" ({'met' if gap <= limit else f'MISSED by {gap - limit:.2f}'}, target <= {limit:g})"
    return text


def to_markdown(evidence: dict) -> str:
    m, s = evidence["machine"], evidence["settings"]
    lines = ["# Evidence: softmax vs LION-LIT / LION-D / LION-S", ""]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch {m['torch']}, "
                 f"transformers {m['transformers']}, Python {m['python']}.")
    if s:
        lines.append("Settings: " + ", ".join(f"{k} = {v}" for k, v in s.items()) + ".")
    lines.append("")
    lines.append("Gaps are softmax minus the model, in points (x100); positive = worse than softmax. Targets (issue 7): "
                 f"LION-S within {MLM_ACC_TARGET_POINTS:g} point of softmax in MLM accuracy and within "
                 f"{STSB_SPEARMAN_TARGET_POINTS:g} points of its STS-B Spearman.")
    lines += ["", "## Pretrained from scratch (MLM), then fine-tuned on STS-B", ""]
    lines.append("| model | MLM acc (parallel) | MLM acc (recurrent) | eval loss | train tokens/s | STS-B Pearson "
                 "(par / rec) | STS-B Spearman (par / rec) | max diff between forms | MLM acc gap | Spearman gap |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for t in ATTENTION_TYPES:
        e = evidence["models"][t]
        mlm, st = e["mlm"] or {}, e["stsb_pretrained"] or {}
        diffs = [v for v in (mlm.get("max_form_diff"), st.get("max_abs_logit_diff")) if v is not None]
        lines.append(
            f"| {LABELS[t]} | {_f(mlm.get('accuracy'))} | {_f(mlm.get('accuracy_recurrent'))} | "
            f"{_f(mlm.get('eval_loss'))} | {_f(mlm.get('train_tokens_per_second'), 0)} | "
            f"{_f(st.get('pearson'))} / {_f(st.get('pearson_eval_form'))} | "
            f"{_f(st.get('spearman'))} / {_f(st.get('spearman_eval_form'))} | "
            f"{_e(max(diffs)) if diffs and t != 'softmax' else '-'} | "
            f"{_gap_cell(e['gaps_vs_softmax'].get('mlm_accuracy_points'), t, MLM_ACC_TARGET_POINTS)} | "
            f"{_gap_cell(e['gaps_vs_softmax'].get('stsb_pretrained_spearman_points'), t, STSB_SPEARMAN_TARGET_POINTS)} |"
        )
    lines += ["", "## all-MiniLM-L6-v2 converted, fine-tuned on STS-B", ""]
    lines.append("| model | STS-B Pearson (par / rec) | STS-B Spearman (par / rec) | max logit diff between forms | "
                 "dev pairs | Spearman gap |")
    lines.append("|---|---:|---:|---:|---:|---|")
    for t in ATTENTION_TYPES:
        e = evidence["models"][t]
        st = e["stsb_minilm"] or {}
        lines.append(
            f"| {LABELS[t]} | {_f(st.get('pearson'))} / {_f(st.get('pearson_eval_form'))} | "
            f"{_f(st.get('spearman'))} / {_f(st.get('spearman_eval_form'))} | "
            f"{_e(st.get('max_abs_logit_diff')) if t != 'softmax' else '-'} | {st.get('num_samples', '-')} | "
            f"{_gap_cell(e['gaps_vs_softmax'].get('stsb_minilm_spearman_points'), t, STSB_SPEARMAN_TARGET_POINTS)} |"
        )
    levers = evidence.get("levers") or []
    if levers:
        lines += ["", "## Levers on the converted model (one change each; same recipe otherwise)", ""]
        lines.append("| lever | model | change | STS-B Pearson | STS-B Spearman (first / second form) | Spearman change "
                     "vs plain conversion | Spearman gap to softmax |")
        lines.append("|---|---|---|---:|---:|---:|---:|")
        for lever in levers:
            forms = f"{lever['training_form']} / {lever['eval_form']}"
            conversion = lever.get("conversion")
            change = lever["change"]
            if conversion:
                before, after = conversion["errors_before"], conversion["errors_after_model"]
                change += (f"; last hidden-state error {before['hidden_relative_error'][-1]:.3f} -> "
                           f"{after['hidden_relative_error'][-1]:.3f}")
            change_points = lever["spearman_change_points"]
            lines.append(
                f"| {lever['name']} | {LABELS.get(lever['attention_type'], lever['attention_type'])} | {change} | "
                f"{_f(lever['pearson'])} | {_f(lever['spearman'])} / {_f(lever['spearman_eval_form'])} ({forms}) | "
                f"{'-' if change_points is None else f'{change_points:+.2f}'} | "
                f"{_f(lever['spearman_gap_to_softmax_points'], 2)} |"
            )
    agree = evidence["forms_agree"]
    lines += ["", f"Parallel vs recurrent form, every LION model: largest difference {_e(agree['max_difference'])} "
                  f"(MLM: accuracy and loss; STS-B: logits); STS-B predictions agree within tolerance: "
                  f"{'yes' if agree['all_stsb_agree'] else 'NO'}.", ""]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs_dir", default="runs/evidence")
    p.add_argument("--out_dir", default="results")
    p.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for the header (repeatable), e.g. --setting mlm_steps=600")
    args = p.parse_args(argv)
    settings = {}
    for item in args.setting:
        key, _, value = item.partition("=")
        settings[key.strip()] = value.strip()
    evidence = collect(args.runs_dir, settings)
    json_path, md_path = write(evidence, args.out_dir)
    print(to_markdown(evidence))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return evidence


if __name__ == "__main__":
    main()
