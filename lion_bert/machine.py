"""What machine a measurement ran on, for result files, reports and model cards."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


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


__all__ = ["cpu_model", "describe_hardware", "machine_info", "usable_cores"]
