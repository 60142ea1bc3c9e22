"""What machine a measurement ran on, for result files, reports and model cards; and the process set-up of the
training scripts: logging that names each process and its device as transformers' examples do, and the C allocator's
settings."""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from pathlib import Path

import torch


def _cpuinfo_field(name: str) -> str | None:
    """The value of the first `name` line of /proc/cpuinfo (Linux), None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_computes_bf16() -> bool:
    """Whether the CPU has bfloat16 instructions (x86's AMX or AVX512-BF16, read from /proc/cpuinfo on Linux): there
    bf16 autocast speeds training up; elsewhere it is emulated and slows it down. False where the flags are unknown."""
    flags = (_cpuinfo_field("flags") or "").split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine_info() -> dict:
    """{"cpu", "cores", "torch_threads", "torch", "transformers", "python", "platform"} of this process."""
    import transformers

    return {"cpu": cpu_model(), "cores": usable_cores(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def describe_hardware(world_size: int | None = None) -> str:
    """One line: the GPUs, or the CPU and its usable cores (and the processes of a distributed run)."""
    if torch.cuda.is_available():
        text = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)} GPU"
    else:
        cores = usable_cores()
        text = f"CPU only, {cores} core{'s' if cores != 1 else ''} ({cpu_model()})"
    if world_size and world_size > 1:
        text += f", {world_size} processes (torch.distributed)"
    return text


def has_accelerator() -> bool:
    """True when torch sees a GPU or another accelerator."""
    accelerator = getattr(torch, "accelerator", None)
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


def run_processes_on_cpu_without_accelerator() -> None:
    """Under torchrun (WORLD_SIZE > 1) on a machine without an accelerator, let accelerate (which the Trainer uses)
    run the N processes on the CPU over gloo, as `accelerate launch --cpu` would; call before parsing
    TrainingArguments."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not has_accelerator():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit machines
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LARGEST_MMAP_THRESHOLD = 32 << 20
_NEVER_TRIM = 2**31 - 1  # mallopt takes a C int: the heap top is given back only beyond 2 GiB free


def keep_freed_memory() -> bool:
    """Let glibc keep the memory of freed tensors for the next allocation rather than give it back to the kernel.

    By default glibc serves a large allocation from fresh pages (mmap) and unmaps them when it is freed, and trims the
    free top of its heap. A training step on CPU frees and re-allocates hundreds of MB of activations whose size
    changes with each batch's length, so each step faults every page in again, zero-filled by the kernel. Here blocks
    below 32 MiB come from the heap, whose free top is given back only beyond 2 GiB: the process keeps its peak
    memory, and steps stop paying for page faults. Call once at the start of a training script; memory already
    allocated is unaffected. Returns True when both settings took, False where the C library has no ``mallopt`` or
    ignores it (macOS, Windows, musl): nothing changes there.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _LARGEST_MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))


def setup_run_logging(logger: logging.Logger, training_args) -> None:
    """Log to stdout at the level of `training_args` (transformers' `TrainingArguments`: the main process logs at
    INFO, the others at their `log_level_replica`), for `logger`, 🤗 datasets and transformers; then name this process
    and its device."""
    import datasets
    import transformers

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        handlers=[logging.StreamHandler(sys.stdout)])
    log_level = training_args.get_process_log_level()
    logger.setLevel(logging.INFO if training_args.should_log else log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    logger.info("Process %d of %d, device %s", training_args.process_index, training_args.world_size,
                training_args.device)


__all__ = [
    "cpu_computes_bf16",
    "cpu_model",
    "describe_hardware",
    "has_accelerator",
    "keep_freed_memory",
    "machine_info",
    "run_processes_on_cpu_without_accelerator",
    "setup_run_logging",
    "usable_cores",
]
