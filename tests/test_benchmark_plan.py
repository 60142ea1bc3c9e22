"""lion_bert.benchmark_plan: the cases, FLOP formulas, parameter counts, estimates and skip rule of the model-level
benchmark."""

import argparse

import pytest

from lion_bert import benchmark_plan, benchmarking
from lion_bert.lion_attention import ATTENTION_MODES

BERT, LION_VARIANTS, Case = benchmarking.BERT, benchmarking.LION_VARIANTS, benchmark_plan.Case


def test_cases_put_bert_first_and_name_every_form():
    cases = benchmark_plan.cases_of(["lion_s"], ["parallel", "chunk"])
    assert cases == [Case(BERT, "sdpa"), Case("lion_s", "parallel"), Case("lion_s", "chunk")]
    assert cases[1] == Case("lion_s", "parallel", "fixed", False) and cases[1][:2] == ("lion_s", "parallel")
    assert [benchmark_plan.case_label(*case) for case in cases] == ["BERT (SDPA)", "LION-S parallel", "LION-S chunk"]
    assert benchmark_plan.case_key("lion_d", "recurrent") == "lion_d/recurrent"


def test_hedgehog_and_compiled_cases_stand_beside_their_fixed_eager_twins():
    cases = benchmark_plan.cases_of(["lion_lit", "lion_s"], ["parallel", "chunk", "recurrent"],
                                    ["fixed", "hedgehog"], ["chunk"], compiled=True)
    assert [benchmark_plan.case_label(*case) for case in cases] == [
        "BERT (SDPA)", "BERT (SDPA) compiled",
        "LION-LIT parallel", "LION-LIT chunk", "LION-LIT chunk compiled", "LION-LIT recurrent",
        "LION-LIT hedgehog chunk", "LION-LIT hedgehog chunk compiled",
        "LION-S parallel", "LION-S chunk", "LION-S chunk compiled", "LION-S recurrent",
        "LION-S hedgehog chunk", "LION-S hedgehog chunk compiled"]
    assert [benchmark_plan.case_key(*case) for case in cases[:2] + cases[-2:]] == [
        "bert/sdpa", "bert/sdpa/compiled", "lion_s/chunk/hedgehog", "lion_s/chunk/hedgehog/compiled"]
    assert len({benchmark_plan.case_key(*case) for case in cases}) == len(cases)
    assert cases[-1] == Case("lion_s", "chunk", "hedgehog", True) and cases[-1].eager == cases[-2]
    assert cases[-1].build == cases[-2].build == ("lion_s", "hedgehog") and cases[1].build == (BERT, "fixed")
    # hedgehog only: no fixed LION rows; a form outside extra_modes has no hedgehog row
    assert benchmark_plan.cases_of(["lion_d"], ["parallel", "recurrent"], ["hedgehog"], ["parallel"]) == [
        Case(BERT, "sdpa"), Case("lion_d", "parallel", "hedgehog")]
    assert Case(BERT, "sdpa").forward_kwargs(32) == {}
    assert Case("lion_d", "chunk").forward_kwargs(None) == {"attention_mode": "chunk", "chunk_size": None}


def test_forward_flops():
    h, i, d, layers, length = 768, 3072, 64, 12, 128
    dims = dict(benchmarking.BERT_BASE_DIMS)
    dense = 2 * length * (4 * h * h + 2 * h * i)
    assert benchmark_plan.forward_flops("sdpa", 3, length, dims, 64) == 3 * layers * (dense + 4 * length**2 * h)
    assert benchmark_plan.forward_flops("parallel", 1, length, dims, 64) == layers * (dense + 4 * length**2 * h)
    chunk = 4 * length * 64 * h + 8 * length * h * d
    assert benchmark_plan.forward_flops("chunk", 1, length, dims, 64) == layers * (dense + chunk)
    assert benchmark_plan.forward_flops("chunk", 1, 16, dims, 64) == layers * (  # C = min(chunk size, L)
        2 * 16 * (4 * h * h + 2 * h * i) + 4 * 16 * 16 * h + 8 * 16 * h * d)
    # the recurrent form runs the chunk form's products, one block at a time
    assert benchmark_plan.forward_flops("recurrent", 1, length, dims, 64) == layers * (dense + chunk)
    # hedgehog: 2 d features per query and key double Q K^T and the state products; its maps add 4 L h d
    hedgehog_map = 4 * length * h * d
    assert benchmark_plan.forward_flops("parallel", 1, length, dims, 64, "hedgehog") == layers * (
        dense + 6 * length**2 * h + hedgehog_map)
    assert benchmark_plan.forward_flops("chunk", 1, length, dims, 64, "hedgehog") == layers * (
        dense + 6 * length * 64 * h + 16 * length * h * d + hedgehog_map)


def test_parameter_count_matches_the_models():
    dims = {"layers": 2, "hidden": 32, "heads": 4, "intermediate": 48}
    for model in (BERT, *LION_VARIANTS):
        built = benchmarking.build_encoder(model, dims, 600)
        assert benchmarking.parameter_total(built) == benchmark_plan.parameter_count(model, dims, 600), model
    for model in LION_VARIANTS:
        built = benchmarking.build_encoder(model, dims, 600, feature_map="hedgehog")
        count = benchmark_plan.parameter_count(model, dims, 600, "hedgehog")
        assert benchmarking.parameter_total(built) == count > benchmark_plan.parameter_count(model, dims, 600)


def test_micro_batches_are_the_fewest_powers_of_two_that_fit():
    # 1000 MiB of activations beside 500 fixed, in a 800 MiB budget: 4 parts of 250 MiB
    assert benchmark_plan.micro_batches_that_fit(64, 1000.0, 500.0, 800.0) == 4
    assert benchmark_plan.micro_batches_that_fit(64, 100.0, 500.0, 800.0) == 1
    assert benchmark_plan.micro_batches_that_fit(3, 1e9, 500.0, 800.0) == 3  # never more parts than sequences
    assert benchmark_plan.micro_batches_that_fit(64, 1e9, 500.0, 800.0, forced=2) == 2


def test_build_seconds_scales_the_slowest_probe_build():
    probes = {"a": {"status": "ok", "params": 100, "build_seconds": 1.0},
              "b": {"status": "ok", "params": 100, "build_seconds": 3.0},
              "c": {"status": "failed", "reason": "x"}}
    assert benchmark_plan.build_seconds(probes, 1000) == 30.0
    assert benchmark_plan.build_seconds({"c": probes["c"]}, 1000) == 0.0


def make_benchmark(**overrides):
    values = dict(layers=12, hidden=768, heads=12, intermediate=3072, lengths=[512, 16384], train_lengths=[128],
                  train_tokens=16384, repeats=3, threads=1, chunk_size=None, variants=list(LION_VARIANTS),
                  modes=list(ATTENTION_MODES), train_modes=["parallel", "chunk"], feature_maps=["fixed"],
                  compile=False, skip_training=False,
                  skip_inference=False, max_seconds_per_case=300.0, max_memory_gib=16.0, train_micro_batches=None)
    values.update(overrides)
    benchmark = benchmark_plan.BenchmarkPlan(argparse.Namespace(**values))
    benchmark.probes, benchmark.matmul_rate = {}, 200e9
    return benchmark


def test_probes_cover_every_case_of_each_phase_measured():
    benchmark = make_benchmark(train_lengths=[128, 2048], lengths=[1024, 4096])
    probes = benchmark.probes_to_run()
    assert len(probes) == 2 * len(benchmark.train_cases) + len(benchmark.inference_cases)
    assert {(p["length"], p["batch"]) for p in probes if p["phase"] == "training"} == {(128, 8), (2048, 1)}
    assert {(p["length"], p["batch"]) for p in probes if p["phase"] == "inference"} == {(512, 1)}
    assert probes[0]["key"] == "training/128/bert/sdpa"
    assert make_benchmark(skip_training=True, skip_inference=True).probes_to_run() == []


def test_skip_rule():
    benchmark = make_benchmark()
    # without probes and measurements, the FLOPs at the matmul rate: BERT-base at 512 is cheap
    skip, estimate, _ = benchmark.plan_inference_case((BERT, "sdpa"), 512, None, None)
    assert skip is None and estimate["estimated_forward_seconds"] > 0
    # LION parallel at 16384: 12 heads x 16384^2 float32 = 12 GiB at least, plus the model
    benchmark = make_benchmark(max_seconds_per_case=1e9, max_memory_gib=8.0)
    skip, _, _ = benchmark.plan_inference_case(("lion_s", "parallel"), 16384, None, None)
    assert skip["status"] == "skipped" and "--max-memory-gib" in skip["reason"]
    # 20 s per forward measured at 4096 scale with the FLOPs (x 9.6) to more than 300 s for 3 forwards at 16384
    skip, _, _ = make_benchmark().plan_inference_case((BERT, "sdpa"), 16384, (4096, 20.0, 10.0), None)
    assert skip["reason"].startswith("est.") and skip["reason"].endswith("> --max-seconds-per-case 300")
    skip, _, _ = make_benchmark().plan_inference_case(("lion_d", "chunk"), 16384, None, 4096)
    assert skip["reason"] == "failed at L=4096"


def test_training_plan_splits_a_batch_that_does_not_fit():
    benchmark = make_benchmark(max_memory_gib=8.0)
    probe = {"status": "ok", "tokens": 1024, "params": 31_000_000, "forward_backward_seconds": 0.2,
             "optimizer_seconds": 0.05, "peak_rss_growth_mib": 118 + 100}  # gradients + 100 MiB of activations
    benchmark.probes = {f"training/128/{benchmark_plan.case_key(*case)}": probe for case in benchmark.train_cases}
    plan, estimates, seconds = benchmark.plan_training(128)
    # 100 MiB per 1024 token-layers: 19200 MiB for 16384 tokens x 12 layers, over the 8 GiB budget in one piece
    # (with the four models' weights and AdamW moments, about 5 GiB): 16 micro-batches of 1200 MiB fit
    assert all(skip is None for skip in plan.values()) and seconds > 0
    assert all(estimate["micro_batches"] == 16 for estimate in estimates.values())
    assert all(6 * 1024 < estimate["estimated_peak_mib"] <= 8 * 1024 for estimate in estimates.values())
    plan, _, _ = make_benchmark(max_memory_gib=8.0, train_micro_batches=1, max_seconds_per_case=1e9
                                ).plan_training(128)
    assert all(skip is None for skip in plan.values())  # no probe: only the lower bounds, which fit


def test_estimate_duration_has_a_row_per_planned_case():
    benchmark = make_benchmark(max_memory_gib=8.0, max_seconds_per_case=1e9)
    estimate, rows = benchmark.estimate_duration()
    assert len(rows) == len(benchmark.train_cases) + 2 * len(benchmark.inference_cases)
    assert estimate["estimated_seconds"] == estimate["estimated_training_seconds"] + \
        estimate["estimated_inference_seconds"] > 0
    skipped = {(row["length"], row["label"]) for row in rows if row["skip"]}
    assert (16384, "LION-S parallel") in skipped and (512, "BERT (SDPA)") not in skipped


def test_hedgehog_and_compiled_cases_are_planned_from_probes_of_eager_cases():
    benchmark = make_benchmark(feature_maps=["fixed", "hedgehog"], compile=True, lengths=[512],
                               max_seconds_per_case=1e9)
    labels = [benchmark_plan.case_label(*case) for case in benchmark.train_cases]
    assert labels[:3] == ["BERT (SDPA)", "BERT (SDPA) compiled", "LION-LIT parallel"]
    assert "LION-S hedgehog parallel compiled" in labels and "LION-S hedgehog chunk" not in labels
    inference = [benchmark_plan.case_label(*case) for case in benchmark.inference_cases]
    assert "LION-D hedgehog chunk" in inference and "LION-D chunk compiled" in inference
    assert "LION-D hedgehog recurrent" not in inference and "LION-D recurrent compiled" not in inference
    probes = benchmark.probes_to_run()  # eager cases only: a compiled case is estimated from its eager twin's probe
    assert len(probes) == sum(not case.compiled for case in benchmark.train_cases + benchmark.inference_cases)
    assert "training/128/lion_s/parallel/hedgehog" in {probe["key"] for probe in probes}
    case = Case("lion_s", "chunk", "hedgehog", True)
    assert benchmark.probe_key("inference", case) == "inference/lion_s/chunk/hedgehog"
    # compiling adds COMPILE_SECONDS and a warm-up on all L tokens to the eager twin's estimate
    _, eager, _ = benchmark.plan_inference_case(case.eager, 512, None, None)
    _, compiled, _ = benchmark.plan_inference_case(case, 512, None, None)
    assert compiled["estimated_forward_seconds"] == eager["estimated_forward_seconds"]
    assert compiled["estimated_case_seconds"] == pytest.approx(
        4 * eager["estimated_forward_seconds"] + benchmark_plan.compile_seconds("inference", 12))
    _, estimates, _ = benchmark.plan_training(128)
    assert estimates[Case("lion_s", "parallel", "hedgehog", True)]["estimated_case_seconds"] > benchmark_plan.\
        compile_seconds("training", 12) + estimates[Case("lion_s", "parallel", "hedgehog")]["estimated_case_seconds"]
    _, rows = benchmark.estimate_duration()
    assert {row["label"] for row in rows} == set(labels) | set(inference)
