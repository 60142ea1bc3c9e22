"""The report of the model-level benchmark (scripts/benchmark.py): its records, the check of its targets, and the
markdown and the plot it writes.

A report is the dict the script writes as benchmark.json: "machine", "config" (dims, lengths, variants, ...),
"matmul", "duration", "probes", and one record per case and length in "training" and "inference" (model, mode,
feature_map, compiled, label, length, status, and where it ran: "ms", "flops", "gflops", "matmul_fraction", the
ratio against BERT, the peak RSS growth in MiB, and for a compiled case "compile_seconds" and "compiled_vs_eager"),
then "best_vs_bert" and "targets", which this module derives from the records.

Hedgehog rows (learned feature map) and compiled rows (torch.compile) stand beside the fixed-map eager rows in every
table, each with its ratio to BERT: a hedgehog row against eager BERT, a compiled row against compiled BERT (both
sides compiled); the torch.compile section puts each compiled row beside its eager twin (compiled / eager, compile
time). "best_vs_bert" and the targets read the fixed-map eager rows only, unless a target names another
"feature_map" or "compiled": true.

Targets are data (benchmarks/targets.json, described in benchmarks/README.md): which kinds, at which lengths, with
which limit per LION variant. What each kind measures is here (`TARGET_MEASURES`); `check_targets` marks every
target and variant met, missed or not measured, so that a run never silently passes a target it did not measure.
Times are ms, memory MiB (2^20 bytes) unless a target's limit says GB (10^9 bytes).
"""

from __future__ import annotations

import json
from pathlib import Path

from .benchmark_plan import EXTRA_ROW_FORMS, INFERENCE_WARMUP_TOKENS, LABELS, TRAIN_WARMUP_DIVISOR, Case, case_label
from .benchmark_plan import extra_forms_text
from .benchmarking import BERT, BERT_BASE_DIMS, FEATURE_MAP_CHOICES, FIXED, LION_VARIANTS, MATMUL_SIZE, MIB, duration
from .benchmarking import markdown_table, number, time_cell


GB = 1e9  # the memory targets are in GB, as the claims they come from
RATIO_VS_BERT = {"training": "ratio_vs_bert", "inference": "speedup_vs_bert"}  # ms / BERT's, BERT's / ms


# ----------------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------------


def case_of(record) -> Case:
    """The case of a record (a record without "feature_map" or "compiled", as older reports: fixed, eager)."""
    return Case(record["model"], record["mode"], record.get("feature_map", FIXED), record.get("compiled", False))


def selected(record, feature_map=FIXED, compiled=False) -> bool:
    """Whether ``record`` ran with ``feature_map`` and ``compiled`` (by default: a fixed-map eager row)."""
    return case_of(record)[2:] == (feature_map, compiled)


def measured_of(records, length, model, feature_map=FIXED, compiled=False):
    """The successful records of ``model`` at L among ``records`` that ran with ``feature_map`` and ``compiled``."""
    return [r for r in records if r["length"] == length and r["model"] == model and r["status"] == "ok"
            and selected(r, feature_map, compiled)]


def measured_record(phase, case, length, flops, result, records, **fields):
    """The record of one case (a `Case`) at length L: its ``result`` (a child's, or a skip), ``fields``, its
    ``flops`` and GFLOP/s, and its time against BERT's at the same L among the phase's ``records`` so far (BERT runs
    first; a compiled case's BERT is compiled BERT): ``RATIO_VS_BERT[phase]``, < 1 is faster in training, > 1 is
    faster at inference; a compiled case's "compiled_vs_eager" is its time over its eager twin's (< 1: compiling
    wins; the twin runs before it)."""
    case = Case(*case)
    record = {"model": case.model, "mode": case.mode, "feature_map": case.feature_map, "compiled": case.compiled,
              "label": case_label(*case), "length": length, **fields, "flops": flops, **result}
    if record["status"] == "ok":
        record["gflops"] = flops / record["ms"] / 1e6
        bert = measured_of(records, length, BERT, compiled=case.compiled)
        if case.model != BERT and bert:
            ratio = record["ms"] / bert[0]["ms"]
            record[RATIO_VS_BERT[phase]] = ratio if phase == "training" else 1 / ratio
        eager = [r for r in measured_of(records, length, case.model, case.feature_map) if r["mode"] == case.mode]
        if case.compiled and eager:
            record["compiled_vs_eager"] = record["ms"] / eager[0]["ms"]
    return record


def progress_text(phase, record):
    """'LION-S chunk: 12.3 ms, peak +4.56 MiB, 1.23x vs BERT': one record in the script's progress line."""
    details = ""
    if phase == "inference" and record["status"] == "ok":
        details += f", peak +{number(record['peak_rss_growth_mib'])} MiB"
    if RATIO_VS_BERT[phase] in record:
        details += f", {record[RATIO_VS_BERT[phase]]:.2f}x " + ("BERT" if phase == "training" else "vs BERT")
    if "compiled_vs_eager" in record:
        details += f", {record['compiled_vs_eager']:.2f}x eager, compiled in {record['compile_seconds']:.1f} s"
    return f"{record['label']}: {time_cell(record, ' ms/step' if phase == 'training' else ' ms')}{details}"


def fastest(records, length, variant, feature_map=FIXED, compiled=False):
    """BERT's record at L (compiled where ``compiled``) and ``variant``'s fastest form among the records that ran
    with ``feature_map`` and ``compiled`` ({"mode", "ms", "speedup_vs_bert"}); None for either not measured."""
    bert = next(iter(measured_of(records, length, BERT, compiled=compiled)), None)
    measured = measured_of(records, length, variant, feature_map, compiled)
    if not measured:
        return bert, None
    best = min(measured, key=lambda r: r["ms"])
    return bert, {"mode": best["mode"], "ms": best["ms"], "speedup_vs_bert": bert["ms"] / best["ms"] if bert else None}


def best_vs_bert(report):
    """Per inference length: BERT's time and, per LION variant, its fastest form and the speedup over BERT, among
    the fixed-map eager rows (the hedgehog and compiled rows are in the tables beside them)."""
    rows = []
    for length in report["config"]["lengths"]:
        bests = {variant: fastest(report["inference"], length, variant) for variant in report["config"]["variants"]}
        bert = next(iter(measured_of(report["inference"], length, BERT)), None)
        rows.append({"length": length, "bert_ms": bert["ms"] if bert else None,
                     "variants": {variant: best for variant, (_, best) in bests.items() if best}})
    return rows


# ----------------------------------------------------------------------------------------------------------
# Targets: which ones, at which lengths and with which limits is the data of the targets file
# (benchmarks/README.md); here is what each kind of target measures
# ----------------------------------------------------------------------------------------------------------

TARGET_DESCRIPTIONS = {  # str.format templates over the target's fields, label, limit and limit_mib
    "train_ratio": "training step at L = {length}: {label} time <= {limit:.2f}x BERT's",
    "inference_speedup": "inference at L = {length}: best {label} form >= {limit}x faster than BERT",
    "recurrent_memory": "{label} recurrent inference: peak memory linear in L (growth ratio of the largest doubling "
                        "in [{doubling_range[0]}, {doubling_range[1]}]) and model + growth <= {limit:g} GB "
                        "({limit_mib:.0f} MiB) at L = {length}, " + f"{BERT_BASE_DIMS['layers']}-layer base model",
    "chunk_flop_rate": "{label} chunk-form inference >= {limit:.0%} of the matmul FLOP rate for L >= {min_length}",
    "recurrent_vs_chunk": "{label} recurrent-form inference within {limit:g}x the chunk form's time for L = "
                          "{min_length} ... {max_length}",
}
TARGET_FIELDS = {"train_ratio": ("length",), "inference_speedup": ("length",),
                 "recurrent_memory": ("length", "doubling_range"), "chunk_flop_rate": ("min_length",),
                 "recurrent_vs_chunk": ("min_length", "max_length")}


def load_targets(path):
    """The targets file: {"source": where the targets come from, "targets": [{"kind": a key of TARGET_FIELDS,
    "limits": {LION variant: limit}, the kind's TARGET_FIELDS, and optionally "feature_map" (one of
    FEATURE_MAP_CHOICES, default FIXED) and "compiled" (default false), the rows it reads}]}, with "file": ``path``
    added. Raises ValueError for what `check_targets` could not check (read it before measuring: a run must not end
    in a file it cannot check)."""
    targets = {"file": str(path), **json.loads(Path(path).read_text())}
    if not {"source", "targets"} <= set(targets):
        raise ValueError(f"{path}: needs the keys \"source\" and \"targets\"")
    for target in targets["targets"]:
        kind = target.get("kind")
        if kind not in TARGET_FIELDS:
            raise ValueError(f"{path}: unknown target kind {kind!r}, not one of {', '.join(TARGET_FIELDS)}")
        missing = [field for field in ("limits", *TARGET_FIELDS[kind]) if field not in target]
        unknown = sorted(set(target.get("limits", {})) - set(LION_VARIANTS))
        problems = [f"lacks {', '.join(missing)}"] * bool(missing)
        problems += [f"names unknown variants {', '.join(unknown)}"] * bool(unknown)
        problems += [f"has feature_map {target.get('feature_map')!r}, not one of {', '.join(FEATURE_MAP_CHOICES)}"
                     ] * (target.get("feature_map", FIXED) not in FEATURE_MAP_CHOICES)
        problems += ["has a compiled that is not true or false"] * (not isinstance(target.get("compiled", False), bool))
        if problems:
            raise ValueError(f"{path}: a {kind} target " + " and ".join(problems))
    return targets


def selection(target):
    """(feature map, compiled): which rows a target reads; by default the fixed-map eager rows."""
    return target.get("feature_map", FIXED), target.get("compiled", False)


def train_ratio(report, target, variant, limit):
    """The fastest training form's time over BERT's at the target's length (and the parallel form's beside)."""
    rows = [r for r in measured_of(report["training"], target["length"], variant, *selection(target))
            if "ratio_vs_bert" in r]
    if not rows:
        return {"note": f"no training measurement of {LABELS[variant]} and BERT at L = {target['length']}"}
    best = min(rows, key=lambda r: r["ratio_vs_bert"])
    parallel = next((r for r in rows if r["mode"] == "parallel"), None)
    measured = f"{best['ratio_vs_bert']:.2f}x ({best['mode']})"
    if parallel is not None and parallel is not best:
        measured += f"; parallel {parallel['ratio_vs_bert']:.2f}x"
    return {"value": best["ratio_vs_bert"], "measured": measured, "met": best["ratio_vs_bert"] <= limit}


def inference_speedup(report, target, variant, limit):
    """The fastest inference form's speedup over BERT at the target's length."""
    _, best = fastest(report["inference"], target["length"], variant, *selection(target))
    if not best or best["speedup_vs_bert"] is None:
        return {"note": f"BERT or {LABELS[variant]} not measured at L = {target['length']}"}
    value = best["speedup_vs_bert"]
    return {"value": value, "measured": f"{value:.2f}x ({best['mode']})", "met": value >= limit}


def recurrent_memory(report, target, variant, limit):
    """Model + peak RSS growth (MiB) of the recurrent form at the target's length (limit in GB), and linear growth:
    the growth ratio from half that length within the target's doubling_range."""
    rows = {r["length"]: r for r in report["inference"] if r["model"] == variant and r["mode"] == "recurrent"
            and r["status"] == "ok" and selected(r, *selection(target))}
    ratios = {length: rows[length]["peak_rss_growth_mib"] / max(rows[length // 2]["peak_rss_growth_mib"], 1e-9)
              for length in sorted(rows) if length // 2 in rows and length % 2 == 0}
    top = rows.get(target["length"])
    if top is None or target["length"] not in ratios:
        return {"note": f"recurrent form not measured at L = {target['length']} and half of it"}
    total = top["model_mib"] + top["peak_rss_growth_mib"]
    low, high = target["doubling_range"]
    measured = (f"{number(total)} MiB (model {number(top['model_mib'])} + growth {number(top['peak_rss_growth_mib'])})"
                "; growth x" + ", x".join(f"{r:.2f}" for r in ratios.values()) + " per doubling")
    note = "" if report["config"]["dims"] == BERT_BASE_DIMS else (
        f"this run's model is not the {BERT_BASE_DIMS['layers']}-layer base model (its weights are smaller)")
    return {"value": total, "measured": measured, "note": note,
            "met": low <= ratios[target["length"]] <= high and total <= limit * GB / MIB}


def chunk_flop_rate(report, target, variant, limit):
    """The lowest fraction of the matmul FLOP rate of the chunk form at inference, over L >= min_length."""
    rows = [r for r in report["inference"] if r["model"] == variant and r["mode"] == "chunk"
            and r["length"] >= target["min_length"] and r["status"] == "ok" and selected(r, *selection(target))]
    if not rows:
        return {"note": f"chunk form not measured at L >= {target['min_length']}"}
    worst = min(rows, key=lambda r: r["matmul_fraction"])
    measured = f"min {worst['matmul_fraction']:.1%} (L = {worst['length']}); " + ", ".join(
        f"{r['matmul_fraction']:.0%}" for r in rows)
    return {"value": worst["matmul_fraction"], "measured": measured, "met": worst["matmul_fraction"] >= limit}


def recurrent_vs_chunk(report, target, variant, limit):
    """The largest ratio of the recurrent form's inference time to the chunk form's, over the lengths in
    [min_length, max_length] where both ran; "not measured" unless both ran at both ends."""
    times = {}
    for r in report["inference"]:
        if (r["model"] == variant and r["mode"] in ("chunk", "recurrent") and r["status"] == "ok"
                and target["min_length"] <= r["length"] <= target["max_length"] and selected(r, *selection(target))):
            times.setdefault(r["length"], {})[r["mode"]] = r["ms"]
    ratios = {length: pair["recurrent"] / pair["chunk"] for length, pair in sorted(times.items()) if len(pair) == 2}
    if not {target["min_length"], target["max_length"]} <= set(ratios):
        return {"note": f"chunk and recurrent forms not both measured at L = {target['min_length']} and "
                        f"{target['max_length']}"}
    worst = max(ratios, key=ratios.get)
    measured = f"max {ratios[worst]:.2f}x (L = {worst}); " + ", ".join(f"{r:.2f}x" for r in ratios.values())
    return {"value": ratios[worst], "measured": measured, "met": ratios[worst] <= limit}


TARGET_MEASURES = {"train_ratio": train_ratio, "inference_speedup": inference_speedup,
                   "recurrent_memory": recurrent_memory, "chunk_flop_rate": chunk_flop_rate,
                   "recurrent_vs_chunk": recurrent_vs_chunk}


def check_targets(report, targets):
    """One row per target and variant of ``targets`` (see `load_targets`): id, description, what was measured, the
    value compared with the limit, status (met, missed or not measured) and a note. A target that reads other rows
    than the fixed-map eager ones says which in its id and description ("_hedgehog_compiled", "(hedgehog,
    compiled)")."""
    results = []
    for target in targets["targets"]:
        kind, (feature_map, compiled) = target["kind"], selection(target)
        rows = [feature_map] * (feature_map != FIXED) + ["compiled"] * compiled
        for variant, limit in target["limits"].items():
            found = {"note": "variant not run"}
            if variant in report["config"]["variants"]:
                found = TARGET_MEASURES[kind](report, target, variant, limit)
            met = found.get("met")
            results.append({
                "id": "_".join([kind, *([str(target["length"])] if "length" in target else []), variant, *rows]),
                "description": TARGET_DESCRIPTIONS[kind].format(**target, label=LABELS[variant], limit=limit,
                                                                limit_mib=limit * GB / MIB)
                + (f" ({', '.join(rows)})" if rows else ""),
                "measured": found.get("measured", "-"), "value": found.get("value"),
                "status": "not measured" if met is None else "met" if met else "missed", "note": found.get("note", ""),
            })
    return results


def measured_text(target):
    return target["measured"] + (f" ({target['note']})" if target["note"] else "")


def targets_text(report):
    """One line per checked target, its status first: the summary the script prints at the end of a run."""
    width = max(len(t["status"]) for t in report["targets"])
    return "\n".join(f"{t['status']:<{width}}  {t['description']}: {measured_text(t)}" for t in report["targets"])


# ----------------------------------------------------------------------------------------------------------
# Markdown and plot
# ----------------------------------------------------------------------------------------------------------


def layers_text(dims):
    return f"{dims['layers']} layer" + ("s" if dims["layers"] != 1 else "")


def percent(record):
    return f"{100 * record['matmul_fraction']:.1f}%" if "matmul_fraction" in record else "-"


def extra_rows_text(config):
    """What the hedgehog and compiled rows of a run are (see the module docstring); "" where it has none."""
    forms = "in " + extra_forms_text(config.get("extra_row_forms", EXTRA_ROW_FORMS))
    texts = []
    if any(feature_map != FIXED for feature_map in config.get("feature_maps", [FIXED])):
        texts.append(f"Hedgehog rows: the LION variant with the learned hedgehog feature map (feature_map_size = head "
                     f"dim: twice the features of a fixed map per query and key), {forms}; vs BERT against eager "
                     "BERT.")
    if config.get("compile"):
        texts.append(f"Compiled rows: the same model through torch.compile (inductor, default options), {forms}, "
                     "and BERT; compiled by a warm-up call on the timed shapes, outside the timed calls; vs BERT "
                     "against compiled BERT. The torch.compile section puts them beside their eager twins.")
    return " ".join(texts)


def compiled_table(report):
    """The rows of the torch.compile section: each compiled record beside its eager twin's time."""
    rows = []
    for phase in ("training", "inference"):
        for record in (r for r in report[phase] if r.get("compiled")):
            eager = next((r for r in report[phase] if r["length"] == record["length"]
                          and case_of(r) == case_of(record).eager), None)
            rows.append([phase, str(record["length"]), record["label"], time_cell(eager) if eager else "-",
                         time_cell(record), f"{record['compiled_vs_eager']:.2f}x" if "compiled_vs_eager" in record
                         else "-", number(record["compile_seconds"]) if "compile_seconds" in record else "-"])
    return rows


def render_markdown(report):
    """benchmark.md: the setup, the targets table, the training and the inference tables, then (with compiled rows)
    the torch.compile section."""
    machine, config = report["machine"], report["config"]
    dims = config["dims"]
    base = "BERT-base dimensions" if dims == BERT_BASE_DIMS else f"not BERT-base ({BERT_BASE_DIMS['layers']} layers)"
    sections = [
        "# LionBert model benchmark",
        f"Machine: {machine['cpu']}, {machine['torch_threads']} torch threads, torch {machine['torch']}, "
        f"{machine['platform']}, Python {machine['python']}.",
        f"Models: {layers_text(dims)}, hidden {dims['hidden']}, {dims['heads']} heads, intermediate "
        f"{dims['intermediate']} ({base}), vocabulary {config['vocab_size']}, float32, random weights, dropout 0, no "
        f"pooler. BERT = transformers' BertModel with SDPA attention. Chunk size: "
        f"{config['chunk_size'] or 'the model default'} ({config['inference_chunk_size']} at inference, "
        f"{config['train_chunk_size']} in training). " + extra_rows_text(config),
        "Ratios (vs BERT, speedups, % matmul) hardly depend on the number of layers (every layer does the same work; "
        "only the embeddings and the optimizer's update of the embedding table do not scale with it), so a run with "
        "fewer layers gives the same ratios; absolute times scale with the layers, inference memory growth does not.",
        f"Matmul reference: {MATMUL_SIZE}x{MATMUL_SIZE}x{MATMUL_SIZE} float32 at {report['matmul']['gflops']:.1f} "
        "GFLOP/s, the faster of two measurements in this run (before: "
        f"{report['matmul']['gflops_before_and_after'][0]:.1f}, after: "
        f"{report['matmul']['gflops_before_and_after'][1]:.1f}). % matmul = analytic FLOPs / time, over that rate "
        "(formulas in the JSON; training counts 3x the forward and its time includes the AdamW step).",
        f"Duration: {duration(report['duration']['seconds'])} (estimated before the run: "
        f"{duration(report['duration']['estimated_seconds'])}).",
        "## Targets",
        f"From {Path(config['targets']['file']).name}: {config['targets']['source']}.",
        markdown_table(["target", "measured", "status"],
                       [[t["description"], measured_text(t), t["status"]] for t in report["targets"]]),
    ]
    if report["training"]:
        sections += [
            "## Training step",
            f"Forward, backward and AdamW step, {config['train_tokens']} tokens per batch (batch = tokens // L). All "
            f"models of one L in one process, timed interleaved: median of {config['repeats']} rounds after one "
            f"warm-up step on batch // {TRAIN_WARMUP_DIVISOR}. vs BERT = this time / BERT's (< 1: faster). Step peak "
            "MiB = peak RSS growth during one step (activations and gradients). Micro-batches > 1: the batch did not "
            "fit in --max-memory-gib in one piece, so it ran in that many parts with the gradients accumulated (same "
            "FLOPs, one AdamW step).",
            markdown_table(
                ["L", "model / form", "batch", "micro-batches", "ms per step", "vs BERT", "% matmul", "step peak MiB"],
                [[str(r["length"]), r["label"], str(r["batch"]), str(r["micro_batches"]), time_cell(r),
                  f"{r['ratio_vs_bert']:.2f}x" if "ratio_vs_bert" in r else "-", percent(r),
                  number(r["step_peak_rss_growth_mib"]) if r["status"] == "ok" else "-"]
                 for r in report["training"]]),
        ]
    if report["inference"]:
        sections += [
            "## Inference",
            f"Batch 1, eval mode, inference_mode; one fresh process per row. ms = median of {config['repeats']} "
            f"forwards after one warm-up on min(L, {INFERENCE_WARMUP_TOKENS}) tokens. Peak MiB = growth of the peak "
            "RSS from after building the model and the input (at small L mostly fixed overhead); model MiB = the "
            "weights (4 bytes per parameter). vs BERT = BERT's time / this time (> 1: faster).",
            markdown_table(
                ["L", "model / form", "ms", "peak MiB", "model MiB", "vs BERT", "% matmul"],
                [[str(r["length"]), r["label"], time_cell(r),
                  number(r["peak_rss_growth_mib"]) if r["status"] == "ok" else "-", number(r["model_mib"]),
                  f"{r['speedup_vs_bert']:.2f}x" if "speedup_vs_bert" in r else "-", percent(r)]
                 for r in report["inference"]]),
            "### Best LION form vs BERT",
            "Fixed feature maps, eager: the rows the targets read.",
            markdown_table(
                ["L", "BERT ms"] + [LABELS[v] for v in config["variants"]],
                [[str(row["length"]), number(row["bert_ms"]) if row["bert_ms"] else "-"] +
                 [(f"{best['mode']} {number(best['ms'])} ms" +
                   (f", {best['speedup_vs_bert']:.2f}x" if best["speedup_vs_bert"] else "")) if best else "-"
                  for best in (row["variants"].get(v) for v in config["variants"])]
                 for row in report["best_vs_bert"]]),
        ]
    if compiled_table(report):
        sections += [
            "## torch.compile: compiled vs eager",
            "Each compiled row beside its eager twin (same model, feature map, form and L). compiled / eager < 1: "
            "compiling wins. Compile s = the warm-up call that compiles, minus the median call (inductor's on-disk "
            "caches stay on: a rerun compiles faster). The eager rows are measured as in a run without --compile. "
            "A compiled row's inference peak MiB is the growth from after that warm-up (a forward on all L tokens), "
            "so it lacks the fixed overhead of a first forward that an eager row's includes.",
            markdown_table(["phase", "L", "model / form", "eager ms", "compiled ms", "compiled / eager", "compile s"],
                           compiled_table(report)),
        ]
    return "\n\n".join(sections) + "\n"


def plan_table(rows):
    """The markdown table of ``--estimate-only``: one row per planned case (see the script's estimate_duration)."""
    return markdown_table(["phase", "L", "model / form", "est. seconds", "est. MiB", "skip or note"],
                          [[row["phase"], str(row["length"]), row["label"], number(row["seconds"]),
                            number(row["mib"]), row["skip"] or row["note"]] for row in rows])


def plot(report, path):
    """benchmark.png at ``path``: two log-log panels, inference time (ms) and peak RSS growth (MiB) vs L, one line
    per model/form."""
    import matplotlib  # here: the package imports without matplotlib, which only the report needs

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(13, 5))
    for label in dict.fromkeys(r["label"] for r in report["inference"]):
        rows = [r for r in report["inference"] if r["label"] == label and r["status"] == "ok"]
        if not rows:
            continue
        case = case_of(rows[0])  # hedgehog: dash-dot; compiled: triangles (and BERT dashed)
        style = {"color": "black", "linewidth": 2.5, "linestyle": "--" if case.compiled else "-"}
        if case.model != BERT:
            style = {"linestyle": "-." if case.feature_map != FIXED else
                     {"parallel": ":", "chunk": "-", "recurrent": "--"}[case.mode],
                     "color": {"lion_lit": "tab:blue", "lion_d": "tab:orange", "lion_s": "tab:green"}[case.model]}
        style.update(marker="^" if case.compiled else "o", label=label)
        lengths = [r["length"] for r in rows]
        time_axes.plot(lengths, [r["ms"] for r in rows], **style)
        # a growth of 0 MiB has no place on a log axis
        memory_axes.plot(lengths, [max(r["peak_rss_growth_mib"], 1e-2) for r in rows], **style)
    dims = report["config"]["dims"]
    lengths = report["config"]["lengths"]
    for axes, ylabel, title in ((time_axes, "ms per forward (median)", "Inference time"),
                                (memory_axes, "peak RSS growth, MiB", "Inference peak memory")):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xticks(lengths, [str(length) for length in lengths])
        axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        axes.set_xlabel("sequence length L (batch 1)")
        axes.set_ylabel(ylabel)
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
    if time_axes.get_lines():
        time_axes.legend(fontsize=8)
    else:
        time_axes.text(0.5, 0.5, "no inference measurements", ha="center", transform=time_axes.transAxes)
    machine = report["machine"]
    figure.suptitle(f"LionBert vs BERT (SDPA), {layers_text(dims)}, hidden {dims['hidden']}: {machine['cpu']}, "
                    f"{machine['torch_threads']} threads, torch {machine['torch']}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(report, output_dir):
    """benchmark.json (every number), benchmark.md and benchmark.png in ``output_dir`` (created); returns the
    markdown and {"json", "md", "png": path}."""
    markdown = render_markdown(report)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / f"benchmark.{name}" for name in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    paths["md"].write_text(markdown)
    plot(report, paths["png"])
    return markdown, paths


__all__ = [
    "GB", "RATIO_VS_BERT", "TARGET_DESCRIPTIONS", "TARGET_FIELDS", "TARGET_MEASURES", "best_vs_bert", "case_of",
    "check_targets", "chunk_flop_rate", "compiled_table", "extra_rows_text", "fastest", "inference_speedup",
    "layers_text", "load_targets", "measured_of", "measured_record", "measured_text", "percent", "plan_table", "plot",
    "progress_text",
    "recurrent_memory", "render_markdown", "selected", "selection", "targets_text", "train_ratio", "write_report",
]
