#!/usr/bin/env python3
"""Tables and plots of scripts/reproduce_conversion.sh: does conversion keep BERT's quality on STS-B?

    python scripts/collect_conversion.py --runs_dir runs/conversion --out_dir results/conversion

Reads the run folders (🤗's result files of run_glue.py: eval_results.json, predict_results.json, train_results.json,
form_agreement.json; conversion_results.json of convert_bert_to_lion.py; the stage times in OUT_DIR/logs) and writes
conversion.json (every number), conversion.md (the tables, with the machine), conversion.png (the fine-tuned runs'
test scores, when there are any) and conversion_layers.png (a task-free conversion's per-layer errors, when there is
one).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from transformers import HfArgumentParser

from lion_bert.cli import parse_known_flags
from lion_bert.machine import machine_info

matplotlib.use("Agg")  # files only, on machines without a display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

RECIPES = {  # recipe -> what was done
    "default": "run_glue.py's default for a BERT and a LION attention type (the task teacher): attention transfer "
               "from the fine-tuned softmax model, then the fine-tune distilled from it; LION-D and LION-S leave "
               "BERT's position embeddings out (inputs of any length)",
    "positions kept": "the same with BERT's learned positions kept (inputs of at most 512 tokens)",
}
RUN_SUFFIX = {"default": "", "positions kept": "-positions"}  # run folder: stsb-teacher-{variant}{suffix}
VARIANTS = {"lion_lit": "LION-LIT", "lion_d": "LION-D", "lion_s": "LION-S"}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def run_scores(folder: Path) -> dict | None:
    """Spearman and Pearson on the validation (dev) and test splits, the form agreement and the train time."""
    evaluation = _read(folder / "eval_results.json")
    if evaluation is None:
        return None
    test = _read(folder / "predict_results.json") or {}
    agreement = _read(folder / "form_agreement.json")
    return {
        "dev_spearman": evaluation.get("eval_spearmanr"), "dev_pearson": evaluation.get("eval_pearson"),
        "test_spearman": test.get("predict_spearmanr"), "test_pearson": test.get("predict_pearson"),
        "dev_samples": evaluation.get("eval_samples"), "test_samples": test.get("predict_samples"),
        "train_runtime_s": (_read(folder / "train_results.json") or {}).get("train_runtime"),
        "form_agreement": agreement,
    }


def _points(value, reference):
    return None if value is None or reference is None else round(100 * (reference - value), 2)


def collect(runs_dir: Path, logs_dir: Path, settings: list[str]) -> dict:
    softmax = run_scores(runs_dir / "stsb-softmax")
    rows = []
    for variant in VARIANTS:
        for recipe in RECIPES:
            name = f"stsb-teacher-{variant}{RUN_SUFFIX[recipe]}"
            scores = run_scores(runs_dir / name)
            if scores is None:
                continue
            rows.append({"variant": variant, "recipe": recipe, "run": name, **scores,
                         "dev_gap_points": _points(scores["dev_spearman"], (softmax or {}).get("dev_spearman")),
                         "test_gap_points": _points(scores["test_spearman"], (softmax or {}).get("test_spearman"))})
    conversions = {}
    for variant in VARIANTS:
        results = _read(runs_dir / f"convert-{variant}" / "conversion_results.json")
        if results is not None:
            conversions[variant] = {
                "zero_shot_sts_b": results.get("zero_shot_sts_b"),
                "attention_kl_before": results["errors_before"]["attention_kl"],
                "attention_kl_after": results.get("errors_after_model", results.get("errors_after_attention", {}))
                .get("attention_kl"),
                "hidden_error_before": results["errors_before"]["hidden_relative_error"],
                "hidden_error_after": results.get("errors_after_model", {}).get("hidden_relative_error"),
                "stages": {stage: {k: v for k, v in metrics.items() if k in ("steps", "train_runtime", "eval_loss",
                                                                            "eval_loss_before")}
                           for stage, metrics in results.get("stages", {}).items()},
            }
    times = {path.name.removesuffix(".time.json"): _read(path)["seconds"] for path in sorted(logs_dir.glob("*.time.json"))}
    agreements = [row["form_agreement"] for row in rows if row["form_agreement"]]
    return {
        "machine": machine_info(),
        "settings": settings, "softmax": softmax, "runs": rows, "conversions": conversions, "stage_seconds": times,
        "forms": {"max_abs_logit_diff": max((a["max_abs_logit_diff"] for a in agreements), default=None),
                  "all_agree": all(a["predictions_agree"] for a in agreements) if agreements else None},
    }


def _f(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def _fine_tune_lines(evidence: dict) -> list[str]:
    """The softmax baseline and the table of fine-tuned runs, as markdown lines."""
    softmax = evidence["softmax"] or {}
    lines = ["", f"Softmax baseline (the BERT fine-tuned with the same recipe, and the task teacher): Spearman "
             f"{_f(softmax.get('dev_spearman'))} on the validation set, {_f(softmax.get('test_spearman'))} on the test "
             "set. Gap = softmax minus the model, in points (positive = worse than softmax).", "",
             *[f"- {recipe}: {text}" for recipe, text in RECIPES.items()], "",
             "| model | recipe | dev Spearman | test Spearman | dev gap | test gap | forms agree (max logit diff) |",
             "|---|---|---:|---:|---:|---:|---|"]
    for row in evidence["runs"]:
        agreement = row["form_agreement"]
        forms = "-" if not agreement else \
            f"{'yes' if agreement['predictions_agree'] else 'NO'} ({agreement['max_abs_logit_diff']:.1e})"
        lines.append(f"| {VARIANTS[row['variant']]} | {row['recipe']} | {_f(row['dev_spearman'])} | "
                     f"{_f(row['test_spearman'])} | {_f(row['dev_gap_points'], 2)} | {_f(row['test_gap_points'], 2)} "
                     f"| {forms} |")
    return lines


def to_markdown(evidence: dict) -> str:
    lines = ["# Converting all-MiniLM-L6-v2 to LION: STS-B", "",
             "Produced by `scripts/reproduce_conversion.sh` (every number: `conversion.json`). Settings: "
             + "; ".join(evidence["settings"]) + "."]
    if evidence["runs"] or evidence["softmax"]:
        lines += _fine_tune_lines(evidence)
    if evidence["conversions"]:
        lines += ["", "## The distilled conversion alone (no task data)", "",
                  "| model | zero-shot STS-B dev Spearman (softmax) | attention KL per row, mean over layers | "
                  "last hidden-state relative error |", "|---|---:|---:|---:|"]
        for variant, entry in evidence["conversions"].items():
            sts = entry["zero_shot_sts_b"] or {}
            mean = lambda values: None if not values else sum(values) / len(values)  # noqa: E731
            lines.append(
                f"| {VARIANTS[variant]} | {_f(sts.get('student'))} ({_f(sts.get('teacher'))}) | "
                f"{_f(mean(entry['attention_kl_before']))} -> {_f(mean(entry['attention_kl_after']))} | "
                f"{_f(entry['hidden_error_before'][-1])} -> {_f((entry['hidden_error_after'] or [None])[-1])} |")
    if evidence["stage_seconds"]:
        lines += ["", "Wall time per stage (s): " + ", ".join(f"{k} {v}" for k, v in evidence["stage_seconds"].items())
                  + "."]
    machine = evidence["machine"]
    lines += ["", f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads, "
                  f"torch {machine['torch']}, transformers {machine['transformers']}, Python {machine['python']}.", ""]
    return "\n".join(lines)


def plot_layers(evidence: dict, path: Path):
    """Per layer, before and after the task-free conversion: the teacher-forced attention KL and the free-running
    hidden-state error, one line per converted variant."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (key, label) in zip(axes, [("attention_kl", "attention KL per row (nats)"),
                                         ("hidden_error", "hidden-state relative error")]):
        for variant, entry in evidence["conversions"].items():
            for when, style in (("before", ":"), ("after", "-")):
                values = entry[f"{key}_{when}"]
                if values:
                    axis.plot(range(1, len(values) + 1), values, style, marker="o",
                              label=f"{VARIANTS[variant]}, {when} distillation")
        axis.set_yscale("log")
        axis.set_xlabel("layer")
        axis.set_ylabel(label)
        axis.legend(fontsize=8)
    figure.suptitle("Converted without a task: fidelity to the softmax model on held-out Wikipedia")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot(evidence: dict, path: Path):
    recipes = [r for r in RECIPES if any(row["recipe"] == r for row in evidence["runs"])]
    figure, axis = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(recipes), 1)
    for i, recipe in enumerate(recipes):
        values = [next((row["test_spearman"] or 0 for row in evidence["runs"]
                        if row["variant"] == v and row["recipe"] == recipe), 0) for v in VARIANTS]
        axis.bar([x + i * width for x in range(len(VARIANTS))], values, width, label=recipe)
    softmax = (evidence["softmax"] or {}).get("test_spearman")
    if softmax is not None:
        axis.axhline(softmax, color="black", linestyle="--", label=f"softmax (same recipe) {softmax:.3f}")
    axis.set_xticks([x + width * (len(recipes) - 1) / 2 for x in range(len(VARIANTS))], list(VARIANTS.values()))
    axis.set_ylabel("STS-B test Spearman")
    axis.set_ylim(0, 1.1)
    axis.set_title("all-MiniLM-L6-v2 converted to LION, fine-tuned on STS-B")
    axis.legend(fontsize=8, loc="upper left", ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@dataclass
class CollectArguments:
    runs_dir: Path = field(metadata={"help": "the run folders of scripts/reproduce_conversion.sh"})
    out_dir: Path = field(metadata={
        "help": "where conversion.json, .md and the plots go; stage times are read from its logs/"})
    setting: list[str] = field(default_factory=list, metadata={
        "help": "a line for the settings (repeatable: --setting a --setting b)", "action": "extend"})


def parse_args(argv=None) -> CollectArguments:
    """CollectArguments from a list of strings, or sys.argv; exits with a usage error for a flag it does not know.
    Each flag also takes dashes (--runs-dir); --setting adds to the earlier ones, each time it is given."""
    parser = HfArgumentParser(CollectArguments, description=__doc__.split("\n\n")[0])
    (args,) = parse_known_flags(parser, argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    evidence = collect(args.runs_dir, args.out_dir / "logs", args.setting)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "conversion.json").write_text(json.dumps(evidence, indent=2) + "\n")
    (args.out_dir / "conversion.md").write_text(to_markdown(evidence))
    if evidence["runs"]:
        plot(evidence, args.out_dir / "conversion.png")
    if evidence["conversions"]:
        plot_layers(evidence, args.out_dir / "conversion_layers.png")
    print(to_markdown(evidence))
    return evidence


if __name__ == "__main__":
    main()
