#!/usr/bin/env python
"""Model-level benchmark of LionBert against transformers' BertModel (SDPA attention) on CPU.

Random-initialised models (nothing is downloaded), BERT-base dimensions by default (12 layers, hidden 768, 12 heads,
intermediate 3072; ``--layers``, ``--hidden``, ``--heads``, ``--intermediate`` shrink them), dropout 0 everywhere,
no pooler. Models: ``BertModel(BertConfig(..., attn_implementation="sdpa"))`` and ``LionBertModel`` with LION-LIT,
LION-D and LION-S attention, each LION model in its forms (parallel, chunk, recurrent), forced per call with the
``attention_mode=`` / ``chunk_size=`` arguments of ``forward``. Three measurements:

1. Training step (forward, loss = mean of the squared last hidden state, backward, AdamW step) at each
   ``--train-lengths`` L with batch = ``--train-tokens`` // L. All models of one length live in ONE child process and
   are timed interleaved (round r times every model/form once, then round r + 1), so that they share the same
   machine noise; the time is the median over ``--repeats`` rounds, after one warm-up step per model/form on batch/8
   sequences (it allocates AdamW's state and runs every kernel once; on CPU the large activation buffers are mapped
   afresh at every step, so a full-size warm-up would only cost time). Reported: ms per step and the ratio to BERT's.
   LION trains in the parallel form by default; ``--train-modes`` (default: parallel chunk) picks the forms timed.
   A batch whose estimated memory does not fit ``--max-memory-gib`` runs in micro-batches (gradients accumulated,
   one AdamW step; ``--train-micro-batches`` forces a number), recorded in the output.
2. Inference (batch 1, eval mode, ``torch.inference_mode()``) at each ``--lengths`` L: every model/form runs in a
   fresh child process that builds the model, makes the input, then runs one warm-up forward on min(L, 512) tokens and
   ``--repeats`` timed forwards (median). Peak memory = growth of the child's peak RSS (ru_maxrss) from after building
   the model and the inputs; the model's own size is reported beside it.
3. Achieved FLOP rate: analytic FLOPs (``lion_bert.benchmark_plan.forward_flops``) over the measured time, as a fraction
   of a plain float32 2048^3 matmul's rate measured in the same run.

More rows beside the fixed-map eager ones, in every table with their ratio to BERT, in the parallel form in training
and the chunk form at inference only (``benchmark_plan.EXTRA_ROW_FORMS``: all forms would nearly double the run):
``--feature-maps`` (default: fixed hedgehog) adds the LION variants with the learned hedgehog feature map ("LION-S
hedgehog chunk"); ``--compile`` (off by default) adds BERT and those cases through ``torch.compile`` (inductor; "LION-S
chunk compiled", vs compiled BERT), each compiled by a warm-up call on the timed shapes (a full forward at L, a full
training step), its compile time reported apart, never in the timed calls, and its time beside its eager twin's
(compiled / eager). Eager rows are measured as without --compile; the targets read the fixed-map eager rows.

Before measuring, one child probes every model/form with a 1-layer model (a training step on about 1024 tokens at each
training length; a forward at the shortest inference length); with the matmul rate this gives each case's estimated
time and memory, the planned skips and the estimated duration of the whole run, printed before it starts
(``--estimate-only`` stops there and prints the plan; the probes take about a minute at BERT-base width). A case whose
estimate exceeds ``--max-seconds-per-case`` (inference only) or ``--max-memory-gib`` is skipped, and the skip and its
reason recorded (at later lengths the estimate is the last measurement of the same model/form, scaled). Children run
under an address-space limit of about ``--max-memory-gib``, so an allocation that does not fit fails in that child
(recorded as failed) instead of calling the OOM killer. Estimates scale with the load of the machine when probed.
The probes and the matmul reference are timed with ``torch.utils.benchmark.Timer``; the training rounds and the
inference forwards are timed call by call, because the rounds interleave models and a full-size warm-up (which the
Timer runs first) would double the time of a long inference case.

Targets: the report checks each measurement against the targets of ``--targets`` (default: benchmarks/targets.json;
its kinds and fields are described in benchmarks/README.md) and says met, missed or not measured for each.

This script runs the children; the logic lives in the package, with its tests: ``lion_bert.benchmark_plan`` (cases,
FLOPs, estimates, skips and micro-batches), ``lion_bert.benchmark_report`` (records, the targets check, benchmark.md
and benchmark.png) and ``lion_bert.benchmarking`` (encoders, training step, timing, memory, children, table cells).

Ratios (LION vs BERT time, speedups, % of the matmul rate) hardly depend on the number of layers: every layer does the
same work, only the embeddings and the optimizer's update of the embedding table do not scale with it. Absolute times
scale with the layers; inference memory growth does not (activations are freed layer by layer), the model size does.

Output: ``--output-dir`` (default bench_out/, git-ignored) gets benchmark.json (every number), benchmark.md (tables
and the targets table) and benchmark.png (inference time and peak memory vs L); the markdown also goes to stdout, one
progress line per case to stderr. With the package installed (``pip install -e .``):

    python scripts/benchmark.py                 # BERT-base dimensions: long (the estimate is printed first)
    python scripts/benchmark.py --estimate-only # the plan and the estimated duration, without measuring
    python scripts/benchmark.py --layers 2      # the README run: same ratios, a fraction of the time
    python scripts/benchmark.py --layers 2 --compile --feature-maps fixed  # + compiled rows, no hedgehog rows
    python scripts/benchmark.py --layers 1 --hidden 64 --heads 2 --intermediate 128 --lengths 128 256 \\
        --train-lengths 64 --train-tokens 256 --repeats 1        # smoke run, seconds
"""

import gc
import statistics
import sys
import time
from argparse import RawDescriptionHelpFormatter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from lion_bert import benchmark_plan, benchmark_report, benchmarking
from lion_bert.benchmark_plan import INFERENCE_WARMUP_TOKENS, TRAIN_WARMUP_DIVISOR, case_key, case_label
from lion_bert.benchmarking import BERT_BASE_DIMS, FEATURE_MAP_CHOICES
from lion_bert.cli import parse_known_flags
from lion_bert.lion_attention import ATTENTION_MODES
from lion_bert.machine import machine_info

# the fork server imports these once; every child starts from them (see lion_bert.benchmarking.child_context)
CHILD_PRELOAD = ("lion_bert.modeling_lion_bert", "transformers.models.bert.modeling_bert")
DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "benchmarks" / "targets.json"
LEARNING_RATE = 1e-5
PROBE_WARMUP_TOKENS = 16  # a probe's warm-up runs on one sequence of this many tokens
CHILD_TIMEOUT_FACTOR = 3  # a child is killed after this many times its estimate, plus CHILD_TIMEOUT_MARGIN
CHILD_TIMEOUT_MARGIN = 120
TRAINING_TIMEOUT_FACTOR, TRAINING_TIMEOUT_MARGIN = 5, 900  # all cases of a length share one child: be generous
ADDRESS_SPACE_SLACK = 1.1  # children may map this times --max-memory-gib (+ 256 MiB) beyond what they hold at start


# ----------------------------------------------------------------------------------------------------------
# Children
# ----------------------------------------------------------------------------------------------------------


def build(key, dims, max_positions):
    """The (eager) model of a case's ``key`` = `Case.build`: (model, feature map)."""
    return benchmarking.build_encoder(key[0], dims, max_positions, feature_map=key[1])


def setup_child(spec):
    """Threads, seed, and a frozen garbage collector: the modules the fork server imported are never collected, so
    the gc.collect() calls between measurements take microseconds instead of a good part of a second."""
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    gc.freeze()


def run_probes(spec, connection):
    """Child: 1-layer probes of every case, sending (key, result) after each (see the module docstring). A probe
    only feeds the estimates: its times are one call after one warm-up call (`time_function` with min_run_time 0).
    """
    setup_child(spec)
    benchmarking.limit_address_space(spec["address_space_bytes"])
    dims = {**spec["dims"], "layers": 1}
    for probe in spec["probes"]:
        case, length, batch = probe["case"], probe["length"], probe["batch"]
        torch.manual_seed(0)
        started = time.perf_counter()
        built = optimizer = None
        try:
            built = build(case.build, dims, spec["max_positions"])
            result = {"status": "ok", "length": length, "batch": batch, "tokens": batch * length,
                      "params": benchmarking.parameter_total(built), "build_seconds": time.perf_counter() - started,
                      "chunk_size": case.resolved_chunk_size(built, length, spec["chunk_size"])}
            input_ids, kwargs = benchmarking.random_ids(batch, length), case.forward_kwargs(spec["chunk_size"])
            warmup_ids = input_ids[:1, :PROBE_WARMUP_TOKENS].clone()  # small: its memory is not reused afterwards
            if probe["phase"] == "training":
                optimizer = torch.optim.AdamW(built.parameters(), lr=LEARNING_RATE)
                benchmarking.train_step(built, optimizer, warmup_ids, kwargs)  # AdamW's state, outside the window
                baseline = benchmarking.start_peak_window()

                def forward_backward():
                    built(input_ids=input_ids, **kwargs).last_hidden_state.pow(2).mean().backward()
                    built.zero_grad(set_to_none=False)

                seconds = benchmarking.time_function(forward_backward, 0).median
                # activations and gradients, before AdamW's temporaries (they scale with the parameters, not tokens)
                result.update(forward_backward_seconds=seconds,
                              peak_rss_growth_mib=benchmarking.peak_rss_mib() - baseline,
                              optimizer_seconds=benchmarking.time_function(optimizer.step, 0).median)
            else:
                built.eval()
                with torch.inference_mode():
                    built(input_ids=warmup_ids, **kwargs)
                    baseline = benchmarking.start_peak_window()
                    seconds = benchmarking.time_function(lambda: built(input_ids=input_ids, **kwargs), 0).median
                result.update(seconds=seconds, peak_rss_growth_mib=benchmarking.peak_rss_mib() - baseline)
        except RuntimeError as error:  # e.g. a failed allocation
            result = benchmarking.failure(error)
        built = optimizer = None
        benchmarking.start_peak_window()  # frees this probe's model before the next one is built
        connection.send((probe["key"], result))
    connection.close()


def run_inference_case(spec, connection):
    """Child: build the model, then one warm-up forward on min(L, 512) tokens (a compiled case: on all L tokens,
    which compiles it) and ``repeats`` timed forwards."""
    setup_child(spec)
    case, length = spec["case"], spec["length"]
    rss_before = benchmarking.current_rss_mib()
    started = time.perf_counter()
    built = build(case.build, spec["dims"], spec["max_positions"]).eval()
    build_seconds = time.perf_counter() - started
    model_rss_mib = benchmarking.current_rss_mib() - rss_before
    runner = benchmarking.compile_encoder(built) if case.compiled else built
    input_ids = benchmarking.random_ids(1, length)
    warmup_ids = input_ids if case.compiled else input_ids[:, : min(length, INFERENCE_WARMUP_TOKENS)].clone()
    kwargs = case.forward_kwargs(spec["chunk_size"])
    benchmarking.limit_address_space(spec["address_space_bytes"])
    baseline = benchmarking.start_peak_window()  # a forked child inherits the peak of its parent
    try:
        seconds = []
        with torch.inference_mode():
            start = time.perf_counter()
            runner(input_ids=warmup_ids, **kwargs)
            warmup_seconds = time.perf_counter() - start
            if case.compiled:  # the compiler's memory is not the forward's
                baseline = benchmarking.start_peak_window()
            for _ in range(spec["repeats"]):  # call by call: see the module docstring
                start = time.perf_counter()
                runner(input_ids=input_ids, **kwargs)
                seconds.append(time.perf_counter() - start)
        result = {"status": "ok", "ms": statistics.median(seconds) * 1e3, "ms_runs": [s * 1e3 for s in seconds],
                  "peak_rss_growth_mib": benchmarking.peak_rss_mib() - baseline}
        if case.compiled:
            result["compile_seconds"] = max(0.0, warmup_seconds - statistics.median(seconds))
    except RuntimeError as error:  # e.g. a failed allocation, or compilation
        result = benchmarking.failure(error)
    result.update(build_seconds=build_seconds, model_rss_mib=model_rss_mib,
                  params=benchmarking.parameter_total(built),
                  chunk_size=case.resolved_chunk_size(built, length, spec["chunk_size"]))
    connection.send(("forward", result))
    connection.close()


def run_training_length(spec, connection):
    """Child: every case of one training length, interleaved (see the module docstring); one result per case. A
    compiled case runs its eager twin's model and optimizer through torch.compile."""
    setup_child(spec)
    length, batch, cases = spec["length"], spec["batch"], spec["cases"]
    started = time.perf_counter()
    models = {key: build(key, spec["dims"], spec["max_positions"])  # in training mode
              for key in dict.fromkeys(case.build for case in cases)}
    optimizers = {key: torch.optim.AdamW(built.parameters(), lr=LEARNING_RATE) for key, built in models.items()}
    runners = {case: benchmarking.compile_encoder(models[case.build]) if case.compiled else models[case.build]
               for case in cases}
    build_seconds = time.perf_counter() - started
    input_ids = benchmarking.random_ids(batch, length)
    warmup_ids = input_ids[: max(1, batch // TRAIN_WARMUP_DIVISOR)].clone()
    benchmarking.limit_address_space(spec["address_space_bytes"])
    results = {case: {"status": "ok", "ms_runs": [], "step_peak_rss_growth_mib": 0.0} for case in cases}
    warmup_seconds = {}

    def step(case, ids, micro_batches=1):
        try:
            benchmarking.train_step(runners[case], optimizers[case.build], ids,
                                    case.forward_kwargs(spec["chunk_size"]), micro_batches)
            return True
        except RuntimeError as error:  # e.g. a failed allocation or compilation: this case stops, the others go on
            optimizers[case.build].zero_grad(set_to_none=True)
            results[case] = benchmarking.failure(error)
            gc.collect()
            return False

    def log(text):
        print(f"  train L={length} {text} (elapsed {benchmarking.duration(time.time() - spec['start_time'])})",
              file=sys.stderr, flush=True)

    for case in cases:
        start = time.perf_counter()  # the warm-up's micro-batches are as large as the timed steps'
        micro_batches = spec["micro_batches"][case_key(*case)]
        # a compiled case compiles at its warm-up: on the timed batch and micro-batches, every shape it will meet
        ids, parts = (input_ids, micro_batches) if case.compiled else (
            warmup_ids, max(1, micro_batches // TRAIN_WARMUP_DIVISOR))
        if step(case, ids, parts):
            warmup_seconds[case] = time.perf_counter() - start
            log(f"warm-up {case_label(*case)} on {len(ids)} sequences: {warmup_seconds[case]:.1f} s")
    for round_index in range(spec["repeats"]):
        for case in cases:
            if results[case]["status"] != "ok":
                continue
            baseline = benchmarking.start_peak_window()
            start = time.perf_counter()
            if step(case, input_ids, spec["micro_batches"][case_key(*case)]):
                seconds = time.perf_counter() - start
                results[case]["ms_runs"].append(seconds * 1e3)
                results[case]["step_peak_rss_growth_mib"] = max(results[case]["step_peak_rss_growth_mib"],
                                                                benchmarking.peak_rss_mib() - baseline)
                log(f"round {round_index + 1}/{spec['repeats']} {case_label(*case)}: {seconds:.2f} s")
    for case in cases:
        result = results[case]
        if result["status"] == "ok":
            result["ms"] = statistics.median(result["ms_runs"])
            if case.compiled:
                result["compile_seconds"] = max(0.0, warmup_seconds[case] - result["ms"] / 1e3)
        result.update(build_seconds=build_seconds, params=benchmarking.parameter_total(models[case.build]),
                      chunk_size=case.resolved_chunk_size(models[case.build], length, spec["chunk_size"]))
        connection.send((case_key(*case), result))
    connection.close()


# ----------------------------------------------------------------------------------------------------------
# The whole benchmark
# ----------------------------------------------------------------------------------------------------------


class Benchmark(benchmark_plan.BenchmarkPlan):
    """One run: the probes, then the children of each phase as planned (see `BenchmarkPlan`), then the report."""

    def __init__(self, args):
        super().__init__(args)
        # virtual memory runs ahead of the resident set (allocator arenas, thread stacks): some slack over the budget
        self.address_space_bytes = ADDRESS_SPACE_SLACK * args.max_memory_gib * 2**30 + 256 * benchmarking.MIB
        self.start = time.monotonic()
        self.start_time = time.time()
        self.progress = self.count = 0

    def spec(self, **fields):
        return {"dims": self.dims, "threads": self.args.threads, "chunk_size": self.args.chunk_size,
                "repeats": self.args.repeats, "address_space_bytes": self.address_space_bytes,
                "start_time": self.start_time, **fields}

    def run_probes(self):
        probes = self.probes_to_run()
        if not probes:
            return {}
        started = time.monotonic()
        spec = self.spec(probes=probes, max_positions=max(self.train_max_positions, self.inference_max_positions))
        results = benchmarking.run_in_child(
            self.context, run_probes, spec, [probe["key"] for probe in probes],
            CHILD_TIMEOUT_FACTOR * self.args.max_seconds_per_case + CHILD_TIMEOUT_MARGIN)
        print(f"probes (1-layer models): {len(probes)} in {time.monotonic() - started:.1f} s", file=sys.stderr)
        return results

    def add_record(self, records, phase, case, length, result, started, **fields):
        """Append the record of one case (FLOPs at the chunk size it ran with) and print its progress line."""
        chunk_size = result.get("chunk_size") or self.chunk_size_for(phase)
        flops = benchmark_plan.forward_flops(case.mode, fields.get("batch", 1), length, self.dims, chunk_size,
                                             case.feature_map)
        flops *= 3 if phase == "training" else 1  # forward + backward
        record = benchmark_report.measured_record(phase, case, length, flops, result, records, **fields)
        records.append(record)
        self.progress += 1
        print(f"[{self.progress}/{self.count}] {phase} L={length} {benchmark_report.progress_text(phase, record)} "
              f"({time.monotonic() - started:.1f} s, elapsed {benchmarking.duration(time.monotonic() - self.start)})",
              file=sys.stderr, flush=True)

    def run_training(self):
        records = []
        for length in self.args.train_lengths:
            batch = self.batch_of(length)
            plan, estimates, child_seconds = self.plan_training(length)
            to_run = [case for case, skip in plan.items() if skip is None]
            started = time.monotonic()
            results = {}
            if to_run:
                print(f"training L={length}, batch {batch}: {len(to_run)} model/forms interleaved in one process, "
                      f"est. {benchmarking.duration(child_seconds)}", file=sys.stderr, flush=True)
                spec = self.spec(length=length, batch=batch, cases=to_run, max_positions=self.train_max_positions,
                                 micro_batches={case_key(*c): estimates[c]["micro_batches"] for c in to_run})
                results = benchmarking.run_in_child(self.context, run_training_length, spec,
                                                    [case_key(*c) for c in to_run],
                                                    TRAINING_TIMEOUT_FACTOR * child_seconds + TRAINING_TIMEOUT_MARGIN)
            for case in self.train_cases:
                result = plan[case] or {**results[case_key(*case)], **estimates[case]}
                self.add_record(records, "training", case, length, result, started, batch=batch,
                                tokens=batch * length)
        return records

    def run_inference(self):
        records, last_measured, failed_at = [], {}, {}
        for length in self.args.lengths:
            for case in self.inference_cases:
                started = time.monotonic()
                result, estimate, child_seconds = self.plan_inference_case(
                    case, length, last_measured.get(case), failed_at.get(case))
                if result is None:
                    spec = self.spec(case=case, length=length, max_positions=self.inference_max_positions)
                    timeout = CHILD_TIMEOUT_FACTOR * child_seconds + CHILD_TIMEOUT_MARGIN
                    result = {**benchmarking.run_in_child(self.context, run_inference_case, spec, ["forward"],
                                                          timeout)["forward"], **estimate}
                self.add_record(records, "inference", case, length, result, started)
                if result["status"] == "ok":
                    last_measured[case] = (length, min(result["ms_runs"]) / 1e3, result["peak_rss_growth_mib"])
                elif result["status"] == "failed":
                    failed_at.setdefault(case, length)
        return records

    def run(self):
        args = self.args
        torch.set_num_threads(args.threads)
        self.context = benchmarking.child_context(CHILD_PRELOAD)
        self.matmul_rate = benchmarking.matmul_flop_rate()
        print(f"matmul {benchmarking.MATMUL_SIZE}^3 float32: {self.matmul_rate / 1e9:.1f} GFLOP/s", file=sys.stderr)
        self.probes = self.run_probes()
        estimate, plan_rows = self.estimate_duration()
        print(f"estimated duration: {benchmarking.duration(estimate['estimated_seconds'])} (training "
              f"{benchmarking.duration(estimate['estimated_training_seconds'])}, inference "
              f"{benchmarking.duration(estimate['estimated_inference_seconds'])}; "
              f"{sum(bool(row['skip']) for row in plan_rows)} of {len(plan_rows)} cases expected to be skipped)",
              file=sys.stderr, flush=True)
        if args.estimate_only:
            return {**estimate, "plan": plan_rows}
        self.count = len(plan_rows)  # one row per case and length that either phase goes through
        training = [] if args.skip_training else self.run_training()
        inference = [] if args.skip_inference else self.run_inference()
        # the reference is the faster of two measurements, before and after, against other load on the machine
        rates = [self.matmul_rate, benchmarking.matmul_flop_rate()]
        self.matmul_rate = max(rates)
        for record in training + inference:
            if "gflops" in record:
                record["matmul_fraction"] = record["gflops"] * 1e9 / self.matmul_rate
        report = {
            "machine": machine_info(),
            "config": self.config(self.context.get_start_method(),
                                  {"file": args.targets["file"], "source": args.targets["source"]}),
            "matmul": {"size": benchmarking.MATMUL_SIZE, "gflops": self.matmul_rate / 1e9,
                       "gflops_before_and_after": [rate / 1e9 for rate in rates]},
            "duration": {**estimate, "seconds": time.monotonic() - self.start},
            "probes": self.probes,
            "training": training,
            "inference": inference,
        }
        report["best_vs_bert"] = benchmark_report.best_vs_bert(report)
        report["targets"] = benchmark_report.check_targets(report, args.targets)
        return report


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


@dataclass
class BenchmarkArguments:
    """The flags; each also as --with_underscores (e.g. --train_lengths for --train-lengths)."""

    layers: int = field(default=BERT_BASE_DIMS["layers"], metadata={"help": "encoder layers (default: %(default)s)"})
    hidden: int = field(default=BERT_BASE_DIMS["hidden"], metadata={"help": "hidden size (default: %(default)s)"})
    heads: int = field(default=BERT_BASE_DIMS["heads"], metadata={"help": "attention heads (default: %(default)s)"})
    intermediate: int = field(default=BERT_BASE_DIMS["intermediate"], metadata={
        "help": "feed-forward size (default: %(default)s)"})
    lengths: list[int] = field(default_factory=lambda: [2**p for p in range(9, 16)], metadata={
        "help": "inference lengths L, batch 1 (default: 512 ... 32768, powers of two)"})
    train_lengths: list[int] = field(default_factory=lambda: [128, 512], metadata={
        "help": "training lengths L (default: 128 512)"})
    train_tokens: int = field(default=16384, metadata={
        "help": "tokens per training batch: batch = tokens // L (default: 16384)"})
    repeats: int = field(default=3, metadata={"help": "timed runs per case, after one warm-up (default: 3)"})
    threads: int = field(default_factory=torch.get_num_threads, metadata={
        "help": "torch intra-op threads (default: torch's default, %(default)s here)"})
    chunk_size: int | None = field(default=None, metadata={
        "help": "chunk size of the chunk form and block size of the recurrent form (default: the model's choice, "
                "config.chunk_size)"})
    variants: list[str] = field(default_factory=lambda: list(benchmarking.LION_VARIANTS), metadata={
        "help": "LION variants (default: all)", "choices": benchmarking.LION_VARIANTS})
    modes: list[str] = field(default_factory=lambda: list(ATTENTION_MODES), metadata={
        "help": "LION forms measured at inference (default: all three)", "choices": ATTENTION_MODES})
    train_modes: list[str] = field(default_factory=lambda: ["parallel", "chunk"], metadata={"choices": ATTENTION_MODES,
        "help": "LION forms timed in training (default: parallel chunk; add recurrent to time it too)"})
    feature_maps: list[str] = field(default_factory=lambda: list(FEATURE_MAP_CHOICES), metadata={
        "help": f"LION feature maps: fixed (each variant's own, in every form) and hedgehog (learned, in "
                f"{benchmark_plan.extra_forms_text()}) (default: fixed hedgehog)", "choices": FEATURE_MAP_CHOICES})
    compile: bool = field(default=False, metadata={
        "help": f"also time BERT and the cases in {benchmark_plan.extra_forms_text()} through torch.compile, beside "
                "eager (compile time reported apart; default: eager only)"})
    train_micro_batches: int | None = field(default=None, metadata={
        "help": "split each training batch into this many micro-batches, gradients accumulated before the AdamW "
                "step (default: 1, or the fewest powers of two that fit --max-memory-gib)"})
    skip_training: bool = field(default=False, metadata={"help": "no training measurements"})
    skip_inference: bool = field(default=False, metadata={"help": "no inference measurements"})
    max_seconds_per_case: float = field(default=300.0, metadata={
        "help": "skip an inference case whose estimated warm-up + repeats take longer; training cases are never "
                "skipped for time (default: 300)"})
    max_memory_gib: float = field(default_factory=lambda: 0.8 * benchmarking.available_memory_gib(), metadata={
        "help": "skip a case whose estimated memory is larger, and limit each child's address space to it "
                "(default: 80%% of the available memory, %(default).1f here)"})
    estimate_only: bool = field(default=False, metadata={
        "help": "run the probes, print the estimated duration and the planned cases and skips, and exit without "
                "measuring or writing anything"})
    targets: Path = field(default=DEFAULT_TARGETS, metadata={
        "help": "JSON file of the targets the report checks (format: benchmarks/README.md; default: "
                "benchmarks/targets.json of this checkout)"})
    output_dir: Path = field(default=Path("bench_out"), metadata={
        "help": "where benchmark.json, benchmark.md and benchmark.png go (default: %(default)s)"})


def parse_args(argv=None) -> BenchmarkArguments:
    """BenchmarkArguments from a list of strings, or sys.argv, its ``targets`` the loaded targets file; exits with a
    usage error naming the flag for a flag it does not know, a value out of range or a targets file it cannot use."""
    parser = HfArgumentParser(BenchmarkArguments, description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    (args,) = parse_known_flags(parser, argv)
    if args.hidden % args.heads:
        parser.error(f"--hidden ({args.hidden}) must be a multiple of --heads ({args.heads})")
    for name in ("layers", "hidden", "heads", "intermediate", "lengths", "train_lengths", "train_tokens", "repeats",
                 "threads", "chunk_size", "train_micro_batches"):
        value = getattr(args, name)  # None: the default of the last two
        if value is not None and min(value if isinstance(value, list) else [value]) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    try:  # before any measurement: a run must not end in a file it cannot read
        args.targets = benchmark_report.load_targets(args.targets)
    except (OSError, ValueError) as error:
        parser.error(f"--targets: {error}")
    return args


def main(argv=None):
    args = parse_args(argv)
    report = Benchmark(args).run()
    if args.estimate_only:
        print(benchmark_report.plan_table(report["plan"]))
        return
    markdown, paths = benchmark_report.write_report(report, args.output_dir)
    print(markdown)
    print(f"targets:\n{benchmark_report.targets_text(report)}", file=sys.stderr)
    print(f"wrote {', '.join(str(path) for path in paths.values())} in "
          f"{benchmarking.duration(report['duration']['seconds'])}", file=sys.stderr)


if __name__ == "__main__":
    main()
