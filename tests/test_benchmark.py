"""Smoke tests of scripts/benchmark.py (the model-level benchmark): a tiny run end to end, the FLOP formulas, the
skip rule, the targets file and the targets check."""

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lion_bert.benchmarking import build_encoder

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


# limits chosen so that one check of each kind passes and one fails in `synthetic_report`'s two settings
TARGETS = {"source": "test", "targets": [
    {"kind": "train_ratio", "length": 128, "limits": {"lion_lit": 1.00, "lion_d": 1.05, "lion_s": 1.15}},
    {"kind": "inference_speedup", "length": 4096, "limits": {"lion_lit": 1.6, "lion_d": 1.6, "lion_s": 1.6}},
    {"kind": "inference_speedup", "length": 16384, "limits": {"lion_lit": 3.5, "lion_d": 3.5, "lion_s": 3.5}},
    {"kind": "recurrent_memory", "length": 32768, "doubling_range": [1.5, 2.5],
     "limits": {"lion_lit": 2.0, "lion_d": 2.0, "lion_s": 2.0}},
    {"kind": "chunk_flop_rate", "min_length": 2048, "limits": {"lion_lit": 0.7, "lion_d": 0.7, "lion_s": 0.7}},
]}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def targets_file(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(TARGETS))
    return path


def test_tiny_run_writes_every_case(tmp_path, bench, targets_file):
    lengths, train_lengths = [64, 128], [128]
    subprocess.run(
        [sys.executable, str(SCRIPT), "--layers", "1", "--hidden", "32", "--heads", "2", "--intermediate", "64",
         "--lengths", *map(str, lengths), "--train-lengths", *map(str, train_lengths), "--train-tokens", "256",
         "--repeats", "1", "--threads", "1", "--targets", str(targets_file), "--output-dir", str(tmp_path)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert report["machine"]["cpu"] and report["machine"]["torch"] and report["matmul"]["gflops"] > 0

    expected = {(length, model, mode) for length in train_lengths
                for model, mode in bench.cases_of(bench.LION_VARIANTS, ["parallel", "chunk"])}
    assert {(r["length"], r["model"], r["mode"]) for r in report["training"]} == expected
    assert len(report["training"]) == len(expected)
    for record in report["training"]:
        assert record["status"] == "ok", record
        assert record["ms"] > 0 and record["batch"] == 256 // record["length"] and record["matmul_fraction"] > 0
        assert (record["model"] == bench.BERT) != ("ratio_vs_bert" in record)

    expected = {(length, model, mode) for length in lengths
                for model, mode in bench.cases_of(bench.LION_VARIANTS, bench.ATTENTION_MODES)}
    assert {(r["length"], r["model"], r["mode"]) for r in report["inference"]} == expected
    assert len(report["inference"]) == len(expected)
    for record in report["inference"]:
        assert record["status"] == "ok", record
        assert record["ms"] > 0 and record["peak_rss_growth_mib"] >= 0 and record["matmul_fraction"] > 0
        assert (record["model"] == bench.BERT) != ("speedup_vs_bert" in record)
        assert (record["mode"] == "chunk") == (record["chunk_size"] is not None)
    assert [row["length"] for row in report["best_vs_bert"]] == lengths
    assert all(set(row["variants"]) == set(bench.LION_VARIANTS) for row in report["best_vs_bert"])

    statuses = {target["id"]: target["status"] for target in report["targets"]}
    assert len(statuses) == 15 and report["config"]["targets"] == {"file": str(targets_file), "source": "test"}
    for variant in bench.LION_VARIANTS:  # L = 128 was trained: the training targets are decided; 4096 was not run
        assert statuses[f"train_ratio_128_{variant}"] in ("met", "missed")
        assert statuses[f"inference_speedup_4096_{variant}"] == "not measured"

    markdown = (tmp_path / "benchmark.md").read_text()
    for heading in ("## Targets", "From targets.json: test.", "## Training step", "## Inference",
                    "### Best LION form vs BERT"):
        assert heading in markdown
    assert report["machine"]["cpu"] in markdown
    assert all(f"| {bench.case_label(model, mode)} |" in markdown for _, model, mode in expected)
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forward_flops(bench):
    h, i, d, layers, length = 768, 3072, 64, 12, 128
    dims = dict(bench.BERT_BASE_DIMS)
    dense = 2 * length * (4 * h * h + 2 * h * i)
    assert bench.forward_flops("sdpa", 3, length, dims, 64) == 3 * layers * (dense + 4 * length**2 * h)
    assert bench.forward_flops("parallel", 1, length, dims, 64) == layers * (dense + 4 * length**2 * h)
    chunk = 4 * length * 64 * h + 8 * length * h * d
    assert bench.forward_flops("chunk", 1, length, dims, 64) == layers * (dense + chunk)
    assert bench.forward_flops("chunk", 1, 16, dims, 64) == layers * (  # C = min(chunk size, L)
        2 * 16 * (4 * h * h + 2 * h * i) + 4 * 16 * 16 * h + 8 * 16 * h * d)
    assert bench.forward_flops("recurrent", 1, length, dims, 64) == layers * (dense + 6 * length * h * d)


def test_parameter_count_matches_the_models(bench):
    dims = {"layers": 2, "hidden": 32, "heads": 4, "intermediate": 48}
    for model in (bench.BERT, *bench.LION_VARIANTS):
        built = build_encoder(model, dims, 600)
        assert sum(p.numel() for p in built.parameters()) == bench.parameter_count(model, dims, 600), model


def make_benchmark(bench, **overrides):
    values = dict(layers=12, hidden=768, heads=12, intermediate=3072, lengths=[512, 16384], train_lengths=[128],
                  train_tokens=16384, repeats=3, threads=1, chunk_size=None, variants=list(bench.LION_VARIANTS),
                  modes=list(bench.ATTENTION_MODES), train_modes=["parallel", "chunk"], skip_training=False,
                  skip_inference=False, max_seconds_per_case=300.0, max_memory_gib=16.0, train_micro_batches=None,
                  estimate_only=False, targets={"file": "targets.json", **TARGETS})
    values.update(overrides)
    benchmark = bench.Benchmark(argparse.Namespace(**values))
    benchmark.probes, benchmark.matmul_rate = {}, 200e9
    return benchmark


def test_skip_rule(bench):
    benchmark = make_benchmark(bench)
    # without probes and measurements, the FLOPs at the matmul rate: BERT-base at 512 is cheap
    skip, estimate, _ = benchmark.plan_inference_case((bench.BERT, "sdpa"), 512, None, None)
    assert skip is None and estimate["estimated_forward_seconds"] > 0
    # LION parallel at 16384: 12 heads x 16384^2 float32 = 12 GiB at least, plus the model
    benchmark = make_benchmark(bench, max_seconds_per_case=1e9, max_memory_gib=8.0)
    skip, _, _ = benchmark.plan_inference_case(("lion_s", "parallel"), 16384, None, None)
    assert skip["status"] == "skipped" and "--max-memory-gib" in skip["reason"]
    # 20 s per forward measured at 4096 scale with the FLOPs (x 9.6) to more than 300 s for 3 forwards at 16384
    skip, _, _ = make_benchmark(bench).plan_inference_case((bench.BERT, "sdpa"), 16384, (4096, 20.0, 10.0), None)
    assert skip["reason"].startswith("est.") and skip["reason"].endswith("> --max-seconds-per-case 300")
    skip, _, _ = make_benchmark(bench).plan_inference_case(("lion_d", "chunk"), 16384, None, 4096)
    assert skip["reason"] == "failed at L=4096"


def test_training_plan_splits_a_batch_that_does_not_fit(bench):
    benchmark = make_benchmark(bench, max_memory_gib=8.0)
    probe = {"status": "ok", "tokens": 1024, "params": 31_000_000, "forward_backward_seconds": 0.2,
             "optimizer_seconds": 0.05, "peak_rss_growth_mib": 118 + 100}  # gradients + 100 MiB of activations
    benchmark.probes = {f"training/128/{bench.case_key(*case)}": probe for case in benchmark.train_cases}
    plan, estimates, seconds = benchmark.plan_training(128)
    # 100 MiB per 1024 token-layers: 19200 MiB for 16384 tokens x 12 layers, over the 8 GiB budget in one piece
    # (with the four models' weights and AdamW moments, about 5 GiB): 16 micro-batches of 1200 MiB fit
    assert all(skip is None for skip in plan.values()) and seconds > 0
    assert all(estimate["micro_batches"] == 16 for estimate in estimates.values())
    assert all(6 * 1024 < estimate["estimated_peak_mib"] <= 8 * 1024 for estimate in estimates.values())
    plan, _, _ = make_benchmark(bench, max_memory_gib=8.0, train_micro_batches=1, max_seconds_per_case=1e9
                                ).plan_training(128)
    assert all(skip is None for skip in plan.values())  # no probe: only the lower bounds, which fit


LENGTHS = (2048, 4096, 8192, 16384, 32768)
SPEEDUPS = [  # (BERT ms, LION chunk-form ms) per length: 2x at 4096, 4x at 16384; then 1.33x at 4096, 2x at 16384
    (dict(zip(LENGTHS, (100.0, 400.0, 1600.0, 6400.0, 25600.0))), dict(zip(LENGTHS, bert_and_lion)))
    for bert_and_lion in ((100.0, 200.0, 400.0, 1600.0, 3200.0), (100.0, 300.0, 800.0, 3200.0, 6400.0))
]


def synthetic_report(bench, dims, bert_ms, lion_ms, recurrent_growth):
    """A report with training at L=128 and inference at 2048 ... 32768, as `Benchmark.run` would build it."""
    training = [{"length": 128, "model": bench.BERT, "mode": "sdpa", "status": "ok", "ms": 100.0}] + [
        {"length": 128, "model": v, "mode": mode, "status": "ok", "ms": ms, "ratio_vs_bert": ms / 100.0}
        for v in bench.LION_VARIANTS for mode, ms in (("parallel", 104.0), ("chunk", 99.0))]
    inference = []
    for length in (2048, 4096, 8192, 16384, 32768):
        inference.append({"length": length, "model": bench.BERT, "mode": "sdpa", "status": "ok", "ms": bert_ms[length]})
        for v in bench.LION_VARIANTS:
            for mode in bench.ATTENTION_MODES:
                inference.append({"length": length, "model": v, "mode": mode, "status": "ok",
                                  "ms": lion_ms[length] * (1 if mode == "chunk" else 2), "matmul_fraction": 0.75,
                                  "peak_rss_growth_mib": recurrent_growth * length / 32768, "model_mib": 420.0})
    report = {"config": {"dims": dims, "variants": list(bench.LION_VARIANTS), "lengths": [2048, 4096, 8192, 16384, 32768]},
              "training": training, "inference": inference}
    report["best_vs_bert"] = bench.best_vs_bert(report)
    return report


def test_check_targets(bench):
    report = synthetic_report(bench, dict(bench.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    targets = {t["id"]: t for t in bench.check_targets(report, TARGETS)}
    assert targets["train_ratio_128_lion_lit"]["status"] == "met"  # 0.99x, in the chunk form
    assert targets["train_ratio_128_lion_lit"]["measured"] == "0.99x (chunk); parallel 1.04x"
    description = targets["train_ratio_128_lion_lit"]["description"]
    assert description == "training step at L = 128: LION-LIT time <= 1.00x BERT's"
    assert all(targets[f"inference_speedup_{length}_{v}"]["status"] == "met"
               for length in (4096, 16384) for v in bench.LION_VARIANTS)
    assert targets["recurrent_memory_32768_lion_s"]["status"] == "met"  # 420 + 1000 MiB, x2.00 per doubling
    assert "<= 2 GB (1907 MiB) at L = 32768" in targets["recurrent_memory_32768_lion_s"]["description"]
    assert targets["chunk_flop_rate_lion_d"]["status"] == "met"
    assert targets["chunk_flop_rate_lion_d"]["description"].endswith(">= 70% of the matmul FLOP rate for L >= 2048")

    report = synthetic_report(bench, dict(bench.BERT_BASE_DIMS), *SPEEDUPS[1], recurrent_growth=1600.0)
    for record in report["inference"]:
        record["matmul_fraction"] = 0.5
    targets = {t["id"]: t for t in bench.check_targets(report, TARGETS)}
    assert targets["inference_speedup_4096_lion_d"]["status"] == "missed"
    assert targets["inference_speedup_16384_lion_d"]["value"] == pytest.approx(2.0)
    assert targets["recurrent_memory_32768_lion_d"]["status"] == "missed"  # 420 + 1600 MiB > 2 GB
    assert targets["chunk_flop_rate_lion_lit"]["status"] == "missed"
    # the same measurements against a stricter training target and a looser speedup: the data decides
    stricter = {"source": "test", "targets": [{"kind": "train_ratio", "length": 128, "limits": {"lion_lit": 0.98}},
                                              {"kind": "inference_speedup", "length": 4096, "limits": {"lion_d": 1.3}}]}
    assert [t["status"] for t in bench.check_targets(report, stricter)] == ["missed", "met"]

    report["inference"] = [r for r in report["inference"] if r["length"] != 16384]
    report["best_vs_bert"] = bench.best_vs_bert(report)
    targets = {t["id"]: t for t in bench.check_targets(report, TARGETS)}
    assert targets["inference_speedup_16384_lion_s"]["status"] == "not measured"
    assert targets["recurrent_memory_32768_lion_s"]["status"] == "not measured"  # no 16384 to compare 32768 with
    report["config"]["variants"] = ["lion_d"]
    targets = {t["id"]: t for t in bench.check_targets(report, TARGETS)}
    assert targets["train_ratio_128_lion_s"]["status"] == "not measured"
    assert targets["train_ratio_128_lion_s"]["note"] == "variant not run"


def test_the_default_targets_file_loads(bench):
    targets = bench.load_targets(bench.DEFAULT_TARGETS)
    assert targets["source"] and targets["targets"]
    report = synthetic_report(bench, dict(bench.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    rows = bench.check_targets(report, targets)
    assert len(rows) == sum(len(target["limits"]) for target in targets["targets"])
    assert all(row["status"] in ("met", "missed", "not measured") and row["description"] for row in rows)


@pytest.mark.parametrize("broken, message", [
    ({"targets": []}, "needs the keys"),
    ({"source": "x", "targets": [{"kind": "train_speed", "limits": {}}]}, "unknown target kind 'train_speed'"),
    ({"source": "x", "targets": [{"kind": "train_ratio", "limits": {"lion_lit": 1.0}}]},
     "a train_ratio target lacks length"),
    ({"source": "x", "targets": [{"kind": "chunk_flop_rate", "min_length": 8, "limits": {"lion_x": 1}}]},
     "names unknown variants lion_x"),
])
def test_load_targets_rejects_what_it_cannot_check(bench, tmp_path, capsys, broken, message):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=re.escape(message)):
        bench.load_targets(path)
    with pytest.raises(SystemExit) as exited:  # the command line refuses it before measuring anything
        bench.parse_args(["--targets", str(path)])
    assert exited.value.code == 2 and f"--targets: {path}" in capsys.readouterr().err
