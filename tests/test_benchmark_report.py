"""lion_bert.benchmark_report: the records of the model-level benchmark, the targets check, the markdown report."""

import pytest

from lion_bert import benchmark_plan, benchmark_report, benchmarking
from lion_bert.lion_attention import ATTENTION_MODES

BERT, LION_VARIANTS = benchmarking.BERT, benchmarking.LION_VARIANTS

# limits chosen so that one check of each kind passes and one fails in `synthetic_report`'s two settings
TARGETS = {"source": "test", "targets": [
    {"kind": "train_ratio", "length": 128, "limits": {"lion_lit": 1.00, "lion_d": 1.05, "lion_s": 1.15}},
    {"kind": "inference_speedup", "length": 4096, "limits": {"lion_lit": 1.6, "lion_d": 1.6, "lion_s": 1.6}},
    {"kind": "inference_speedup", "length": 16384, "limits": {"lion_lit": 3.5, "lion_d": 3.5, "lion_s": 3.5}},
    {"kind": "recurrent_memory", "length": 32768, "doubling_range": [1.5, 2.5],
     "limits": {"lion_lit": 2.0, "lion_d": 2.0, "lion_s": 2.0}},
    {"kind": "chunk_flop_rate", "min_length": 2048, "limits": {"lion_lit": 0.7, "lion_d": 0.7, "lion_s": 0.7}},
]}

LENGTHS = (2048, 4096, 8192, 16384, 32768)
SPEEDUPS = [  # (BERT ms, LION chunk-form ms) per length: 2x at 4096, 4x at 16384; then 1.33x at 4096, 2x at 16384
    (dict(zip(LENGTHS, (100.0, 400.0, 1600.0, 6400.0, 25600.0))), dict(zip(LENGTHS, bert_and_lion)))
    for bert_and_lion in ((100.0, 200.0, 400.0, 1600.0, 3200.0), (100.0, 300.0, 800.0, 3200.0, 6400.0))
]


def synthetic_report(dims, bert_ms, lion_ms, recurrent_growth):
    """A report with training at L=128 and inference at 2048 ... 32768, as `Benchmark.run` would build it."""
    training = [{"length": 128, "model": BERT, "mode": "sdpa", "status": "ok", "ms": 100.0}] + [
        {"length": 128, "model": v, "mode": mode, "status": "ok", "ms": ms, "ratio_vs_bert": ms / 100.0}
        for v in LION_VARIANTS for mode, ms in (("parallel", 104.0), ("chunk", 99.0))]
    inference = []
    for length in (2048, 4096, 8192, 16384, 32768):
        inference.append({"length": length, "model": BERT, "mode": "sdpa", "status": "ok", "ms": bert_ms[length]})
        for v in LION_VARIANTS:
            for mode in ATTENTION_MODES:
                inference.append({"length": length, "model": v, "mode": mode, "status": "ok",
                                  "ms": lion_ms[length] * (1 if mode == "chunk" else 2), "matmul_fraction": 0.75,
                                  "peak_rss_growth_mib": recurrent_growth * length / 32768, "model_mib": 420.0})
    report = {"config": {"dims": dims, "variants": list(LION_VARIANTS), "lengths": [2048, 4096, 8192, 16384, 32768]},
              "training": training, "inference": inference}
    report["best_vs_bert"] = benchmark_report.best_vs_bert(report)
    return report


def test_check_targets():
    report = synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    targets = {t["id"]: t for t in benchmark_report.check_targets(report, TARGETS)}
    assert targets["train_ratio_128_lion_lit"]["status"] == "met"  # 0.99x, in the chunk form
    assert targets["train_ratio_128_lion_lit"]["measured"] == "0.99x (chunk); parallel 1.04x"
    description = targets["train_ratio_128_lion_lit"]["description"]
    assert description == "training step at L = 128: LION-LIT time <= 1.00x BERT's"
    assert all(targets[f"inference_speedup_{length}_{v}"]["status"] == "met"
               for length in (4096, 16384) for v in LION_VARIANTS)
    assert targets["recurrent_memory_32768_lion_s"]["status"] == "met"  # 420 + 1000 MiB, x2.00 per doubling
    assert "<= 2 GB (1907 MiB) at L = 32768" in targets["recurrent_memory_32768_lion_s"]["description"]
    assert targets["chunk_flop_rate_lion_d"]["status"] == "met"
    assert targets["chunk_flop_rate_lion_d"]["description"].endswith(">= 70% of the matmul FLOP rate for L >= 2048")

    report = synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[1], recurrent_growth=1600.0)
    for record in report["inference"]:
        record["matmul_fraction"] = 0.5
    targets = {t["id"]: t for t in benchmark_report.check_targets(report, TARGETS)}
    assert targets["inference_speedup_4096_lion_d"]["status"] == "missed"
    assert targets["inference_speedup_16384_lion_d"]["value"] == pytest.approx(2.0)
    assert targets["recurrent_memory_32768_lion_d"]["status"] == "missed"  # 420 + 1600 MiB > 2 GB
    assert targets["chunk_flop_rate_lion_lit"]["status"] == "missed"
    # the same measurements against a stricter training target and a looser speedup: the data decides
    stricter = {"source": "test", "targets": [{"kind": "train_ratio", "length": 128, "limits": {"lion_lit": 0.98}},
                                              {"kind": "inference_speedup", "length": 4096, "limits": {"lion_d": 1.3}}]}
    assert [t["status"] for t in benchmark_report.check_targets(report, stricter)] == ["missed", "met"]

    report["inference"] = [r for r in report["inference"] if r["length"] != 16384]
    report["best_vs_bert"] = benchmark_report.best_vs_bert(report)
    targets = {t["id"]: t for t in benchmark_report.check_targets(report, TARGETS)}
    assert targets["inference_speedup_16384_lion_s"]["status"] == "not measured"
    assert targets["recurrent_memory_32768_lion_s"]["status"] == "not measured"  # no 16384 to compare 32768 with
    report["config"]["variants"] = ["lion_d"]
    targets = {t["id"]: t for t in benchmark_report.check_targets(report, TARGETS)}
    assert targets["train_ratio_128_lion_s"]["status"] == "not measured"
    assert targets["train_ratio_128_lion_s"]["note"] == "variant not run"


def test_measured_record_compares_with_berts_record_at_the_same_length():
    bert = benchmark_report.measured_record("inference", (BERT, "sdpa"), 512, 2e9, {"status": "ok", "ms": 40.0}, [])
    assert bert["label"] == "BERT (SDPA)" and bert["gflops"] == pytest.approx(50.0) and "speedup_vs_bert" not in bert
    lion = benchmark_report.measured_record("inference", ("lion_s", "chunk"), 512, 1e9, {"status": "ok", "ms": 10.0},
                                            [bert])
    assert lion["label"] == "LION-S chunk" and lion["speedup_vs_bert"] == pytest.approx(4.0)
    step = benchmark_report.measured_record("training", ("lion_d", "parallel"), 128, 3e9,
                                            {"status": "ok", "ms": 110.0}, [{**bert, "length": 128, "ms": 100.0}],
                                            batch=4)
    assert step["ratio_vs_bert"] == pytest.approx(1.1) and step["batch"] == 4
    skipped = benchmark_report.measured_record("inference", ("lion_d", "parallel"), 512, 1e9,
                                               {"status": "skipped", "reason": "est."}, [bert])
    assert "gflops" not in skipped and "speedup_vs_bert" not in skipped and skipped["flops"] == 1e9


def render(report):
    """The markdown of a synthetic report, with the fields of a run that `render_markdown` reads added."""
    report["config"].update(vocab_size=30522, chunk_size=None, inference_chunk_size=64, train_chunk_size=64,
                            train_tokens=16384, repeats=3, targets={"file": "/x/targets.json", "source": "test"})
    report.update(machine={"cpu": "a CPU", "torch_threads": 2, "torch": "2.x", "platform": "Linux", "python": "3"},
                  matmul={"gflops": 100.0, "gflops_before_and_after": [99.0, 100.0]},
                  duration={"seconds": 185, "estimated_seconds": 3725},
                  targets=benchmark_report.check_targets(report, TARGETS))
    return benchmark_report.render_markdown(report)


def test_render_markdown_has_a_row_per_record_and_target():
    report = synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    for phase, fields in (("training", {"batch": 128, "micro_batches": 1, "step_peak_rss_growth_mib": 900.0}),
                          ("inference", {"model_mib": 420.0, "peak_rss_growth_mib": 10.0})):
        for record in report[phase]:
            record.update(label=benchmark_plan.case_label(record["model"], record["mode"]), **fields)
    skipped = report["training"][1]  # LION-LIT parallel: a skip has a reason, no time
    del skipped["ms"], skipped["ratio_vs_bert"]
    skipped.update(status="skipped", reason="est. 9 GiB > --max-memory-gib 8.00")
    markdown = render(report)
    for text in ("## Targets", "From targets.json: test.", "## Training step", "## Inference",
                 "### Best LION form vs BERT", "(BERT-base dimensions)",
                 "Duration: 3 min 05 s (estimated before the run: 1 h 02 min)",
                 "| 128 | LION-LIT parallel | 128 | 1 | skipped: est. 9 GiB > --max-memory-gib 8.00 | - | - | - |"):
        assert text in markdown
    for phase in ("training", "inference"):
        assert all(f"| {r['length']} | {r['label']} |" in markdown for r in report[phase])
    assert all(f"| {t['description']} | {benchmark_report.measured_text(t)} | {t['status']} |" in markdown
               for t in report["targets"])
    assert "| 16384 | 6400 | chunk 1600 ms, 4.00x | chunk 1600 ms, 4.00x | chunk 1600 ms, 4.00x |" in markdown
    lines = benchmark_report.targets_text(report).splitlines()
    assert len(lines) == len(report["targets"])  # statuses padded to the longest, "missed" here
    assert lines[0] == "met     training step at L = 128: LION-LIT time <= 1.00x BERT's: 0.99x (chunk)"


def with_extra_rows(report, factor):
    """``report`` with a hedgehog and a compiled twin of every LION row and a compiled BERT, ``factor`` times the
    fixed eager row's time, as `Benchmark.run` would add them after their eager twins."""
    for phase in ("training", "inference"):
        records = []
        for record in report[phase]:
            eager = {**record, "feature_map": "fixed", "compiled": False}
            twins = [eager, {**eager, "compiled": True, "ms": record["ms"] * factor, "compile_seconds": 30.0}]
            if record["model"] != BERT:  # against eager BERT: the ratio changes (compiled: against compiled BERT)
                twins.append({**eager, "feature_map": "hedgehog", "ms": record["ms"] * factor,
                              **({"ratio_vs_bert": record["ratio_vs_bert"] * factor} if phase == "training" else {})})
            records += twins
        report[phase] = [{**r, "label": benchmark_plan.case_label(*benchmark_report.case_of(r))} for r in records]
    report["config"].update(feature_maps=["fixed", "hedgehog"], compile=True)
    report["best_vs_bert"] = benchmark_report.best_vs_bert(report)
    return report


def test_targets_and_the_best_forms_read_the_fixed_eager_rows_unless_a_target_says_otherwise():
    report = synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    before = benchmark_report.check_targets(report, TARGETS), benchmark_report.best_vs_bert(report)
    for factor in (0.1, 10.0):  # hedgehog and compiled rows much faster, then much slower: nothing changes
        extended = with_extra_rows(synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0],
                                                    recurrent_growth=1000.0), factor)
        assert len(extended["inference"]) > len(report["inference"])
        assert (benchmark_report.check_targets(extended, TARGETS), extended["best_vs_bert"]) == before
    # a target that names the hedgehog rows reads them: 10x slower than the fixed map's, against eager BERT
    hedgehog = {"source": "test", "targets": [
        {"kind": "train_ratio", "length": 128, "feature_map": "hedgehog", "limits": {"lion_s": 1.15}},
        {"kind": "inference_speedup", "length": 4096, "feature_map": "hedgehog", "compiled": True,
         "limits": {"lion_d": 1.6}}]}
    rows = benchmark_report.check_targets(extended, hedgehog)
    assert [row["id"] for row in rows] == ["train_ratio_128_lion_s_hedgehog",
                                           "inference_speedup_4096_lion_d_hedgehog_compiled"]
    assert rows[0]["measured"] == "9.90x (chunk); parallel 10.40x" and rows[0]["status"] == "missed"
    assert rows[0]["description"].endswith("<= 1.15x BERT's (hedgehog)")
    assert rows[1]["status"] == "not measured"  # no compiled hedgehog rows in this report
    compiled = {"source": "test", "targets": [{"kind": "inference_speedup", "length": 4096, "compiled": True,
                                               "limits": {"lion_d": 1.6}}]}
    [row] = benchmark_report.check_targets(extended, compiled)  # compiled LION over compiled BERT: both 10x
    assert row["value"] == pytest.approx(2.0) and row["id"] == "inference_speedup_4096_lion_d_compiled"


def test_records_of_hedgehog_and_compiled_cases():
    Case = benchmark_plan.Case
    records = [benchmark_report.measured_record("inference", Case(BERT, "sdpa"), 512, 1e9, {"status": "ok", "ms": 40.0},
                                                [])]
    for case, ms in ((Case(BERT, "sdpa", compiled=True), 20.0), (Case("lion_s", "chunk"), 10.0),
                     (Case("lion_s", "chunk", compiled=True), 5.0), (Case("lion_s", "chunk", "hedgehog"), 16.0)):
        records.append(benchmark_report.measured_record("inference", case, 512, 1e9,
                                                        {"status": "ok", "ms": ms, "compile_seconds": 3.0,
                                                         "peak_rss_growth_mib": 1.5}, records))
    bert_compiled, fixed, compiled, hedgehog = records[1:]
    assert bert_compiled["label"] == "BERT (SDPA) compiled" and bert_compiled["compiled_vs_eager"] == 0.5
    assert "speedup_vs_bert" not in bert_compiled
    assert fixed["speedup_vs_bert"] == 4.0 and "compiled_vs_eager" not in fixed
    assert compiled["speedup_vs_bert"] == 4.0 and compiled["compiled_vs_eager"] == 0.5  # vs compiled BERT
    assert hedgehog["label"] == "LION-S hedgehog chunk" and hedgehog["speedup_vs_bert"] == 2.5  # vs eager BERT
    assert (hedgehog["feature_map"], hedgehog["compiled"], compiled["feature_map"], compiled["compiled"]) == (
        "hedgehog", False, "fixed", True)
    assert benchmark_report.progress_text("inference", compiled) == (
        "LION-S chunk compiled: 5.00 ms, peak +1.50 MiB, 4.00x vs BERT, 0.50x eager, compiled in 3.0 s")


def test_markdown_puts_compiled_rows_beside_their_eager_twins():
    report = with_extra_rows(synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0],
                                              recurrent_growth=1000.0), 0.5)
    for record in report["training"] + report["inference"]:
        record.update(batch=128, micro_batches=1, step_peak_rss_growth_mib=900.0, model_mib=420.0,
                      peak_rss_growth_mib=10.0, **{"compiled_vs_eager": 0.5} if record["compiled"] else {})
    markdown = render(report)
    for text in ("Hedgehog rows: the LION variant", "Compiled rows: the same model through torch.compile",
                 "## torch.compile: compiled vs eager", "| 128 | LION-S hedgehog chunk |",
                 "| training | 128 | LION-S parallel compiled | 104 | 52.0 | 0.50x | 30.0 |",
                 "| inference | 4096 | BERT (SDPA) compiled | 400 | 200 | 0.50x | 30.0 |",
                 "| 4096 | 400 | chunk 200 ms, 2.00x | chunk 200 ms, 2.00x | chunk 200 ms, 2.00x |"):
        assert text in markdown, text
    for phase in ("training", "inference"):
        assert all(f"| {r['length']} | {r['label']} |" in markdown for r in report[phase])
    compiled_rows = sum(r["compiled"] for r in report["training"] + report["inference"])
    assert len(benchmark_report.compiled_table(report)) == compiled_rows


def test_recurrent_vs_chunk_target():
    """The recurrent form's time over the chunk form's, worst over the target's lengths (2x in the synthetic report)."""
    report = synthetic_report(dict(benchmarking.BERT_BASE_DIMS), *SPEEDUPS[0], recurrent_growth=1000.0)
    report["inference"] = [r for r in report["inference"]
                           if not (r["model"] == "lion_d" and r["mode"] == "recurrent" and r["length"] == 32768)]
    targets = {"source": "test", "targets": [
        {"kind": "recurrent_vs_chunk", "min_length": 2048, "max_length": 16384, "limits": {"lion_lit": 2.5, "lion_s": 1.3}},
        {"kind": "recurrent_vs_chunk", "min_length": 4096, "max_length": 32768, "limits": {"lion_d": 3.0}},
    ]}
    checked = {t["id"]: t for t in benchmark_report.check_targets(report, targets)}
    assert checked["recurrent_vs_chunk_lion_lit"]["status"] == "met"
    assert checked["recurrent_vs_chunk_lion_lit"]["measured"].startswith("max 2.00x (L = 2048); 2.00x, 2.00x")
    assert checked["recurrent_vs_chunk_lion_s"]["status"] == "missed"
    assert checked["recurrent_vs_chunk_lion_s"]["description"] == (
        "LION-S recurrent-form inference within 1.3x the chunk form's time for L = 2048 ... 16384")
    assert checked["recurrent_vs_chunk_lion_d"]["status"] == "not measured"  # no recurrent row at 32768


def test_load_targets_knows_recurrent_vs_chunk(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text('{"source": "test", "targets": [{"kind": "recurrent_vs_chunk", "min_length": 512, '
                    '"limits": {"lion_s": 1.3}}]}')
    with pytest.raises(ValueError, match="a recurrent_vs_chunk target lacks max_length"):
        benchmark_report.load_targets(path)
