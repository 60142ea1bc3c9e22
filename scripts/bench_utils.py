"""Helpers shared by the benchmark scripts (bench_attention.py, benchmark.py): child processes that report their
peak memory, timing, the machine description, the matmul reference rate and markdown formatting.

The scripts import this file as ``bench_utils`` with their own folder on ``sys.path``.
"""

import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from lion_bert.machine import machine_info  # noqa: F401  (re-exported for the benchmarks)

MATMUL_SIZE = 2048
MIB = 2**20
RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux


# ----------------------------------------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------------------------------------


def reset_peak_rss():
    """Lower this process's peak RSS to its current RSS (Linux >= 4.0). False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def release_free_memory():
    """Hand the memory freed inside the C heap back to the system (glibc's malloc_trim), so that the next peak RSS
    growth counts every allocation instead of reusing what earlier work left resident. False where unavailable."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) or True)
    except (OSError, AttributeError):
        return False


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RU_MAXRSS_BYTES / MIB


def current_rss_mib():
    """Resident set size now (VmRSS of /proc/self/status), or the peak where there is no /proc."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return peak_rss_mib()


def limit_address_space(budget_bytes):
    """Let this process map at most ``budget_bytes`` more virtual memory (RLIMIT_AS, Linux), so that an allocation
    beyond it raises RuntimeError in torch instead of waking the kernel's OOM killer. False where not possible."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return False
    size = next((int(line.split()[1]) * 1024 for line in status.read_text().splitlines()
                 if line.startswith("VmSize:")), None)
    if size is None:
        return False
    try:
        resource.setrlimit(resource.RLIMIT_AS, (size + int(budget_bytes), resource.RLIM_INFINITY))
    except (ValueError, OSError):
        return False
    return True


def time_runs(function, repeats):
    """Seconds of each of ``repeats`` calls, after one warm-up call."""
    function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def run_in_child(context, target, spec, names, timeout):
    """Run ``target(spec, connection)`` in a fresh child process of the multiprocessing ``context``; the target
    sends (name, result dict) pairs, one per name in ``names``. Returns {name: result} with a "failed" result
    (and the reason: timeout, killed, exit code) for every name the child did not send."""
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(spec, sender))
    child.start()
    sender.close()
    results, deadline, timed_out = {}, time.monotonic() + timeout, False
    while len(results) < len(names):
        if not receiver.poll(max(0.0, deadline - time.monotonic())):
            timed_out = True
            child.kill()
            break
        try:
            name, result = receiver.recv()
        except EOFError:  # the child exited
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


def child_context(preload):
    """A multiprocessing context for measuring children: a fork server that imported ``preload`` once (children
    start in milliseconds; they reset the peak RSS they inherit with `reset_peak_rss`), or, where the peak RSS
    cannot be reset, fresh spawned processes."""
    context = multiprocessing.get_context("forkserver" if reset_peak_rss() else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(list(preload))
    return context


# ----------------------------------------------------------------------------------------------------------
# Machine
# ----------------------------------------------------------------------------------------------------------


def available_memory_gib():
    """MemAvailable of /proc/meminfo, or the physical memory where there is no /proc."""
    if Path("/proc/meminfo").is_file():
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30


def matmul_flop_rate(repeats):
    """FLOP/s of a float32 MATMUL_SIZE^3 matmul: the median of max(repeats, 3) runs after one warm-up."""
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    return 2 * MATMUL_SIZE**3 / statistics.median(time_runs(lambda: a @ b, max(repeats, 3)))


# ----------------------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------------------


def number(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def duration(seconds):
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
