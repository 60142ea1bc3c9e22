"""Measuring tools of the benchmarks (scripts/benchmark.py, scripts/bench_attention.py, scripts/profile_lion.py):
the encoders they compare (with a fixed or a learned feature map, eager or compiled) and their training step,
children that run one case and report their peak memory, timing through ``torch.utils.benchmark``, the matmul
reference rate, and the cells of the markdown reports.

Memory is measured as the resident set size (RSS) of a process, in MiB: torch's CPU allocations are invisible to
tracemalloc, and the growth of the peak RSS of a child that runs one case is what that case needs.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import resource
import sys
import time
from typing import Callable

import psutil
import torch
from torch.utils.benchmark import Measurement, Timer
from transformers import BertConfig, BertModel

from .configuration_lion_bert import ATTENTION_VARIANTS, LionBertConfig
from .modeling_lion_bert import LionBertModel


MIB = 2**20
MATMUL_SIZE = 2048  # the reference matmul is (MATMUL_SIZE x MATMUL_SIZE) @ (MATMUL_SIZE x MATMUL_SIZE), float32
LION_VARIANTS = tuple(name for name, variant in ATTENTION_VARIANTS.items() if variant.kernel == "lion")
LABELS = {name: name.upper().replace("_", "-") for name in LION_VARIANTS}  # "lion_lit": "LION-LIT"
_RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
BERT = "bert"  # the baseline beside the LION variants: transformers' BertModel with SDPA attention
BERT_BASE_DIMS = {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 3072}
VOCAB_SIZE = 30522  # bert-base-uncased
FIXED = "fixed"  # a LION variant's own fixed feature map (its config's default; BERT has none)
FEATURE_MAP_CHOICES = (FIXED, "hedgehog")  # the feature maps the benchmark compares (--feature-maps)
RECOMPILE_LIMIT = 64  # graphs dynamo may compile per frame in one process (see `compile_encoder`)


# ----------------------------------------------------------------------------------------------------------
# The compared encoders
# ----------------------------------------------------------------------------------------------------------


def build_encoder(model: str, dims: dict, max_positions: int, vocab_size: int = VOCAB_SIZE,
                  feature_map: str = FIXED) -> torch.nn.Module:
    """A random-initialised encoder without pooler, dropout 0, in training mode: ``BertModel`` with SDPA attention
    for ``model="bert"``, else ``LionBertModel`` with ``attention_type=model`` and its variant's defaults. ``dims``:
    {"layers", "hidden", "heads", "intermediate"}, as BERT_BASE_DIMS. ``feature_map``: one of FEATURE_MAP_CHOICES,
    FIXED (the variant's own fixed map) or "hedgehog" (learned, ``feature_map_size`` = head dim: 2 x head dim
    features per query and key; LION variants only)."""
    if feature_map not in FEATURE_MAP_CHOICES or (model == BERT and feature_map != FIXED):
        raise ValueError(f"feature_map={feature_map!r} for {model!r}: one of {FEATURE_MAP_CHOICES}, "
                         f"{FIXED!r} for {BERT!r}")
    shape = dict(vocab_size=vocab_size, hidden_size=dims["hidden"], num_hidden_layers=dims["layers"],
                 num_attention_heads=dims["heads"], intermediate_size=dims["intermediate"],
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=max_positions)
    if model == BERT:
        return BertModel(BertConfig(**shape, attn_implementation="sdpa"), add_pooling_layer=False)
    learned = {} if feature_map == FIXED else {"feature_map": feature_map}
    return LionBertModel(LionBertConfig(**shape, attention_type=model, **learned), add_pooling_layer=False)


def compile_encoder(encoder: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile(encoder)`` (inductor, the default backend), compiled at its first call. The recompile limit
    of this process is raised to RECOMPILE_LIMIT first: every model of one class shares the frame dynamo caches its
    graphs on, and each variant, feature map, form and input shape is a graph of its own; past the limit (8 by
    default) dynamo would run the frame eagerly, and a "compiled" time would silently be an eager one."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    return torch.compile(encoder)


def random_ids(batch: int, length: int, vocab_size: int = VOCAB_SIZE) -> torch.Tensor:
    """(batch, L) token ids in [1, vocab_size), the same at every call."""
    return torch.randint(1, vocab_size, (batch, length), generator=torch.Generator().manual_seed(0))


def parameter_total(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def train_step(encoder, optimizer, input_ids: torch.Tensor, forward_kwargs: dict | None = None,
               micro_batches: int = 1) -> None:
    """One training step of the benchmarks: forward on (batch, L) ``input_ids``, loss = mean of the squared last
    hidden state, backward, optimizer step. With ``micro_batches`` > 1 the batch is split and the gradients
    accumulated (same FLOPs, a fraction of the activation memory) before the one optimizer step."""
    for part in input_ids.chunk(micro_batches):
        loss = encoder(input_ids=part, **(forward_kwargs or {})).last_hidden_state.pow(2).mean()
        (loss / micro_batches).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


# ----------------------------------------------------------------------------------------------------------
# Memory of this process
# ----------------------------------------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Lower this process's peak RSS to its current RSS (Linux >= 4.0). False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def release_free_memory() -> bool:
    """Hand the memory freed inside the C heap back to the system (glibc's malloc_trim), so that the next growth of
    the peak RSS counts every allocation instead of reusing what earlier work left resident. False where
    unavailable."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def peak_rss_mib() -> float:
    """The largest RSS this process has had (since its start or the last `reset_peak_rss`), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RU_MAXRSS_BYTES / MIB


def current_rss_mib() -> float:
    return psutil.Process().memory_info().rss / MIB


def start_peak_window() -> float:
    """Collect garbage, hand freed memory back and lower the peak RSS to the current RSS. Returns the peak RSS
    (MiB) now: ``peak_rss_mib() - start_peak_window()`` is the growth of the peak since this call."""
    gc.collect()
    release_free_memory()
    reset_peak_rss()
    return peak_rss_mib()


def limit_address_space(budget_bytes: float) -> bool:
    """Let this process map at most ``budget_bytes`` more virtual memory (RLIMIT_AS, Linux only: elsewhere the
    limit does not behave as a budget), so that an allocation beyond it raises RuntimeError in torch instead of
    waking the kernel's OOM killer. False where not possible."""
    if not sys.platform.startswith("linux"):
        return False
    mapped = psutil.Process().memory_info().vms
    try:
        resource.setrlimit(resource.RLIMIT_AS, (mapped + int(budget_bytes), resource.RLIM_INFINITY))
    except (ValueError, OSError):
        return False
    return True


def available_memory_gib() -> float:
    """Memory that new allocations can use without swapping, in GiB."""
    return psutil.virtual_memory().available / 2**30


# ----------------------------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------------------------


def child_context(preload):
    """A multiprocessing context for measuring children: a fork server that imported the modules ``preload`` once
    (children start in milliseconds; each resets the peak RSS it inherits, see `start_peak_window`), or, where the
    peak RSS cannot be reset, fresh spawned processes (which pay the imports, but start from a small peak)."""
    context = multiprocessing.get_context("forkserver" if reset_peak_rss() else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(list(preload))
    return context


def failure(error: BaseException) -> dict:
    """The result of a case that raised ``error`` (e.g. an allocation beyond `limit_address_space`)."""
    return {"status": "failed", "reason": f"{type(error).__name__}: {error}"[:200]}


def run_in_child(context, target: Callable, spec: dict, names: list[str], timeout: float) -> dict:
    """Run ``target(spec, connection)`` in a new child process of the multiprocessing ``context``; the target
    sends (name, result dict) pairs, one per name in ``names``. Returns {name: result}, with a "failed" result
    (and the reason: timeout, killed, exit code) for every name the child did not send within ``timeout`` seconds.
    """
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(spec, sender))
    child.start()
    sender.close()  # only the child writes: its exit then ends recv() with EOFError
    results, deadline, timed_out = {}, time.monotonic() + timeout, False
    while len(results) < len(names):
        if not receiver.poll(max(0.0, deadline - time.monotonic())):
            timed_out = True
            child.kill()
            break
        try:
            name, result = receiver.recv()
        except EOFError:
            break
        results[name] = result
    child.join()
    if timed_out:
        reason = f"timed out after {timeout:.0f} s"
    elif child.exitcode == -9:
        reason = "child killed (out of memory?)"
    else:
        reason = f"child exited with code {child.exitcode}"
    for name in names:
        results.setdefault(name, {"status": "failed", "reason": reason})
    return results


# ----------------------------------------------------------------------------------------------------------
# Time
# ----------------------------------------------------------------------------------------------------------


def time_function(function: Callable[[], object], min_run_time: float) -> Measurement:
    """Time ``function()`` with ``torch.utils.benchmark.Timer.blocked_autorange`` at torch's current number of
    threads (the Timer's own default is 1). The warm-up calls pick the calls per replicate (one for any call longer
    than min_run_time / 1000 s), then replicates run until they total ``min_run_time`` seconds, at least one.
    ``measurement.median``: seconds per call, the median over the replicates; ``min_run_time=0`` is one warm-up
    call and one timed call. The clock synchronises CUDA where it is available."""
    timer = Timer(stmt="function()", globals={"function": function}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time)


def timing_record(measurement: Measurement) -> dict:
    """The JSON fields of a measurement: "ms" (median per call over the replicates), "ms_iqr" (their interquartile
    range), "ms_replicates" (ms per call of each replicate) and "calls_per_replicate"."""
    return {"ms": measurement.median * 1e3, "ms_iqr": measurement.iqr * 1e3,
            "ms_replicates": [seconds * 1e3 for seconds in measurement.times],
            "calls_per_replicate": measurement.number_per_run}


def expected_seconds(call_seconds: float, min_run_time: float) -> float:
    """Seconds that `time_function` takes for a call of ``call_seconds`` (at least): one warm-up call, then
    replicates for ``min_run_time`` seconds, or one call where a call is longer."""
    return call_seconds + max(call_seconds, min_run_time)


def matmul_flop_rate(min_run_time: float = 1.0) -> float:
    """FLOP/s of one float32 MATMUL_SIZE^3 matmul (2 MATMUL_SIZE^3 FLOPs): the median over `time_function`'s
    replicates, at torch's current number of threads."""
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    return 2 * MATMUL_SIZE**3 / time_function(lambda: a @ b, min_run_time).median


# ----------------------------------------------------------------------------------------------------------
# Report cells
# ----------------------------------------------------------------------------------------------------------


def number(x: float) -> str:
    """Three significant digits at most, no exponent: '1234', '56.7', '0.89'."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def time_cell(result: dict, unit: str = "") -> str:
    """A result's median time in ms (``result["ms"]``), or its status and reason where it did not run."""
    return number(result["ms"]) + unit if result["status"] == "ok" else f"{result['status']}: {result['reason']}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


__all__ = [
    "BERT", "BERT_BASE_DIMS", "FEATURE_MAP_CHOICES", "FIXED", "LABELS", "LION_VARIANTS", "MATMUL_SIZE", "MIB",
    "RECOMPILE_LIMIT", "VOCAB_SIZE", "available_memory_gib", "build_encoder", "child_context", "compile_encoder",
    "current_rss_mib", "duration", "expected_seconds", "failure", "limit_address_space", "markdown_table",
    "matmul_flop_rate", "number", "parameter_total", "peak_rss_mib", "random_ids", "release_free_memory",
    "reset_peak_rss", "run_in_child", "start_peak_window", "time_cell", "time_function", "timing_record",
    "train_step",
]
