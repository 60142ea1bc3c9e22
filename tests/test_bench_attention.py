"""Smoke tests of scripts/bench_attention.py: a tiny run end to end, and the skip rule."""

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lion_bert import benchmarking

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_attention.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_attention", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_every_case(tmp_path):
    lengths = [16, 32]
    output_json, output_md = tmp_path / "attention.json", tmp_path / "attention.md"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--lengths", *map(str, lengths), "--heads", "2", "--head-dim", "8",
         "--min-run-time", "0.01", "--threads", "1", "--output-json", str(output_json), "--output-md", str(output_md)],
        check=True, capture_output=True, text=True, timeout=60,
    )
    report = json.loads(output_json.read_text())
    bench = load_script()
    expected = {(bench.SDPA, bench.SDPA, length) for length in lengths} | {
        (variant, mode, length) for variant in benchmarking.LION_VARIANTS for mode in bench.ATTENTION_MODES
        for length in lengths
    }
    assert {(case["variant"], case["mode"], case["length"]) for case in report["cases"]} == expected
    assert len(report["cases"]) == len(expected)
    for case in report["cases"]:
        for name in bench.PASSES:
            result = case[name]
            assert result["status"] == "ok", (case["variant"], case["mode"], case["length"], result)
            assert result["ms"] > 0 and result["peak_rss_growth_mib"] >= 0 and result["ms_iqr"] >= 0
            assert result["calls_per_replicate"] >= 1 and len(result["ms_replicates"]) >= 1
            assert min(result["ms_replicates"]) <= result["ms"] <= max(result["ms_replicates"])  # their median
        assert 0 < case["forward"]["matmul_fraction"]
        assert (case["mode"] == bench.SDPA) != ("speedup_vs_sdpa" in case["forward"])
    assert report["matmul"]["gflops"] > 0 and report["config"]["min_run_time"] == 0.01
    markdown = output_md.read_text()
    assert all(f"## {variant}" in markdown for variant in benchmarking.LION_VARIANTS)


def test_skip_rule():
    bench = load_script()
    args = argparse.Namespace(min_run_time=1.0, max_seconds_per_case=60.0, max_memory_gib=16.0)
    length = 16384
    lxl_bytes = 12 * length**2 * 4  # 12 GiB: the backward needs two, over the memory limit
    flops = bench.forward_flops("lion_lit", "parallel", 1, 12, length, 64, 64)
    plan = bench.plan_passes(args, "parallel", length, flops, lxl_bytes, 1e12, {}, {})
    assert plan["forward"] is None
    assert plan["forward_backward"]["status"] == "skipped" and "--max-memory-gib" in plan["forward_backward"]["reason"]
    # 0.05 s per recurrent forward at L=1024 scales to 0.8 s at 16384: a warm-up call and 1 s of replicates; the
    # backward, 2 s per call at 1024, to 32 s: a warm-up call and one timed call, 64 s in all
    history = {"forward": (1024, 0.05, 1.0), "forward_backward": (1024, 2.0, 1.0)}
    plan = bench.plan_passes(args, "recurrent", length, 0, lxl_bytes, 1e12, history, {})
    assert plan["forward"] is None
    assert plan["forward_backward"]["reason"] == "est. 64.0 s > --max-seconds-per-case 60"
    plan = bench.plan_passes(args, "chunk", length, 0, lxl_bytes, 1e12, {}, {"forward": 4096})
    assert plan["forward"]["reason"] == "failed at L=4096"
    assert plan["forward_backward"]["reason"] == "forward skipped"


def test_flags_parse_with_dashes_and_underscores(capsys):
    bench = load_script()
    # the memory budget is given: its default samples free memory at each parse, so two parses can differ
    dashed = bench.parse_args(["--head-dim", "8", "--min-run-time", "0.5", "--output-json", "a.json",
                               "--max-memory-gib", "3"])
    underscored = bench.parse_args(["--head_dim", "8", "--min_run_time", "0.5", "--output_json", "a.json",
                                    "--max_memory_gib", "3"])
    assert dashed == underscored and (dashed.head_dim, dashed.min_run_time, dashed.max_memory_gib) == (8, 0.5, 3.0)
    assert dashed.output_json == Path("a.json") and dashed.lengths == [2**p for p in range(7, 15)]
    assert bench.parse_args(["--variants", "lion_s", "lion_d"]).variants == ["lion_s", "lion_d"]
    with pytest.raises(SystemExit) as exited:
        bench.parse_args(["--variants", "lion_x"])
    assert exited.value.code == 2 and "--variants" in capsys.readouterr().err
