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
3. Achieved FLOP rate: analytic FLOPs (see ``forward_flops``) over the measured time, as a fraction of a plain float32
   2048^3 matmul's rate measured in the same run.

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

Ratios (LION vs BERT time, speedups, % of the matmul rate) hardly depend on the number of layers: every layer does the
same work, only the embeddings and the optimizer's update of the embedding table do not scale with it. Absolute times
scale with the layers; inference memory growth does not (activations are freed layer by layer), the model size does.

Output: ``--output-dir`` (default bench_out/, git-ignored) gets benchmark.json (every number), benchmark.md (tables
and the targets table) and benchmark.png (inference time and peak memory vs L); the markdown also goes to stdout, one
progress line per case to stderr. With the package installed (``pip install -e .``):

    python scripts/benchmark.py                 # BERT-base dimensions: long (the estimate is printed first)
    python scripts/benchmark.py --estimate-only # the plan and the estimated duration, without measuring
    python scripts/benchmark.py --layers 2      # the README run: same ratios, a fraction of the time
    python scripts/benchmark.py --layers 1 --hidden 64 --heads 2 --intermediate 128 --lengths 128 256 \\
        --train-lengths 64 --train-tokens 256 --repeats 1        # smoke run, seconds
"""

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from lion_bert.benchmarking import LABELS as VARIANT_LABELS
from lion_bert.benchmarking import (
    BERT,
    BERT_BASE_DIMS,
    LION_VARIANTS,
    MATMUL_SIZE,
    MIB,
    VOCAB_SIZE,
    available_memory_gib,
    build_encoder,
    child_context,
    current_rss_mib,
    duration,
    failure,
    limit_address_space,
    markdown_table,
    matmul_flop_rate,
    number,
    peak_rss_mib,
    run_in_child,
    start_peak_window,
    time_cell,
    time_function,
    train_step,
)
from lion_bert.configuration_lion_bert import ATTENTION_VARIANTS
from lion_bert.lion_attention import ATTENTION_MODES
from lion_bert.machine import machine_info

# the fork server imports these once; every child starts from them (see lion_bert.benchmarking.child_context)
CHILD_PRELOAD = ("lion_bert.modeling_lion_bert", "transformers.models.bert.modeling_bert")
SDPA = "sdpa"  # the baseline's attention
LABELS = {BERT: "BERT", **VARIANT_LABELS}
DEFAULT_LENGTHS = [2**p for p in range(9, 16)]  # 512 ... 32768
DEFAULT_TRAIN_LENGTHS = [128, 512]
DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "benchmarks" / "targets.json"
LEARNING_RATE = 1e-5
TRAIN_WARMUP_DIVISOR = 8  # the training warm-up step runs on batch // 8 sequences (at least one)
INFERENCE_WARMUP_TOKENS = 512  # the inference warm-up forward runs on min(L, 512) tokens
PROBE_TOKENS = 1024  # tokens of a training probe step
PROBE_MAX_LENGTH = 512  # the inference probe runs at min(shortest length, this)
PROBE_WARMUP_TOKENS = 16  # a probe's warm-up runs on one sequence of this many tokens
CHILD_START_SECONDS = 0.5  # a child's start and the re-import of this script, for the duration estimate
CHILD_TIMEOUT_FACTOR = 3  # a child is killed after this many times its estimate, plus CHILD_TIMEOUT_MARGIN
CHILD_TIMEOUT_MARGIN = 120
TRAINING_TIMEOUT_FACTOR, TRAINING_TIMEOUT_MARGIN = 5, 900  # all cases of a length share one child: be generous
GB = 1e9
ADDRESS_SPACE_SLACK = 1.1  # children may map this times --max-memory-gib (+ 256 MiB) beyond what they hold at start
RATIO_VS_BERT = {"training": "ratio_vs_bert", "inference": "speedup_vs_bert"}  # ms / BERT's, BERT's / ms


# ----------------------------------------------------------------------------------------------------------
# Cases, FLOPs and estimates
# ----------------------------------------------------------------------------------------------------------


def case_key(model, mode):
    return f"{model}/{mode}"


def case_label(model, mode):
    return f"{LABELS[model]} ({mode.upper()})" if model == BERT else f"{LABELS[model]} {mode}"


def cases_of(variants, modes):
    """BERT first, then every LION variant in every form."""
    return [(BERT, SDPA)] + [(variant, mode) for variant in variants for mode in modes]


def forward_flops(mode, batch, length, dims, chunk_size):
    """Analytic FLOPs of one forward pass of the encoder (a multiply-add is 2 FLOPs; embedding lookups, LayerNorms,
    activations, softmax, feature maps, decays and the LION-S gate are not counted). Per layer and sequence, with
    h = hidden, i = intermediate, d = head dim, C = min(chunk size, L):

        dense:     2 L (4 h^2 + 2 h i)          Q, K, V and output projections, the two feed-forward matmuls
        sdpa:      4 L^2 h                       BERT: Q K^T and A V
        parallel:  4 L^2 h                       LION: (Q K^T * M) and A V
        chunk:     4 L C h + 8 L h d             the parallel form inside the chunks + state updates and reads
        recurrent: 6 L h d                       state updates and reads of the bidirectional scans

    times layers * batch. A training step (forward + backward) counts 3x the forward; AdamW is not counted."""
    hidden, intermediate = dims["hidden"], dims["intermediate"]
    head_dim = hidden // dims["heads"]
    dense = 2 * length * (4 * hidden**2 + 2 * hidden * intermediate)
    if mode in (SDPA, "parallel"):
        attention = 4 * length**2 * hidden
    elif mode == "chunk":
        attention = 4 * length * min(chunk_size, length) * hidden + 8 * length * hidden * head_dim
    else:
        attention = 6 * length * hidden * head_dim
    return dims["layers"] * batch * (dense + attention)


def parameter_count(model, dims, max_positions):
    """Parameters of the encoder without pooler (as `build_encoder` builds it, with its variant's defaults)."""
    hidden, intermediate, heads = dims["hidden"], dims["intermediate"], dims["heads"]
    variant = ATTENTION_VARIANTS["softmax" if model == BERT else model]
    embeddings = (VOCAB_SIZE + 2) * hidden + 2 * hidden  # words, 2 token types, LayerNorm
    if variant.position_embedding_type == "absolute":
        embeddings += max_positions * hidden
    # Q, K, V and output projections, the two feed-forward layers, two LayerNorms
    layer = 4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 4 * hidden
    layer += 2 * hidden * variant.attention_layer_norm
    layer += {"none": 0, "per_head": heads, "selective": hidden * heads + heads}[variant.decay]
    return embeddings + dims["layers"] * layer


def lxl_mib(dims, length):
    """One float32 (1, heads, L, L) tensor, in MiB: the least the parallel form holds."""
    return dims["heads"] * length**2 * 4 / MIB


def estimate_inference(case, length, dims, chunk_size, matmul_rate, probe, last_measured):
    """(seconds per forward, peak RSS growth MiB) of one inference case: the FLOPs at the matmul rate and the parallel
    form's L x L tensor as lower bounds, raised to the last measurement of the same case (``last_measured`` =
    (length, seconds, MiB), scaled by the FLOP ratio, and by L^2 (parallel) or L for memory), or, before any
    measurement, to the 1-layer probe scaled the same way."""
    model, mode = case
    flops = forward_flops(mode, 1, length, dims, chunk_size)
    seconds, mib = flops / matmul_rate, lxl_mib(dims, length) if mode == "parallel" else 0.0
    if last_measured is not None:
        measured_length, measured_seconds, measured_mib = last_measured
        scale = flops / forward_flops(mode, 1, measured_length, dims, chunk_size)
        power = 2 if mode == "parallel" else 1
        seconds = max(seconds, measured_seconds * scale)
        mib = max(mib, measured_mib * (length / measured_length) ** power)
    elif probe is not None and probe["status"] == "ok":
        probe_flops = forward_flops(mode, 1, probe["length"], {**dims, "layers": 1}, chunk_size)
        seconds = max(seconds, probe["seconds"] * flops / probe_flops)
        mib = max(mib, probe["peak_rss_growth_mib"] * length / probe["length"] + (mib if mode == "parallel" else 0))
    return seconds, mib


def estimate_training(case, length, batch, dims, chunk_size, matmul_rate, probe, params):
    """(seconds per step, MiB of the activations the whole batch keeps for the backward): the 1-layer probe's
    forward+backward time and memory per token, times tokens and layers, plus its AdamW time per parameter times
    ``params``; without a probe, the FLOPs at the matmul rate and the parallel form's L x L tensors (two per layer)."""
    model, mode = case
    flops = 3 * forward_flops(mode, batch, length, dims, chunk_size)
    seconds = flops / matmul_rate
    activations = 2 * dims["layers"] * batch * lxl_mib(dims, length) if mode == "parallel" else 0.0
    if probe is not None and probe["status"] == "ok":
        token_layers = batch * length * dims["layers"]
        seconds = max(seconds, probe["forward_backward_seconds"] * token_layers / probe["tokens"]
                      + probe["optimizer_seconds"] * params / probe["params"])
        per_token_layer = max(0.0, probe["peak_rss_growth_mib"] - probe["params"] * 4 / MIB) / probe["tokens"]
        activations = max(activations, per_token_layer * token_layers)
    return seconds, activations


# ----------------------------------------------------------------------------------------------------------
# Children
# ----------------------------------------------------------------------------------------------------------


def forward_kwargs(case, chunk_size):
    model, mode = case
    return {} if model == BERT else {"attention_mode": mode, "chunk_size": chunk_size}


def resolved_chunk_size(built, case, length, chunk_size):
    """The chunk size the model runs for this case (its own choice when ``chunk_size`` is None), else None."""
    if case[1] != "chunk":
        return None
    return built.resolve_attention_form(length, "chunk", chunk_size).chunk_size


def random_ids(batch, length):
    return torch.randint(1, VOCAB_SIZE, (batch, length), generator=torch.Generator().manual_seed(0))


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
    limit_address_space(spec["address_space_bytes"])
    dims = {**spec["dims"], "layers": 1}
    for probe in spec["probes"]:
        case, length, batch = tuple(probe["case"]), probe["length"], probe["batch"]
        torch.manual_seed(0)
        started = time.perf_counter()
        built = optimizer = None
        try:
            built = build_encoder(case[0], dims, spec["max_positions"])
            result = {"status": "ok", "length": length, "batch": batch, "tokens": batch * length,
                      "params": sum(p.numel() for p in built.parameters()),
                      "build_seconds": time.perf_counter() - started,
                      "chunk_size": resolved_chunk_size(built, case, length, spec["chunk_size"])}
            input_ids, kwargs = random_ids(batch, length), forward_kwargs(case, spec["chunk_size"])
            warmup_ids = input_ids[:1, :PROBE_WARMUP_TOKENS].clone()  # small: its memory is not reused afterwards
            if probe["phase"] == "training":
                optimizer = torch.optim.AdamW(built.parameters(), lr=LEARNING_RATE)
                train_step(built, optimizer, warmup_ids, kwargs)  # allocates AdamW's state outside the window
                baseline = start_peak_window()

                def forward_backward():
                    built(input_ids=input_ids, **kwargs).last_hidden_state.pow(2).mean().backward()
                    built.zero_grad(set_to_none=False)

                seconds = time_function(forward_backward, 0).median
                # activations and gradients, before AdamW's temporaries (they scale with the parameters, not tokens)
                result.update(forward_backward_seconds=seconds, peak_rss_growth_mib=peak_rss_mib() - baseline,
                              optimizer_seconds=time_function(optimizer.step, 0).median)
            else:
                built.eval()
                with torch.inference_mode():
                    built(input_ids=warmup_ids, **kwargs)
                    baseline = start_peak_window()
                    seconds = time_function(lambda: built(input_ids=input_ids, **kwargs), 0).median
                result.update(seconds=seconds, peak_rss_growth_mib=peak_rss_mib() - baseline)
        except RuntimeError as error:  # e.g. a failed allocation
            result = failure(error)
        built = optimizer = None
        start_peak_window()  # frees this probe's model before the next one is built
        connection.send((probe["key"], result))
    connection.close()


def run_inference_case(spec, connection):
    """Child: build the model, then one warm-up forward on min(L, 512) tokens and ``repeats`` timed forwards."""
    setup_child(spec)
    case, length = tuple(spec["case"]), spec["length"]
    rss_before = current_rss_mib()
    started = time.perf_counter()
    built = build_encoder(case[0], spec["dims"], spec["max_positions"]).eval()
    build_seconds = time.perf_counter() - started
    model_rss_mib = current_rss_mib() - rss_before
    input_ids = random_ids(1, length)
    warmup_ids = input_ids[:, : min(length, INFERENCE_WARMUP_TOKENS)].clone()
    kwargs = forward_kwargs(case, spec["chunk_size"])
    limit_address_space(spec["address_space_bytes"])
    baseline = start_peak_window()  # a forked child inherits the peak of its parent
    try:
        seconds = []
        with torch.inference_mode():
            built(input_ids=warmup_ids, **kwargs)
            for _ in range(spec["repeats"]):  # call by call: see the module docstring
                start = time.perf_counter()
                built(input_ids=input_ids, **kwargs)
                seconds.append(time.perf_counter() - start)
        result = {"status": "ok", "ms": statistics.median(seconds) * 1e3, "ms_runs": [s * 1e3 for s in seconds],
                  "peak_rss_growth_mib": peak_rss_mib() - baseline}
    except RuntimeError as error:
        result = failure(error)
    result.update(build_seconds=build_seconds, model_rss_mib=model_rss_mib,
                  params=sum(p.numel() for p in built.parameters()),
                  chunk_size=resolved_chunk_size(built, case, length, spec["chunk_size"]))
    connection.send(("forward", result))
    connection.close()


def run_training_length(spec, connection):
    """Child: every case of one training length, interleaved (see the module docstring); one result per case."""
    setup_child(spec)
    length, batch, cases = spec["length"], spec["batch"], [tuple(case) for case in spec["cases"]]
    started = time.perf_counter()
    models = {model: build_encoder(model, spec["dims"], spec["max_positions"])  # in training mode
              for model in dict.fromkeys(model for model, _ in cases)}
    optimizers = {model: torch.optim.AdamW(built.parameters(), lr=LEARNING_RATE) for model, built in models.items()}
    build_seconds = time.perf_counter() - started
    input_ids = random_ids(batch, length)
    warmup_ids = input_ids[: max(1, batch // TRAIN_WARMUP_DIVISOR)].clone()
    limit_address_space(spec["address_space_bytes"])
    results = {case: {"status": "ok", "ms_runs": [], "step_peak_rss_growth_mib": 0.0} for case in cases}

    def step(case, ids, micro_batches=1):
        try:
            train_step(models[case[0]], optimizers[case[0]], ids, forward_kwargs(case, spec["chunk_size"]),
                       micro_batches)
            return True
        except RuntimeError as error:  # e.g. a failed allocation: this case stops, the others go on
            optimizers[case[0]].zero_grad(set_to_none=True)
            results[case] = failure(error)
            gc.collect()
            return False

    def log(text):
        print(f"  train L={length} {text} (elapsed {duration(time.time() - spec['start_time'])})",
              file=sys.stderr, flush=True)

    for case in cases:
        start = time.perf_counter()  # the warm-up's micro-batches are as large as the timed steps'
        if step(case, warmup_ids, max(1, spec["micro_batches"][case_key(*case)] // TRAIN_WARMUP_DIVISOR)):
            log(f"warm-up {case_label(*case)} on {len(warmup_ids)} sequences: {time.perf_counter() - start:.1f} s")
    for round_index in range(spec["repeats"]):
        for case in cases:
            if results[case]["status"] != "ok":
                continue
            baseline = start_peak_window()
            start = time.perf_counter()
            if step(case, input_ids, spec["micro_batches"][case_key(*case)]):
                seconds = time.perf_counter() - start
                results[case]["ms_runs"].append(seconds * 1e3)
                results[case]["step_peak_rss_growth_mib"] = max(results[case]["step_peak_rss_growth_mib"],
                                                                peak_rss_mib() - baseline)
                log(f"round {round_index + 1}/{spec['repeats']} {case_label(*case)}: {seconds:.2f} s")
    for case in cases:
        result = results[case]
        if result["status"] == "ok":
            result["ms"] = statistics.median(result["ms_runs"])
        result.update(build_seconds=build_seconds, params=sum(p.numel() for p in models[case[0]].parameters()),
                      chunk_size=resolved_chunk_size(models[case[0]], case, length, spec["chunk_size"]))
        connection.send((case_key(*case), result))
    connection.close()


# ----------------------------------------------------------------------------------------------------------
# The whole benchmark
# ----------------------------------------------------------------------------------------------------------


class Benchmark:
    def __init__(self, args):
        self.args = args
        self.dims = {name: getattr(args, name) for name in BERT_BASE_DIMS}
        self.train_cases = cases_of(args.variants, args.train_modes)
        self.inference_cases = cases_of(args.variants, args.modes)
        self.train_max_positions = max([512, *args.train_lengths])
        self.inference_max_positions = max([512, *args.lengths])
        # virtual memory runs ahead of the resident set (allocator arenas, thread stacks): some slack over the budget
        self.address_space_bytes = ADDRESS_SPACE_SLACK * args.max_memory_gib * 2**30 + 256 * MIB
        self.start = time.monotonic()
        self.start_time = time.time()
        self.progress = 0

    def elapsed(self):
        return duration(time.monotonic() - self.start)

    def spec(self, **fields):
        return {"dims": self.dims, "threads": self.args.threads, "chunk_size": self.args.chunk_size,
                "repeats": self.args.repeats, "address_space_bytes": self.address_space_bytes,
                "start_time": self.start_time, **fields}

    def batch_of(self, length):
        return max(1, self.args.train_tokens // length)

    # --- probes and plan -------------------------------------------------------------------------------------

    def run_probes(self):
        probes = []
        if not self.args.skip_training:
            for length in self.args.train_lengths:
                batch = max(1, min(self.batch_of(length), PROBE_TOKENS // length))
                probes += [{"key": f"training/{length}/{case_key(*case)}", "phase": "training", "case": case,
                            "length": length, "batch": batch} for case in self.train_cases]
        if not self.args.skip_inference:
            length = min(min(self.args.lengths), PROBE_MAX_LENGTH)
            probes += [{"key": f"inference/{case_key(*case)}", "phase": "inference", "case": case,
                        "length": length, "batch": 1} for case in self.inference_cases]
        if not probes:
            return {}
        started = time.monotonic()
        spec = self.spec(probes=probes, max_positions=max(self.train_max_positions, self.inference_max_positions))
        results = run_in_child(self.context, run_probes, spec, [probe["key"] for probe in probes],
                               CHILD_TIMEOUT_FACTOR * self.args.max_seconds_per_case + CHILD_TIMEOUT_MARGIN)
        print(f"probes (1-layer models): {len(probes)} in {time.monotonic() - started:.1f} s", file=sys.stderr)
        return results

    def chunk_size_for(self, phase):
        """The chunk size used in the FLOP counts: the argument, or what the model chose in the probes."""
        if self.args.chunk_size is not None:
            return self.args.chunk_size
        for key, probe in self.probes.items():
            if key.startswith(phase) and probe.get("chunk_size"):
                return probe["chunk_size"]
        return 64  # LionBertConfig's default

    def training_params(self):
        return {model: parameter_count(model, self.dims, self.train_max_positions)
                for model in dict.fromkeys(model for model, _ in self.train_cases)}

    def plan_training(self, length):
        """{case: None (run it) or a skip record}, the estimates of every case, and the child's estimated seconds."""
        batch, params = self.batch_of(length), self.training_params()
        chunk_size = self.chunk_size_for("training")
        resident_mib = sum(3 * count * 4 / MIB for count in params.values())  # weights + AdamW's two moments
        budget_mib = self.args.max_memory_gib * 1024
        plan, estimates, child_seconds = {}, {}, 0.0
        for case in self.train_cases:
            probe = self.probes.get(f"training/{length}/{case_key(*case)}")
            seconds, activations = estimate_training(case, length, batch, self.dims, chunk_size, self.matmul_rate,
                                                     probe, params[case[0]])
            # gradients, and AdamW's temporaries (about one more copy of the parameters)
            step_mib = 2 * params[case[0]] * 4 / MIB
            micro_batches = self.args.train_micro_batches or 1
            while (not self.args.train_micro_batches and micro_batches < batch
                   and resident_mib + step_mib + activations / micro_batches > budget_mib):
                micro_batches *= 2
            micro_batches = min(micro_batches, batch)
            mib = resident_mib + step_mib + activations / micro_batches
            total = (1 / TRAIN_WARMUP_DIVISOR + self.args.repeats) * seconds
            estimates[case] = {"estimated_step_seconds": seconds, "estimated_case_seconds": total,
                               "estimated_peak_mib": mib, "micro_batches": micro_batches}
            reason = None  # training cases are not skipped for time: they are what the targets measure
            if mib > budget_mib:
                reason = (f"est. {mib / 1024:.2f} GiB (all models' weights and AdamW state + this step in "
                          f"{micro_batches} micro-batches) > --max-memory-gib {self.args.max_memory_gib:.2f}")
            plan[case] = None if reason is None else {"status": "skipped", "reason": reason, **estimates[case]}
            child_seconds += 0 if reason else total
        if any(skip is None for skip in plan.values()):
            build = sum(self.build_estimate(model, count) for model, count in params.items())
            child_seconds += build + CHILD_START_SECONDS
        return plan, estimates, child_seconds

    def build_estimate(self, model, params):
        probes = [probe for probe in self.probes.values()
                  if probe.get("status") == "ok" and probe.get("params") and probe.get("build_seconds")]
        if not probes:
            return 0.0
        return max(probe["build_seconds"] / probe["params"] for probe in probes) * params

    def plan_inference_case(self, case, length, last_measured, failed_at):
        """None (run it) or a skip record, and the estimate (seconds of the whole child, per forward, peak MiB)."""
        chunk_size = self.chunk_size_for("inference")
        probe = self.probes.get(f"inference/{case_key(*case)}")
        seconds, mib = estimate_inference(case, length, self.dims, chunk_size, self.matmul_rate, probe, last_measured)
        warmup_seconds, _ = estimate_inference(case, min(length, INFERENCE_WARMUP_TOKENS), self.dims, chunk_size,
                                               self.matmul_rate, probe, None)
        params = parameter_count(case[0], self.dims, self.inference_max_positions)
        total = self.args.repeats * seconds + warmup_seconds
        estimate = {"estimated_forward_seconds": seconds, "estimated_case_seconds": total,
                    "estimated_peak_mib": mib, "model_mib": params * 4 / MIB}
        reason = None
        if failed_at is not None:
            reason = f"failed at L={failed_at}"
        elif total > self.args.max_seconds_per_case:
            reason = f"est. {number(total)} s > --max-seconds-per-case {self.args.max_seconds_per_case:g}"
        elif mib + params * 4 / MIB > self.args.max_memory_gib * 1024:
            reason = (f"est. {(mib + params * 4 / MIB) / 1024:.2f} GiB (model + growth) > --max-memory-gib "
                      f"{self.args.max_memory_gib:.2f}")
        child_seconds = total + self.build_estimate(case[0], params) + CHILD_START_SECONDS
        return (None if reason is None else {"status": "skipped", "reason": reason, **estimate}), estimate, \
            (0.0 if reason else child_seconds)

    def estimate_duration(self):
        """{"estimated_seconds", "estimated_training_seconds", "estimated_inference_seconds"} from the probes (before
        any measurement), and one row per case: phase, L, label, estimated seconds (warm-up + repeats) and peak
        MiB, skip reason, note."""
        training, inference, rows = 0.0, 0.0, []
        if not self.args.skip_training:
            for length in self.args.train_lengths:
                plan, estimates, child_seconds = self.plan_training(length)
                training += child_seconds
                rows += [{"phase": "training", "length": length, "label": case_label(*case),
                          "seconds": estimates[case]["estimated_case_seconds"],
                          "mib": estimates[case]["estimated_peak_mib"], "skip": (plan[case] or {}).get("reason", ""),
                          "note": f"{estimates[case]['micro_batches']} micro-batches"
                          if estimates[case]["micro_batches"] > 1 else ""}
                         for case in self.train_cases]
        if not self.args.skip_inference:
            for length in self.args.lengths:
                for case in self.inference_cases:
                    skip, estimate, child_seconds = self.plan_inference_case(case, length, None, None)
                    inference += child_seconds
                    rows.append({"phase": "inference", "length": length, "label": case_label(*case),
                                 "seconds": estimate["estimated_case_seconds"],
                                 "mib": estimate["model_mib"] + estimate["estimated_peak_mib"],
                                 "skip": (skip or {}).get("reason", ""), "note": ""})
        return {"estimated_seconds": training + inference, "estimated_training_seconds": training,
                "estimated_inference_seconds": inference}, rows

    # --- phases ----------------------------------------------------------------------------------------------

    def measured_record(self, phase, case, length, flops, result, records, **fields):
        """The record of one case: its result, FLOPs, GFLOP/s and its time against BERT's at the same length among
        the phase's ``records`` so far (BERT runs first): ``RATIO_VS_BERT[phase]``."""
        record = {"model": case[0], "mode": case[1], "label": case_label(*case), "length": length, **fields,
                  "flops": flops, **result}
        if record["status"] == "ok":
            record["gflops"] = flops / record["ms"] / 1e6
            bert = next((r for r in records if r["length"] == length and r["model"] == BERT and r["status"] == "ok"),
                        None)
            if case[0] != BERT and bert is not None:
                ratio = record["ms"] / bert["ms"]
                record[RATIO_VS_BERT[phase]] = ratio if phase == "training" else 1 / ratio
        return record

    def print_progress(self, count, phase, record, started):
        self.progress += 1
        details = ""
        if phase == "inference" and record["status"] == "ok":
            details += f", peak +{number(record['peak_rss_growth_mib'])} MiB"
        if RATIO_VS_BERT[phase] in record:
            details += f", {record[RATIO_VS_BERT[phase]]:.2f}x " + ("BERT" if phase == "training" else "vs BERT")
        unit = " ms/step" if phase == "training" else " ms"
        print(f"[{self.progress}/{count}] {phase} L={record['length']} {record['label']}: {time_cell(record, unit)}"
              f"{details} ({time.monotonic() - started:.1f} s, elapsed {self.elapsed()})", file=sys.stderr, flush=True)

    def run_training(self, count):
        records = []
        for length in self.args.train_lengths:
            batch = self.batch_of(length)
            plan, estimates, child_seconds = self.plan_training(length)
            to_run = [case for case, skip in plan.items() if skip is None]
            started = time.monotonic()
            results = {}
            if to_run:
                print(f"training L={length}, batch {batch}: {len(to_run)} model/forms interleaved in one process, "
                      f"est. {duration(child_seconds)}", file=sys.stderr, flush=True)
                spec = self.spec(length=length, batch=batch, cases=to_run, max_positions=self.train_max_positions,
                                 micro_batches={case_key(*c): estimates[c]["micro_batches"] for c in to_run})
                results = run_in_child(self.context, run_training_length, spec, [case_key(*c) for c in to_run],
                                       TRAINING_TIMEOUT_FACTOR * child_seconds + TRAINING_TIMEOUT_MARGIN)
            for case in self.train_cases:
                result = plan[case] or {**results[case_key(*case)], **estimates[case]}
                chunk_size = result.get("chunk_size") or self.chunk_size_for("training")
                flops = 3 * forward_flops(case[1], batch, length, self.dims, chunk_size)
                records.append(self.measured_record("training", case, length, flops, result, records, batch=batch,
                                                    tokens=batch * length))
                self.print_progress(count, "training", records[-1], started)
        return records

    def run_inference(self, count):
        records, last_measured, failed_at = [], {}, {}
        for length in self.args.lengths:
            for case in self.inference_cases:
                started = time.monotonic()
                result, estimate, child_seconds = self.plan_inference_case(
                    case, length, last_measured.get(case), failed_at.get(case))
                if result is None:
                    spec = self.spec(case=case, length=length, max_positions=self.inference_max_positions)
                    result = {**run_in_child(self.context, run_inference_case, spec, ["forward"],
                                             CHILD_TIMEOUT_FACTOR * child_seconds + CHILD_TIMEOUT_MARGIN)["forward"],
                              **estimate}
                chunk_size = result.get("chunk_size") or self.chunk_size_for("inference")
                flops = forward_flops(case[1], 1, length, self.dims, chunk_size)
                records.append(self.measured_record("inference", case, length, flops, result, records))
                if result["status"] == "ok":
                    last_measured[case] = (length, min(result["ms_runs"]) / 1e3, result["peak_rss_growth_mib"])
                elif result["status"] == "failed":
                    failed_at.setdefault(case, length)
                self.print_progress(count, "inference", records[-1], started)
        return records

    def run(self):
        args = self.args
        torch.set_num_threads(args.threads)
        self.context = child_context(CHILD_PRELOAD)
        self.matmul_rate = matmul_flop_rate()
        print(f"matmul {MATMUL_SIZE}^3 float32: {self.matmul_rate / 1e9:.1f} GFLOP/s", file=sys.stderr)
        self.probes = self.run_probes()
        estimate, plan_rows = self.estimate_duration()
        print(f"estimated duration: {duration(estimate['estimated_seconds'])} (training "
              f"{duration(estimate['estimated_training_seconds'])}, inference "
              f"{duration(estimate['estimated_inference_seconds'])}; {sum(bool(row['skip']) for row in plan_rows)} of "
              f"{len(plan_rows)} cases expected to be skipped)", file=sys.stderr, flush=True)
        if args.estimate_only:
            return {**estimate, "plan": plan_rows}
        count = (0 if args.skip_training else len(args.train_lengths) * len(self.train_cases)) + (
            0 if args.skip_inference else len(args.lengths) * len(self.inference_cases))
        training = [] if args.skip_training else self.run_training(count)
        inference = [] if args.skip_inference else self.run_inference(count)
        # the reference is the faster of two measurements, before and after, against other load on the machine
        rates = [self.matmul_rate, matmul_flop_rate()]
        self.matmul_rate = max(rates)
        for record in training + inference:
            if "gflops" in record:
                record["matmul_fraction"] = record["gflops"] * 1e9 / self.matmul_rate
        report = {
            "machine": machine_info(),
            "config": self.config(),
            "matmul": {"size": MATMUL_SIZE, "gflops": self.matmul_rate / 1e9,
                       "gflops_before_and_after": [rate / 1e9 for rate in rates]},
            "duration": {**estimate, "seconds": time.monotonic() - self.start},
            "probes": self.probes,
            "training": training,
            "inference": inference,
        }
        report["best_vs_bert"] = best_vs_bert(report)
        report["targets"] = check_targets(report, args.targets)
        return report

    def config(self):
        args = self.args
        return {
            "dims": self.dims, "base_dims": BERT_BASE_DIMS, "vocab_size": VOCAB_SIZE, "dtype": "float32",
            "lengths": args.lengths, "train_lengths": args.train_lengths, "train_tokens": args.train_tokens,
            "train_batches": {str(length): self.batch_of(length) for length in args.train_lengths},
            "variants": args.variants, "modes": args.modes, "train_modes": args.train_modes,
            "chunk_size": args.chunk_size, "train_chunk_size": self.chunk_size_for("training"),
            "inference_chunk_size": self.chunk_size_for("inference"), "repeats": args.repeats,
            "threads": args.threads, "max_seconds_per_case": args.max_seconds_per_case,
            "max_memory_gib": args.max_memory_gib, "child_processes": self.context.get_start_method(),
            "targets": {"file": args.targets["file"], "source": args.targets["source"]},
            "train_max_position_embeddings": self.train_max_positions,
            "inference_max_position_embeddings": self.inference_max_positions,
            "training": "forward, loss = mean(last_hidden_state^2), backward, AdamW(lr=1e-5) step; all models of a "
                        "length in one process, interleaved; median over repeats rounds after one warm-up step per "
                        f"model/form on batch // {TRAIN_WARMUP_DIVISOR} sequences",
            "inference": "batch 1, eval mode, torch.inference_mode(); one fresh process per model/form and L, which "
                         "builds the model; median over repeats forwards after one warm-up forward on min(L, "
                         f"{INFERENCE_WARMUP_TOKENS}) tokens",
            "peak_rss_growth_mib": "growth of the child's peak RSS (ru_maxrss) from after building the model and the "
                                   "inputs (inference); training: the largest such growth over one step, from the "
                                   "step's start (all models and AdamW states already resident)",
            "flops": " ".join(forward_flops.__doc__.split()),
        }


def best_vs_bert(report):
    """Per inference length: BERT's time and, per LION variant, its fastest form and the speedup over BERT."""
    rows = []
    for length in report["config"]["lengths"]:
        at_length = [r for r in report["inference"] if r["length"] == length]
        bert = next((r for r in at_length if r["model"] == BERT and r["status"] == "ok"), None)
        row = {"length": length, "bert_ms": bert["ms"] if bert else None, "variants": {}}
        for variant in report["config"]["variants"]:
            measured = [r for r in at_length if r["model"] == variant and r["status"] == "ok"]
            if measured:
                best = min(measured, key=lambda r: r["ms"])
                row["variants"][variant] = {"mode": best["mode"], "ms": best["ms"],
                                            "speedup_vs_bert": bert["ms"] / best["ms"] if bert else None}
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------------------
# Targets: which ones, at which lengths and with which limits is the data of --targets (benchmarks/README.md); here
# is what each kind of target measures
# ----------------------------------------------------------------------------------------------------------

TARGET_DESCRIPTIONS = {  # str.format templates over the target's fields, label, limit and limit_mib
    "train_ratio": "training step at L = {length}: {label} time <= {limit:.2f}x BERT's",
    "inference_speedup": "inference at L = {length}: best {label} form >= {limit}x faster than BERT",
    "recurrent_memory": "{label} recurrent inference: peak memory linear in L (growth ratio of the largest doubling "
                        "in [{doubling_range[0]}, {doubling_range[1]}]) and model + growth <= {limit:g} GB "
                        "({limit_mib:.0f} MiB) at L = {length}, " + f"{BERT_BASE_DIMS['layers']}-layer base model",
    "chunk_flop_rate": "{label} chunk-form inference >= {limit:.0%} of the matmul FLOP rate for L >= {min_length}",
}
TARGET_FIELDS = {"train_ratio": ("length",), "inference_speedup": ("length",),
                 "recurrent_memory": ("length", "doubling_range"), "chunk_flop_rate": ("min_length",)}


def load_targets(path):
    """The targets file: {"source": where the targets come from, "targets": [{"kind": a key of TARGET_FIELDS,
    "limits": {LION variant: limit}, and the kind's TARGET_FIELDS}]}, with "file": ``path`` added. Raises
    ValueError for what `check_targets` could not check."""
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
        if problems:
            raise ValueError(f"{path}: a {kind} target " + " and ".join(problems))
    return targets


def train_ratio(report, target, variant, limit):
    """The fastest training form's time over BERT's at the target's length (and the parallel form's beside)."""
    rows = [r for r in report["training"] if r["length"] == target["length"] and r["model"] == variant
            and "ratio_vs_bert" in r]
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
    row = next((r for r in report["best_vs_bert"] if r["length"] == target["length"]), None)
    best = row["variants"].get(variant) if row else None
    if not best or best["speedup_vs_bert"] is None:
        return {"note": f"BERT or {LABELS[variant]} not measured at L = {target['length']}"}
    value = best["speedup_vs_bert"]
    return {"value": value, "measured": f"{value:.2f}x ({best['mode']})", "met": value >= limit}


def recurrent_memory(report, target, variant, limit):
    """Model + peak RSS growth of the recurrent form at the target's length (limit in GB), and linear growth: the
    growth ratio from half that length within the target's doubling_range."""
    rows = {r["length"]: r for r in report["inference"] if r["model"] == variant and r["mode"] == "recurrent"
            and r["status"] == "ok"}
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
            and r["length"] >= target["min_length"] and r["status"] == "ok"]
    if not rows:
        return {"note": f"chunk form not measured at L >= {target['min_length']}"}
    worst = min(rows, key=lambda r: r["matmul_fraction"])
    measured = f"min {worst['matmul_fraction']:.1%} (L = {worst['length']}); " + ", ".join(
        f"{r['matmul_fraction']:.0%}" for r in rows)
    return {"value": worst["matmul_fraction"], "measured": measured, "met": worst["matmul_fraction"] >= limit}


TARGET_MEASURES = {"train_ratio": train_ratio, "inference_speedup": inference_speedup,
                   "recurrent_memory": recurrent_memory, "chunk_flop_rate": chunk_flop_rate}


def check_targets(report, targets):
    """One row per target and variant of ``targets`` (see `load_targets`): id, description, what was measured, the
    value compared with the limit, status (met, missed or not measured) and a note."""
    results = []
    for target in targets["targets"]:
        kind = target["kind"]
        for variant, limit in target["limits"].items():
            found = {"note": "variant not run"}
            if variant in report["config"]["variants"]:
                found = TARGET_MEASURES[kind](report, target, variant, limit)
            met = found.get("met")
            results.append({
                "id": "_".join([kind, *([str(target["length"])] if "length" in target else []), variant]),
                "description": TARGET_DESCRIPTIONS[kind].format(**target, label=LABELS[variant], limit=limit,
                                                                limit_mib=limit * GB / MIB),
                "measured": found.get("measured", "-"), "value": found.get("value"),
                "status": "not measured" if met is None else "met" if met else "missed", "note": found.get("note", ""),
            })
    return results


# ----------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------


def layers_text(dims):
    return f"{dims['layers']} layer" + ("s" if dims["layers"] != 1 else "")


def percent(record):
    return f"{100 * record['matmul_fraction']:.1f}%" if "matmul_fraction" in record else "-"


def render_markdown(report):
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
        f"{config['train_chunk_size']} in training).",
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
            markdown_table(
                ["L", "BERT ms"] + [LABELS[v] for v in config["variants"]],
                [[str(row["length"]), number(row["bert_ms"]) if row["bert_ms"] else "-"] +
                 [(f"{best['mode']} {number(best['ms'])} ms" +
                   (f", {best['speedup_vs_bert']:.2f}x" if best["speedup_vs_bert"] else "")) if best else "-"
                  for best in (row["variants"].get(v) for v in config["variants"])]
                 for row in report["best_vs_bert"]]),
        ]
    return "\n\n".join(sections) + "\n"


def measured_text(target):
    return target["measured"] + (f" ({target['note']})" if target["note"] else "")


def targets_text(report):
    width = max(len(t["status"]) for t in report["targets"])
    return "\n".join(f"{t['status']:<{width}}  {t['description']}: {measured_text(t)}" for t in report["targets"])


def plot(report, path):
    """Two log-log panels: inference time and peak RSS growth vs L, one line per model/form."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(13, 5))
    for label in dict.fromkeys(r["label"] for r in report["inference"]):
        rows = [r for r in report["inference"] if r["label"] == label and r["status"] == "ok"]
        if not rows:
            continue
        style = {"color": "black", "linewidth": 2.5} if rows[0]["model"] == BERT else {
            "linestyle": {"parallel": ":", "chunk": "-", "recurrent": "--"}[rows[0]["mode"]],
            "color": {"lion_lit": "tab:blue", "lion_d": "tab:orange", "lion_s": "tab:green"}[rows[0]["model"]]}
        lengths = [r["length"] for r in rows]
        time_axes.plot(lengths, [r["ms"] for r in rows], marker="o", label=label, **style)
        memory_axes.plot(lengths, [max(r["peak_rss_growth_mib"], 1e-2) for r in rows], marker="o", label=label,
                         **style)
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


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, meaning in (("layers", "encoder layers"), ("hidden", "hidden size"), ("heads", "attention heads"),
                          ("intermediate", "feed-forward size")):
        parser.add_argument(f"--{name}", type=int, default=BERT_BASE_DIMS[name],
                            help=f"{meaning} (default: %(default)s)")
    parser.add_argument("--lengths", type=int, nargs="+", default=DEFAULT_LENGTHS,
                        help="inference lengths L, batch 1 (default: 512 ... 32768, powers of two)")
    parser.add_argument("--train-lengths", type=int, nargs="+", default=DEFAULT_TRAIN_LENGTHS,
                        help="training lengths L (default: 128 512)")
    parser.add_argument("--train-tokens", type=int, default=16384,
                        help="tokens per training batch: batch = tokens // L (default: 16384)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, after one warm-up (default: 3)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (default: torch's default, %(default)s here)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="chunk size of the chunk form (default: the model's choice, config.chunk_size)")
    parser.add_argument("--variants", nargs="+", choices=LION_VARIANTS, default=list(LION_VARIANTS))
    parser.add_argument("--modes", nargs="+", choices=ATTENTION_MODES, default=list(ATTENTION_MODES),
                        help="LION forms measured at inference (default: all three)")
    parser.add_argument("--train-modes", nargs="+", choices=ATTENTION_MODES, default=["parallel", "chunk"],
                        help="LION forms timed in training (default: parallel chunk; add recurrent to time it too)")
    parser.add_argument("--train-micro-batches", type=int, default=None,
                        help="split each training batch into this many micro-batches, gradients accumulated before "
                             "the AdamW step (default: 1, or the fewest powers of two that fit --max-memory-gib)")
    parser.add_argument("--skip-training", action="store_true", help="no training measurements")
    parser.add_argument("--skip-inference", action="store_true", help="no inference measurements")
    parser.add_argument("--max-seconds-per-case", type=float, default=300.0,
                        help="skip an inference case whose estimated warm-up + repeats take longer; training "
                             "cases are never skipped for time (default: 300)")
    parser.add_argument("--max-memory-gib", type=float, default=0.8 * available_memory_gib(),
                        help="skip a case whose estimated memory is larger, and limit each child's address space "
                             "to it (default: 80%% of the available memory, %(default).1f here)")
    parser.add_argument("--estimate-only", action="store_true",
                        help="run the probes, print the estimated duration and the planned cases and skips, and "
                             "exit without measuring or writing anything")
    parser.add_argument("--targets", type=Path, default=DEFAULT_TARGETS,
                        help="JSON file of the targets the report checks (format: benchmarks/README.md; default: "
                             "benchmarks/targets.json of this checkout)")
    parser.add_argument("--output-dir", type=Path, default=Path("bench_out"),
                        help="where benchmark.json, benchmark.md and benchmark.png go (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.hidden % args.heads:
        parser.error(f"--hidden ({args.hidden}) must be a multiple of --heads ({args.heads})")
    for name in ("layers", "hidden", "heads", "intermediate", "train_tokens", "repeats", "threads", "chunk_size",
                 "train_micro_batches"):
        if getattr(args, name) is not None and getattr(args, name) < 1:  # None: the default of the last two
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if min(args.lengths + args.train_lengths) < 1:
        parser.error("lengths must be positive")
    try:  # before any measurement: a run must not end in a file it cannot read
        args.targets = load_targets(args.targets)
    except (OSError, ValueError) as error:
        parser.error(f"--targets: {error}")
    return args


def main(argv=None):
    args = parse_args(argv)
    report = Benchmark(args).run()
    if args.estimate_only:
        print(markdown_table(["phase", "L", "model / form", "est. seconds", "est. MiB", "skip or note"],
                             [[row["phase"], str(row["length"]), row["label"], number(row["seconds"]),
                               number(row["mib"]), row["skip"] or row["note"]] for row in report["plan"]]))
        return
    markdown = render_markdown(report)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: args.output_dir / f"benchmark.{name}" for name in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    paths["md"].write_text(markdown)
    plot(report, paths["png"])
    print(markdown)
    print(f"targets:\n{targets_text(report)}", file=sys.stderr)
    print(f"wrote {', '.join(str(path) for path in paths.values())} in {duration(report['duration']['seconds'])}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
