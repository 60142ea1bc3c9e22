#!/usr/bin/env python
"""Benchmark the three forms of LION attention against torch's scaled_dot_product_attention on CPU.

For every sequence length L, every LION variant (lion_lit: no decay; lion_d: a fixed decay per head; lion_s: a
selective decay per token) and every form (parallel, chunk, recurrent) of
``lion_bert.lion_attention.lion_attention``, and for ``torch.nn.functional.scaled_dot_product_attention`` (SDPA)
on the same float32 (B, H, L, d) shapes, it measures:

* time: forward under ``torch.inference_mode()``, and forward+backward (inputs that require grad,
  ``out.sum().backward()``), with ``torch.utils.benchmark.Timer.blocked_autorange``: after a warm-up, replicates of
  one or more calls until they total ``--min-run-time`` seconds (one call where a call is longer); the time is the
  median ms per call over the replicates, reported with their interquartile range and count;
* peak memory, as the growth of the peak resident set size (ru_maxrss) of a fresh child process that runs only
  this case, from after building the inputs to after the forward runs (forward) and after the forward and the
  forward+backward runs (forward+backward); torch's CPU allocations are invisible to tracemalloc;
* the achieved FLOP rate of the forward pass (the analytic count of ``forward_flops`` over the forward time) as
  a fraction of the rate of a plain float32 2048 x 2048 x 2048 matmul measured in the same run.

A case that would clearly not fit in memory or would take longer than ``--max-seconds-per-case`` is skipped
with its estimate recorded (estimates: FLOPs at the matmul rate and the L x L score matrices as lower bounds,
raised to the last measured length of the same case scaled by L or L^2).

Output: a markdown table on stdout and in ``--output-md``, every number in ``--output-json``, one progress line
per case on stderr. The default run, L = 128 ... 16384 with B=1, H=12, d=64, takes roughly 10 minutes on a quiet
2-core CPU:

    python scripts/bench_attention.py
    python scripts/bench_attention.py --lengths 128 256 --min-run-time 0.05   # smoke run
"""

import inspect
import json
import sys
import time
from argparse import RawDescriptionHelpFormatter
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import HfArgumentParser

from lion_bert import benchmarking
from lion_bert.cli import parse_known_flags
from lion_bert.configuration_lion_bert import ATTENTION_VARIANTS
from lion_bert.lion_attention import ATTENTION_MODES, FEATURE_MAPS, lion_attention
from lion_bert.machine import machine_info

SDPA = "sdpa"  # the baseline's variant and mode
QUADRATIC_MODES = ("parallel", SDPA)  # time and memory grow as L^2 (others: as L)
PASSES = ("forward", "forward_backward")

# Lower bounds of a case's cost, before any measurement of it: see `estimate`.
BACKWARD_FLOP_FACTOR = 3  # forward+backward FLOPs of a chain of matmuls over its forward FLOPs
SCORE_MATRICES = {"forward": 1, "forward_backward": 2}  # L x L float32 tensors the parallel form holds at least
CHILD_TIMEOUT_FACTOR = 3  # a child is killed after this many times --max-seconds-per-case per pass, plus a minute


# ----------------------------------------------------------------------------------------------------------
# Cost model
# ----------------------------------------------------------------------------------------------------------


def forward_flops(variant, mode, batch, heads, length, head_dim, chunk_size):
    """Analytic FLOP count of one forward pass. A multiply-add is 2 FLOPs; exponentials, cumsums, feature maps
    and the final division are not counted. With BH = batch * heads, C = min(chunk_size, L) and one more FLOP
    per score for the decay mask product of lion_d and lion_s ([+ ...] below):

        sdpa:      4 BH L^2 d                          Q K^T and A V (the softmax is not counted)
        parallel:  4 BH L^2 d + BH L^2 [+ BH L^2]      Q K^T, A V, the row sums (the denominator)
        chunk:     4 BH L C d + BH L C [+ BH L C]      the parallel form inside each chunk
                   + 2 * (2 BH L d (d+1) + 2 BH L d (d+1))   per direction, state updates k v^T and reads q^T S
        recurrent: as chunk                            the same products, one block of C tokens at a time

    (d+1: the values carry a column of ones that gives the denominator.)
    """
    bh = batch * heads
    if mode == SDPA:
        return 4 * bh * length**2 * head_dim
    per_score = 1 + (variant != "lion_lit")
    states = 2 * (2 + 2) * bh * length * head_dim * (head_dim + 1)
    if mode == "parallel":
        return 4 * bh * length**2 * head_dim + per_score * bh * length**2
    if mode in ("chunk", "recurrent"):
        chunk = min(chunk_size, length)
        return 4 * bh * length * chunk * head_dim + per_score * bh * length * chunk + states
    raise ValueError(f"Unknown mode {mode!r}.")


def estimate(mode, pass_name, length, flops, lxl_bytes, matmul_rate, last_measured):
    """(seconds per run, peak MiB) of a pass: lower bounds (FLOPs at the matmul rate; the parallel form's L x L
    score matrices), raised to ``last_measured`` = (length,
    seconds, MiB) of the same case at a smaller length, scaled by L^2 for quadratic forms and by L otherwise.
    """
    seconds = flops * (BACKWARD_FLOP_FACTOR if pass_name == "forward_backward" else 1) / matmul_rate
    mib = SCORE_MATRICES[pass_name] * lxl_bytes / benchmarking.MIB if mode == "parallel" else 0.0
    if last_measured is not None:
        measured_length, measured_seconds, measured_mib = last_measured
        growth = (length / measured_length) ** (2 if mode in QUADRATIC_MODES else 1)
        seconds, mib = max(seconds, measured_seconds * growth), max(mib, measured_mib * growth)
    return seconds, mib


# ----------------------------------------------------------------------------------------------------------
# One case, in a child process
# ----------------------------------------------------------------------------------------------------------


def make_case(variant, mode, batch, heads, length, head_dim, chunk_size):
    """The case's (B, H, L, d) float32 inputs (leaf tensors that require grad; LION-D adds an (H,) log-decay, LION-S
    a (B, H, L) one) and the attention function to call on them."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, heads, length, head_dim, generator=generator) for _ in range(3))
    if mode == SDPA:
        inputs, attention = [q, k, v], F.scaled_dot_product_attention
    else:
        feature_map = FEATURE_MAPS[ATTENTION_VARIANTS[variant].feature_map]
        inputs = [feature_map(q), feature_map(k), v]
        if variant == "lion_d":
            inputs.append(F.logsigmoid(torch.linspace(2.0, 6.0, heads)))  # decays 0.88 ... 0.998
        elif variant == "lion_s":
            inputs.append(F.logsigmoid(torch.randn(batch, heads, length, generator=generator) + 4.0))

        def attention(*tensors):
            return lion_attention(*tensors, mode=mode, chunk_size=chunk_size)

    return [t.requires_grad_() for t in inputs], attention


def run_case(spec, connection):
    """Child process: run the passes ``spec["passes"]`` of one case, sending (pass name, result) after each."""
    torch.set_num_threads(spec["threads"])
    inputs, attention = make_case(
        spec["variant"], spec["mode"], spec["batch"], spec["heads"], spec["length"], spec["head_dim"],
        spec["chunk_size"],
    )
    baseline_mib = benchmarking.start_peak_window()  # a forked child inherits the peak of its parent

    def forward():
        with torch.inference_mode():
            attention(*inputs)

    def forward_backward():
        for tensor in inputs:
            tensor.grad = None
        attention(*inputs).sum().backward()

    for name, function in (("forward", forward), ("forward_backward", forward_backward)):
        if name not in spec["passes"]:
            continue
        try:
            measurement = benchmarking.time_function(function, spec["min_run_time"])
        except RuntimeError as error:  # e.g. a failed allocation
            connection.send((name, benchmarking.failure(error)))
            break
        connection.send((name, {"status": "ok", **benchmarking.timing_record(measurement),
                                "peak_rss_growth_mib": benchmarking.peak_rss_mib() - baseline_mib}))
    connection.close()


# ----------------------------------------------------------------------------------------------------------
# The whole benchmark
# ----------------------------------------------------------------------------------------------------------


def plan_passes(args, mode, length, flops, lxl_bytes, matmul_rate, last_measured, failed_at):
    """{pass name: None (run it) or a skip record} for one case; ``last_measured`` and ``failed_at`` (the
    length where it failed) are the same case's history, by pass name."""
    plan = {}
    for name in PASSES:
        if name in failed_at:
            plan[name] = {"status": "skipped", "reason": f"failed at L={failed_at[name]}"}
            continue
        if name == "forward_backward" and plan["forward"] is not None:
            plan[name] = {"status": "skipped", "reason": "forward skipped"}
            continue
        seconds, mib = estimate(mode, name, length, flops, lxl_bytes, matmul_rate, last_measured.get(name))
        total_seconds = benchmarking.expected_seconds(seconds, args.min_run_time)
        record = {"status": "skipped", "estimated_seconds": total_seconds, "estimated_peak_mib": mib}
        if total_seconds > args.max_seconds_per_case:
            record["reason"] = (f"est. {benchmarking.number(total_seconds)} s > --max-seconds-per-case "
                                f"{args.max_seconds_per_case:g}")
        elif mib > args.max_memory_gib * 1024:
            record["reason"] = f"est. {mib / 1024:.1f} GiB > --max-memory-gib {args.max_memory_gib:.1f}"
        plan[name] = record if "reason" in record else None
    return plan


def run_benchmark(args):
    torch.set_num_threads(args.threads)
    # children forked from a server that imported lion_bert (and so torch and transformers) once start in
    # milliseconds, not seconds; run_case resets the peak RSS they inherit
    context = benchmarking.child_context(["lion_bert.lion_attention"])
    matmul_rate = benchmarking.matmul_flop_rate(args.min_run_time)
    print(f"matmul {benchmarking.MATMUL_SIZE}^3 float32: {matmul_rate / 1e9:.1f} GFLOP/s", file=sys.stderr)

    cases = [(SDPA, SDPA)] + [(variant, mode) for variant in args.variants for mode in args.modes]
    records, last_measured, failed_at = [], {}, {}
    count = len(args.lengths) * len(cases)
    for length in args.lengths:
        chunk_size = args.chunk_size or min(64, length)
        lxl_bytes = args.batch * args.heads * length**2 * 4
        sdpa_forward_ms = None
        for variant, mode in cases:
            started = time.monotonic()
            flops = forward_flops(variant, mode, args.batch, args.heads, length, args.head_dim, chunk_size)
            history = last_measured.setdefault((variant, mode), {})
            failures = failed_at.setdefault((variant, mode), {})
            plan = plan_passes(args, mode, length, flops, lxl_bytes, matmul_rate, history, failures)
            to_run = [name for name, skip in plan.items() if skip is None]
            if to_run:
                spec = dict(variant=variant, mode=mode, batch=args.batch, heads=args.heads, length=length,
                            head_dim=args.head_dim, chunk_size=chunk_size, min_run_time=args.min_run_time,
                            threads=args.threads, passes=to_run)
                timeout = CHILD_TIMEOUT_FACTOR * args.max_seconds_per_case * len(to_run) + 60
                plan.update(benchmarking.run_in_child(context, run_case, spec, to_run, timeout))
            for name, result in plan.items():
                if result["status"] == "ok":
                    history[name] = (length, result["ms"] / 1e3, result["peak_rss_growth_mib"])
                elif result["status"] == "failed":
                    failures.setdefault(name, length)
            forward = plan["forward"]
            if forward["status"] == "ok":
                forward["gflops"] = flops / forward["ms"] * 1e3 / 1e9
                forward["matmul_fraction"] = forward["gflops"] * 1e9 / matmul_rate
                if mode == SDPA:
                    sdpa_forward_ms = forward["ms"]
                elif sdpa_forward_ms is not None:
                    forward["speedup_vs_sdpa"] = sdpa_forward_ms / forward["ms"]
            records.append({
                "variant": variant,
                "mode": mode,
                "length": length,
                "chunk_size": chunk_size if mode == "chunk" else None,
                "forward_flops": flops,
                "lxl_fp32_mib": lxl_bytes / benchmarking.MIB,
                **plan,
            })
            print(f"[{len(records)}/{count}] L={length} {variant} {mode}: "
                  f"fwd {benchmarking.time_cell(plan['forward'])}, "
                  f"f+b {benchmarking.time_cell(plan['forward_backward'])}, peak MiB {peak_cell(plan)} "
                  f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)

    return {
        "machine": machine_info(),
        "config": {
            "batch": args.batch, "heads": args.heads, "head_dim": args.head_dim, "dtype": "float32",
            "lengths": args.lengths, "variants": args.variants, "modes": args.modes,
            "chunk_size": args.chunk_size or "min(64, L)", "min_run_time": args.min_run_time,
            "max_seconds_per_case": args.max_seconds_per_case, "max_memory_gib": args.max_memory_gib,
            "child_processes": context.get_start_method(),
            "time": "ms per call, the median over torch.utils.benchmark.Timer.blocked_autorange's replicates "
                    "(ms_iqr: their interquartile range), which total min_run_time seconds at least, after a "
                    "warm-up; forward under torch.inference_mode(), "
                    "forward_backward = forward + out.sum().backward() with inputs that require grad",
            "peak_rss_growth_mib": "growth of the child process's peak RSS (ru_maxrss) from after building the "
                                   "inputs: over the forward runs (forward), over the forward and forward+backward "
                                   "runs (forward_backward)",
            "forward_flops": inspect.cleandoc(forward_flops.__doc__),
        },
        "matmul": {"size": benchmarking.MATMUL_SIZE, "gflops": matmul_rate / 1e9},
        "cases": records,
    }


# ----------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------


def peak_cell(record):
    return " / ".join(benchmarking.number(record[name]["peak_rss_growth_mib"])
                      if record[name]["status"] == "ok" else "-" for name in PASSES)


def render_markdown(report):
    machine, config, cases = report["machine"], report["config"], report["cases"]
    by_key = {(case["variant"], case["mode"], case["length"]): case for case in cases}
    lengths, size = config["lengths"], benchmarking.MATMUL_SIZE

    def forward_metric(case, key, fmt):
        return fmt(case["forward"][key]) if key in case["forward"] else "-"

    def percent(fraction):
        return f"{100 * fraction:.1f}%"

    def speedup(ratio):
        return f"{ratio:.2f}x"

    sections = [
        "# LION attention benchmark",
        f"Machine: {machine['cpu']}, {machine['torch_threads']} torch threads, torch {machine['torch']}, "
        f"{machine['platform']}, Python {machine['python']}.",
        f"Shapes: B={config['batch']}, H={config['heads']}, d={config['head_dim']}, float32; chunk size "
        f"{config['chunk_size']}. Times: ms per call, median over replicates totalling at least "
        f"{config['min_run_time']:g} s after a warm-up (torch.utils.benchmark blocked_autorange); fwd under "
        "inference_mode, f+b = forward + sum().backward().",
        f"Matmul reference: {size}x{size}x{size} float32 at "
        f"{report['matmul']['gflops']:.1f} GFLOP/s, measured in this run.",
        "Peak MiB = growth of peak RSS (ru_maxrss) of a fresh process running only that case, from after building "
        "the inputs: fwd / f+b (at small L mostly fixed overhead: thread pools, allocator). vs SDPA = SDPA "
        "forward time / this forward time (> 1: faster). % matmul = analytic forward FLOPs / forward time, over "
        "the matmul rate (FLOP formulas in the JSON). L x L MiB = one float32 (B, H, L, L) tensor.",
        "## SDPA (torch.nn.functional.scaled_dot_product_attention)",
        benchmarking.markdown_table(
            ["L", "L x L MiB", "fwd ms", "f+b ms", "peak MiB", "% matmul"],
            [[str(length), benchmarking.number(case["lxl_fp32_mib"]), benchmarking.time_cell(case["forward"]),
              benchmarking.time_cell(case["forward_backward"]), peak_cell(case),
              forward_metric(case, "matmul_fraction", percent)]
             for length in lengths for case in [by_key[SDPA, SDPA, length]]],
        ),
    ]
    for variant in config["variants"]:
        header = ["L"] + [f"{mode} {column}" for mode in config["modes"]
                          for column in ("fwd ms", "f+b ms", "peak MiB", "vs SDPA", "% matmul")]
        rows = []
        for length in lengths:
            row = [str(length)]
            for mode in config["modes"]:
                case = by_key[variant, mode, length]
                row += [benchmarking.time_cell(case["forward"]), benchmarking.time_cell(case["forward_backward"]),
                        peak_cell(case),
                        forward_metric(case, "speedup_vs_sdpa", speedup),
                        forward_metric(case, "matmul_fraction", percent)]
            rows.append(row)
        sections += [f"## {variant}", benchmarking.markdown_table(header, rows)]
    return "\n\n".join(sections) + "\n"


@dataclass
class BenchArguments:
    """The flags; each also as --with-dashes (e.g. --head-dim for --head_dim)."""

    lengths: list[int] = field(default_factory=lambda: [2**p for p in range(7, 15)], metadata={
        "help": "sequence lengths L (default: 128 ... 16384, powers of two)"})
    batch: int = field(default=1, metadata={"help": "B (default: 1)"})
    heads: int = field(default=12, metadata={"help": "H (default: 12)"})
    head_dim: int = field(default=64, metadata={"help": "d, of queries, keys and values (default: 64)"})
    min_run_time: float = field(default=1.0, metadata={
        "help": "seconds of timed replicates per pass, after a warm-up; one call where a call is longer (default: 1)"})
    chunk_size: int | None = field(default=None, metadata={
        "help": "chunk size of the chunk form (default: min(64, L) for each L)"})
    variants: list[str] = field(default_factory=lambda: list(benchmarking.LION_VARIANTS), metadata={
        "help": "LION variants (default: all)", "choices": benchmarking.LION_VARIANTS})
    modes: list[str] = field(default_factory=lambda: list(ATTENTION_MODES), metadata={
        "help": "forms of LION attention (default: all)", "choices": ATTENTION_MODES})
    max_seconds_per_case: float = field(default=60.0, metadata={
        "help": "skip a pass whose estimated warm-up + timed replicates take longer (default: 60)"})
    max_memory_gib: float = field(default_factory=lambda: 0.8 * benchmarking.available_memory_gib(), metadata={
        "help": "skip a pass whose estimated peak memory is larger (default: 80%% of available memory)"})
    threads: int = field(default_factory=torch.get_num_threads, metadata={
        "help": "torch intra-op threads (default: torch's default, %(default)s here)"})
    output_json: Path = field(default=Path("bench_out/attention.json"), metadata={"help": "(default: %(default)s)"})
    output_md: Path = field(default=Path("bench_out/attention.md"), metadata={"help": "(default: %(default)s)"})


def parse_args(argv=None) -> BenchArguments:
    """BenchArguments from a list of strings, or sys.argv; exits with a usage error for a flag it does not know."""
    parser = HfArgumentParser(BenchArguments, description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    (args,) = parse_known_flags(parser, argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    report = run_benchmark(args)
    markdown = render_markdown(report)
    for path, text in ((args.output_json, json.dumps(report, indent=2) + "\n"), (args.output_md, markdown)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(markdown)
    print(f"wrote {args.output_json} and {args.output_md}", file=sys.stderr)


if __name__ == "__main__":
    main()
