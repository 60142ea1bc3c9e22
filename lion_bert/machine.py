"""What machine a measurement ran on, for result files, reports and model cards; and the logging set-up of the
training scripts, which names each process and its device as transformers' examples do."""

from __future__ import annotations

import logging
import os
import platform
import sys
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
    "cpu_model",
    "describe_hardware",
    "has_accelerator",
    "machine_info",
    "run_processes_on_cpu_without_accelerator",
    "setup_run_logging",
    "usable_cores",
]
