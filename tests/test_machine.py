"""lion_bert.machine: the CPU's model name (from /proc/cpuinfo, else platform), the machine description written into
result files (machine_info) and model cards (describe_hardware); keep_freed_memory, the training scripts' allocator
setting (glibc, as on every machine this project runs on)."""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest
import torch
import transformers

from lion_bert import machine
from lion_bert.machine import cpu_model, describe_hardware, machine_info, usable_cores


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+ @ 2.0GHz
flags\t\t: fpu vme

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+ @ 2.0GHz
"""


@pytest.fixture
def cpuinfo_at(monkeypatch, tmp_path):
    """Point cpu_model's /proc/cpuinfo at a file of the test's (or at a missing one)."""

    def use(text):
        path = tmp_path / "cpuinfo"
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(machine, "Path", lambda _: path)

    return use


def test_cpu_model_reads_the_model_name_of_proc_cpuinfo(cpuinfo_at):
    cpuinfo_at(CPUINFO)
    assert cpu_model() == "Intel(R) Xeon(R) Platinum 8480+ @ 2.0GHz"
    cpuinfo_at("processor : 0\nModel Name   :   AMD EPYC 9654 96-Core Processor  \n")  # any case, trimmed
    assert cpu_model() == "AMD EPYC 9654 96-Core Processor"


def test_cpu_model_falls_back_to_platform(cpuinfo_at, monkeypatch):
    cpuinfo_at(None)  # no /proc/cpuinfo (macOS, Windows)
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    assert cpu_model() == "arm"
    cpuinfo_at("processor\t: 0\nBogoMIPS\t: 50.00\n")  # a cpuinfo without a model name (some ARM kernels)
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert cpu_model() == "aarch64"
    monkeypatch.setattr(platform, "machine", lambda: "")
    assert cpu_model() == "unknown CPU"


def test_cpu_model_of_this_machine():
    name = cpu_model()
    assert isinstance(name, str) and name.strip() == name and name
    if os.path.isfile("/proc/cpuinfo") and "model name" in open("/proc/cpuinfo").read():
        assert name in open("/proc/cpuinfo").read()


def test_machine_info_keys_and_types():
    info = machine_info()
    assert set(info) == {"cpu", "cores", "torch_threads", "torch", "transformers", "python", "platform"}
    assert info["cpu"] == cpu_model()
    assert isinstance(info["cores"], int) and info["cores"] >= 1
    if hasattr(os, "sched_getaffinity"):
        assert info["cores"] == len(os.sched_getaffinity(0)) == usable_cores()
    assert isinstance(info["torch_threads"], int) and info["torch_threads"] == torch.get_num_threads()
    assert info["torch"] == torch.__version__ and info["transformers"] == transformers.__version__
    assert info["python"] == platform.python_version() and info["platform"] == platform.platform()
    assert all(isinstance(info[key], str) and info[key] for key in ("cpu", "torch", "transformers", "python",
                                                                       "platform"))  # fmt: skip
    assert json.loads(json.dumps(info)) == info  # written into result files as is


def test_machine_info_follows_torch_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert machine_info()["torch_threads"] == 2
        torch.set_num_threads(1)
        assert machine_info()["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("flags, computes", [
    ("fpu avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True), ("fpu avx2 avx512f avx512_vnni", False),
    (None, False),
], ids=["avx512-bf16", "amx", "no-bf16", "no-flags"])  # fmt: skip
def test_cpu_computes_bf16_reads_the_cpu_flags(cpuinfo_at, flags, computes):
    cpuinfo_at(f"processor\t: 0\nflags\t\t: {flags}\n" if flags else "processor\t: 0\n")
    assert machine.cpu_computes_bf16() is computes


def test_describe_hardware_of_this_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cores = usable_cores()
    text = describe_hardware()
    assert text == f"CPU only, {cores} core{'s' if cores != 1 else ''} ({cpu_model()})"
    assert "\n" not in text and "processes" not in text
    assert describe_hardware(1) == text  # one process: nothing to add
    assert describe_hardware(4) == text + ", 4 processes (torch.distributed)"


@pytest.mark.parametrize("cores, words", [(1, "1 core "), (2, "2 cores "), (96, "96 cores ")])
def test_describe_hardware_counts_the_usable_cores(monkeypatch, cpuinfo_at, cores, words):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(machine, "usable_cores", lambda: cores)
    cpuinfo_at(CPUINFO)
    assert describe_hardware() == f"CPU only, {words}(Intel(R) Xeon(R) Platinum 8480+ @ 2.0GHz)"


def test_describe_hardware_names_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA H200")
    assert describe_hardware() == "8 x NVIDIA H200 GPU"
    assert describe_hardware(16) == "8 x NVIDIA H200 GPU, 16 processes (torch.distributed)"


# Fills 8 blocks of 4 MiB and frees them, 24 times, each round 64 KiB larger per block (as a batch's activations grow
# with its length), and prints the page faults of rounds 4-23 per page filled. By default glibc serves each round from
# fresh pages (mmap, as each block is larger than any freed before); with the setting, from the blocks freed.
PAGE_FAULTS_OF_REALLOCATION = textwrap.dedent(
    """
    import resource, sys
    import torch
    from lion_bert.machine import keep_freed_memory

    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    pages = faults = 0
    for round in range(24):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        values = (4 << 20) // 4 + round * (64 << 10) // 4  # float32 values
        blocks = [torch.empty(values).fill_(1.0) for _ in range(8)]
        del blocks
        if round >= 4:  # the first rounds fault their pages in with any setting
            faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            pages += 8 * values * 4 // resource.getpagesize()
    print(faults / pages)
    """
)


def test_keep_freed_memory_stops_the_page_faults_of_reallocated_tensors():
    def faults_per_page(setting):
        result = subprocess.run([sys.executable, "-c", PAGE_FAULTS_OF_REALLOCATION, setting], capture_output=True,
                                text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return float(result.stdout)

    assert faults_per_page("default") > 0.9  # every page, every round: the cost the setting removes
    assert faults_per_page("keep") < 0.1  # only what each round adds (1.5% here)


def test_keep_freed_memory_is_a_no_op_without_mallopt(monkeypatch):
    monkeypatch.setattr(machine.ctypes, "CDLL", lambda name: object())  # a C library without mallopt
    assert machine.keep_freed_memory() is False
