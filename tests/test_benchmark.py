"""Smoke tests of scripts/benchmark.py (the model-level benchmark): a tiny run end to end (with hedgehog rows), a tiny
compiled run, the default targets file and the command line's check of a targets file. Its plan and report are tested
in test_benchmark_plan.py and test_benchmark_report.py."""

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lion_bert import benchmark_plan, benchmark_report, benchmarking
from lion_bert.lion_attention import ATTENTION_MODES

from test_benchmark_report import SPEEDUPS, TARGETS, synthetic_report

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


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


def run_tiny(tmp_path, targets_file, lengths, train_lengths, *options, timeout=120):
    """The script's report of a 1-layer run at ``lengths`` and ``train_lengths``, one repeat, one thread."""
    subprocess.run(
        [sys.executable, str(SCRIPT), "--layers", "1", "--heads", "2", "--lengths", *map(str, lengths),
         "--train-lengths", *map(str, train_lengths), "--train-tokens", "256", "--repeats", "1", "--threads", "1",
         "--targets", str(targets_file), "--output-dir", str(tmp_path), *options],
        check=True, capture_output=True, text=True, timeout=timeout,
    )
    return json.loads((tmp_path / "benchmark.json").read_text())


def cases_run(records):
    return {(r["length"], *benchmark_report.case_of(r)) for r in records}


def test_tiny_run_writes_every_case(tmp_path, targets_file):
    lengths, train_lengths = [64, 128], [128]
    report = run_tiny(tmp_path, targets_file, lengths, train_lengths, "--hidden", "32", "--intermediate", "64",
                      "--feature-maps", "fixed", "hedgehog")
    assert report["machine"]["cpu"] and report["machine"]["torch"] and report["matmul"]["gflops"] > 0
    assert report["config"]["feature_maps"] == ["fixed", "hedgehog"] and report["config"]["compile"] is False

    expected = {(length, *case) for length in train_lengths for case in benchmark_plan.cases_of(
        benchmarking.LION_VARIANTS, ["parallel", "chunk"], ["fixed", "hedgehog"], ["parallel"])}
    assert {(128, variant, "parallel", "hedgehog", False) for variant in benchmarking.LION_VARIANTS} < expected
    assert cases_run(report["training"]) == expected
    assert len(report["training"]) == len(expected)
    for record in report["training"]:
        assert record["status"] == "ok", record
        assert record["ms"] > 0 and record["batch"] == 256 // record["length"] and record["matmul_fraction"] > 0
        assert (record["model"] == benchmarking.BERT) != ("ratio_vs_bert" in record)

    expected = {(length, *case) for length in lengths for case in benchmark_plan.cases_of(
        benchmarking.LION_VARIANTS, ATTENTION_MODES, ["fixed", "hedgehog"], ["chunk"])}
    assert {(64, variant, "chunk", "hedgehog", False) for variant in benchmarking.LION_VARIANTS} < expected
    assert cases_run(report["inference"]) == expected
    assert len(report["inference"]) == len(expected)
    for record in report["inference"]:
        assert record["status"] == "ok", record
        assert record["ms"] > 0 and record["peak_rss_growth_mib"] >= 0 and record["matmul_fraction"] > 0
        assert (record["model"] == benchmarking.BERT) != ("speedup_vs_bert" in record)
        assert (record["mode"] in ("chunk", "recurrent")) == (record["chunk_size"] is not None)
    assert [row["length"] for row in report["best_vs_bert"]] == lengths
    assert all(set(row["variants"]) == set(benchmarking.LION_VARIANTS) for row in report["best_vs_bert"])

    statuses = {target["id"]: target["status"] for target in report["targets"]}
    assert len(statuses) == 15 and report["config"]["targets"] == {"file": str(targets_file), "source": "test"}
    for variant in benchmarking.LION_VARIANTS:  # L = 128 was trained: the training targets are decided; not 4096
        assert statuses[f"train_ratio_128_{variant}"] in ("met", "missed")
        assert statuses[f"inference_speedup_4096_{variant}"] == "not measured"

    markdown = (tmp_path / "benchmark.md").read_text()
    for heading in ("## Targets", "From targets.json: test.", "## Training step", "## Inference",
                    "### Best LION form vs BERT"):
        assert heading in markdown
    assert report["machine"]["cpu"] in markdown
    assert all(f"| {benchmark_plan.case_label(*case)} |" in markdown for _, *case in expected)
    assert "| 64 | LION-S hedgehog chunk |" in markdown and "Hedgehog rows: the LION variant" in markdown
    assert "## torch.compile" not in markdown
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # compiles six models (about 20 s each on one thread)
def test_tiny_compiled_run_puts_compiled_rows_beside_eager(tmp_path, targets_file):
    report = run_tiny(tmp_path, targets_file, [64], [64], "--hidden", "64", "--intermediate", "128",
                      "--variants", "lion_s", "--modes", "chunk", "--train-modes", "parallel",
                      "--feature-maps", "fixed", "hedgehog", "--compile", timeout=900)
    assert report["config"]["compile"] is True
    # compiled BERT and each LION case of the chunk form (inference) and the parallel form (training), with and
    # without hedgehog (both LION models compile on the frame they share in the training process)
    for phase, mode in (("training", "parallel"), ("inference", "chunk")):
        eager = {(64, benchmarking.BERT, "sdpa", "fixed", False), (64, "lion_s", mode, "fixed", False),
                 (64, "lion_s", mode, "hedgehog", False)}
        assert cases_run(report[phase]) == eager | {(*case[:4], True) for case in eager}
        for record in report[phase]:
            assert record["status"] == "ok", record
            assert math.isfinite(record["ms"]) and record["ms"] > 0
            assert record["compiled"] == ("compile_seconds" in record) == ("compiled_vs_eager" in record)
            if record["compiled"]:
                assert math.isfinite(record["compile_seconds"]) and record["compile_seconds"] > 0
                assert math.isfinite(record["compiled_vs_eager"]) and record["compiled_vs_eager"] > 0
            ratio = benchmark_report.RATIO_VS_BERT[phase]
            assert (record["model"] == benchmarking.BERT) != (ratio in record)  # compiled: vs compiled BERT
    markdown = (tmp_path / "benchmark.md").read_text()
    assert "## torch.compile: compiled vs eager" in markdown and "| 64 | LION-S hedgehog chunk compiled |" in markdown
    assert "| training | 64 | LION-S hedgehog parallel compiled |" in markdown
    assert "| inference | 64 | BERT (SDPA) compiled |" in markdown


def test_feature_maps_default_to_both_and_compiling_is_opt_in(bench):
    args = bench.parse_args([])
    assert args.feature_maps == ["fixed", "hedgehog"] and args.compile is False
    args = bench.parse_args(["--feature-maps", "fixed", "--compile"])
    assert args.feature_maps == ["fixed"] and args.compile is True
    plan = benchmark_plan.BenchmarkPlan(args)  # hedgehog rows only where asked: the fixed set and its compiled twins
    assert {case.feature_map for case in plan.train_cases + plan.inference_cases} == {"fixed"}
    assert [benchmark_plan.case_label(*case) for case in plan.train_cases if case.compiled] == [
        "BERT (SDPA) compiled", "LION-LIT parallel compiled", "LION-D parallel compiled", "LION-S parallel compiled"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--feature-maps", "elu"])


def test_dashed_and_underscored_flags_parse_alike_and_bad_values_name_their_flag(bench, capsys):
    flags = {"train-lengths": ["64", "128"], "train-tokens": ["256"], "chunk-size": ["32"], "train-modes": ["chunk"],
             "feature-maps": ["fixed"], "train-micro-batches": ["2"], "max-seconds-per-case": ["10"],
             "max-memory-gib": ["2"], "output-dir": ["out"], "estimate-only": [], "skip-training": [],
             "skip-inference": []}
    dashed, underscored = (vars(bench.parse_args([word for flag, values in flags.items() for word in
                                                  (f"--{flag.replace('-', separator)}", *values)]))
                           for separator in "-_")
    assert dashed == underscored
    defaults = vars(bench.parse_args([]))
    assert all(dashed[flag.replace("-", "_")] != defaults[flag.replace("-", "_")] for flag in flags)
    assert dashed["train_lengths"] == [64, 128] and dashed["estimate_only"] is True and dashed["compile"] is False
    assert dashed["targets"] == benchmark_report.load_targets(bench.DEFAULT_TARGETS)  # loaded, not a path
    # every command of the script's docstring parses
    commands = bench.__doc__.replace("\\\n", " ").split("python scripts/benchmark.py")[1:]
    assert len(commands) == 5
    for command in commands:
        bench.parse_args(command.split("#")[0].split())
    for argv, message in ((["--hidden", "65", "--heads", "2"], "--hidden (65) must be a multiple of --heads (2)"),
                          (["--train_lengths", "64", "0"], "--train-lengths must be positive"),
                          (["--repeats", "0"], "--repeats must be positive"), (["--bogus"], "--bogus")):
        with pytest.raises(SystemExit) as exited:
            bench.parse_args(argv)
        assert exited.value.code == 2 and message in capsys.readouterr().err


def test_the_default_targets_file_loads(bench):
    targets = benchmark_report.load_targets(bench.DEFAULT_TARGETS)
    assert targets["source"] and targets["targets"]
    report = synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    rows = benchmark_report.check_targets(report, targets)
    assert len(rows) == sum(len(target["limits"]) for target in targets["targets"])
    assert all(row["status"] in ("met", "missed", "not measured") and row["description"] for row in rows)


@pytest.mark.parametrize("broken, message", [
    ({"targets": []}, "needs the keys"),
    ({"source": "x", "targets": [{"kind": "train_speed", "limits": {}}]}, "unknown target kind 'train_speed'"),
    ({"source": "x", "targets": [{"kind": "train_ratio", "limits": {"lion_lit": 1.0}}]},
     "a train_ratio target lacks length"),
    ({"source": "x", "targets": [{"kind": "chunk_flop_rate", "min_length": 8, "limits": {"lion_x": 1}}]},
     "names unknown variants lion_x"),
    ({"source": "x", "targets": [{"kind": "chunk_flop_rate", "min_length": 8, "limits": {}, "feature_map": "elu"}]},
     "has feature_map 'elu', not one of fixed, hedgehog"),
    ({"source": "x", "targets": [{"kind": "chunk_flop_rate", "min_length": 8, "limits": {}, "compiled": "yes"}]},
     "has a compiled that is not true or false"),
])
def test_load_targets_rejects_what_it_cannot_check(bench, tmp_path, capsys, broken, message):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=re.escape(message)):
        benchmark_report.load_targets(path)
    with pytest.raises(SystemExit) as exited:  # the command line refuses it before measuring anything
        bench.parse_args(["--targets", str(path)])
    assert exited.value.code == 2 and f"--targets: {path}" in capsys.readouterr().err
