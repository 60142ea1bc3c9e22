"""lion_bert.benchmarking: the measuring tools of the benchmark scripts (timing, memory, children, encoders, cells)."""

import multiprocessing
import os
import time

import pytest
import torch
from torch.utils.benchmark import Measurement
from torch.utils.benchmark.utils.common import TaskSpec

from lion_bert import benchmarking

DIMS = {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32}
FORK = multiprocessing.get_context("fork")  # children see this module's functions without importing it


def test_lion_variants_and_labels():
    assert benchmarking.LION_VARIANTS == ("lion_lit", "lion_d", "lion_s")
    assert benchmarking.LABELS == {"lion_lit": "LION-LIT", "lion_d": "LION-D", "lion_s": "LION-S"}


# --- time ------------------------------------------------------------------------------------------------------


def test_time_function_with_no_run_time_is_one_warm_up_and_one_timed_call():
    calls = []
    measurement = benchmarking.time_function(lambda: calls.append(time.sleep(0.002)), min_run_time=0)
    assert len(calls) == 2 and measurement.number_per_run == 1 and len(measurement.times) == 1
    assert 0.002 <= measurement.median < 0.5


def test_time_function_runs_replicates_for_the_run_time_at_the_callers_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # torch.utils.benchmark.Timer would measure at 1 thread unless told
    threads = set()
    try:
        measurement = benchmarking.time_function(lambda: threads.add(torch.get_num_threads()) or time.sleep(0.005),
                                    min_run_time=0.2)  # blocks of 10 calls (~52 ms) fit several times
    finally:
        torch.set_num_threads(previous)
    assert threads == {2}
    assert sum(measurement.raw_times) >= 0.2 and len(measurement.times) >= 2
    assert 0.005 <= measurement.median < 0.5


def test_timing_record_reports_the_median_per_call_over_the_replicates():
    # three replicates of two calls each: 1, 2 and 3 ms per call
    measurement = Measurement(number_per_run=2, raw_times=[0.002, 0.006, 0.004], task_spec=TaskSpec("f()", "pass"))
    record = benchmarking.timing_record(measurement)
    assert record["ms"] == pytest.approx(2.0) and record["ms_iqr"] == pytest.approx(1.0)
    assert record["ms_replicates"] == pytest.approx([1.0, 3.0, 2.0]) and record["calls_per_replicate"] == 2


def test_expected_seconds_is_a_warm_up_call_then_the_run_time_or_one_call():
    assert benchmarking.expected_seconds(0.1, 1.0) == pytest.approx(1.1)
    assert benchmarking.expected_seconds(5.0, 1.0) == pytest.approx(10.0)


def test_matmul_flop_rate_is_positive_and_finite():
    rate = benchmarking.matmul_flop_rate(min_run_time=0)
    assert 1e8 < rate < 1e15  # FLOP/s of any CPU or GPU this runs on


# --- memory and children --------------------------------------------------------------------------------------


def test_peak_window_measures_the_growth_since_it_started():
    assert benchmarking.reset_peak_rss() and benchmarking.available_memory_gib() > 0
    baseline = benchmarking.start_peak_window()
    assert benchmarking.current_rss_mib() <= benchmarking.peak_rss_mib() + 1  # the peak is at least the current RSS
    block = torch.ones(16 * 2**20)  # 64 MiB, written
    assert benchmarking.peak_rss_mib() - baseline > 48
    del block


def _send_two(spec, connection):
    connection.send(("first", {"status": "ok", "value": spec["value"]}))
    connection.send(("second", {"status": "ok", "value": spec["value"] + 1}))
    connection.close()


def _send_one_then_exit(spec, connection):
    connection.send(("first", {"status": "ok"}))
    os._exit(3)


def _sleep(spec, connection):
    time.sleep(spec["seconds"])


def _allocate_beyond_the_limit(spec, connection):
    assert benchmarking.limit_address_space(spec["budget_bytes"])
    try:
        torch.empty(2**28)  # 1 GiB, mapped only: nothing runs on torch's thread pool in the forked child
        connection.send(("allocation", {"status": "ok"}))
    except RuntimeError as error:
        connection.send(("allocation", benchmarking.failure(error)))


def test_run_in_child_collects_every_result_and_names_what_is_missing():
    assert benchmarking.run_in_child(FORK, _send_two, {"value": 1}, ["first", "second"], timeout=30) == {
        "first": {"status": "ok", "value": 1}, "second": {"status": "ok", "value": 2}}
    results = benchmarking.run_in_child(FORK, _send_one_then_exit, {}, ["first", "second"], timeout=30)
    assert results == {"first": {"status": "ok"}, "second": {"status": "failed", "reason": "child exited with code 3"}}
    started = time.monotonic()
    results = benchmarking.run_in_child(FORK, _sleep, {"seconds": 60}, ["late"], timeout=1)
    assert results == {"late": {"status": "failed", "reason": "timed out after 1 s"}}
    assert time.monotonic() - started < 30  # the child was killed, not waited for


def test_an_allocation_beyond_the_address_space_limit_fails_in_torch():
    result = benchmarking.run_in_child(FORK, _allocate_beyond_the_limit, {"budget_bytes": 256 * 2**20},
                                       ["allocation"], 30)
    assert result["allocation"]["status"] == "failed" and "RuntimeError" in result["allocation"]["reason"]


def test_child_context_prefers_a_fork_server_where_the_peak_can_be_reset():
    context = benchmarking.child_context(["json"])
    assert context.get_start_method() == ("forkserver" if benchmarking.reset_peak_rss() else "spawn")


def test_failure_names_the_error_and_bounds_the_reason():
    result = benchmarking.failure(MemoryError("x" * 500))
    assert result["status"] == "failed" and result["reason"].startswith("MemoryError: xxx")
    assert len(result["reason"]) == 200


# --- the compared encoders --------------------------------------------------------------------------------------


def test_build_encoder_builds_bert_with_sdpa_and_each_lion_variant():
    bert = benchmarking.build_encoder(benchmarking.BERT, DIMS, max_positions=64, vocab_size=50)
    assert type(bert).__name__ == "BertModel" and bert.config._attn_implementation == "sdpa"
    assert bert.pooler is None and bert.training and bert.config.hidden_dropout_prob == 0.0
    for variant in benchmarking.LION_VARIANTS:
        lion = benchmarking.build_encoder(variant, DIMS, max_positions=64, vocab_size=50)
        assert type(lion).__name__ == "LionBertModel" and lion.config.attention_type == variant
        assert lion.pooler is None and lion.config.num_hidden_layers == 1 and lion.config.hidden_size == 16


def test_build_encoder_builds_the_hedgehog_feature_map():
    for variant in benchmarking.LION_VARIANTS:
        lion = benchmarking.build_encoder(variant, DIMS, max_positions=64, vocab_size=50, feature_map="hedgehog")
        assert lion.config.feature_map == "hedgehog" and lion.config.attention_type == variant
        names = {name for name, _ in lion.named_parameters() if "feature_map" in name}
        assert names == {f"encoder.layer.0.attention.self.{side}_feature_map.{field}"
                         for side in ("query", "key") for field in ("weight", "bias")}
        head_dim = DIMS["hidden"] // DIMS["heads"]  # feature_map_size: the head dim, the config's default
        assert lion.encoder.layer[0].attention.self.query_feature_map.weight.shape == (2, head_dim, head_dim)
        fixed = benchmarking.build_encoder(variant, DIMS, max_positions=64, vocab_size=50)
        assert not any("feature_map" in name for name, _ in fixed.named_parameters())
        # queries and keys: a (heads, d, d) weight and a (heads, d) bias each
        assert benchmarking.parameter_total(lion) == benchmarking.parameter_total(fixed) + 2 * (2 * 8 * 8 + 2 * 8)
    with pytest.raises(ValueError, match="'fixed' for 'bert'"):
        benchmarking.build_encoder(benchmarking.BERT, DIMS, 64, 50, feature_map="hedgehog")
    with pytest.raises(ValueError, match="one of"):
        benchmarking.build_encoder("lion_s", DIMS, 64, 50, feature_map="elu")


def test_compile_encoder_wraps_the_model_and_raises_the_recompile_limit():
    encoder = benchmarking.build_encoder("lion_s", DIMS, max_positions=64, vocab_size=50)
    compiled = benchmarking.compile_encoder(encoder)  # compiles at its first call: nothing compiled here
    assert compiled is not encoder and compiled._orig_mod is encoder
    assert torch._dynamo.config.recompile_limit >= benchmarking.RECOMPILE_LIMIT
    assert torch.equal(benchmarking.random_ids(2, 5), benchmarking.random_ids(2, 5))
    assert benchmarking.random_ids(2, 5, vocab_size=3).shape == (2, 5)


def test_train_step_in_micro_batches_takes_the_same_step():
    input_ids = torch.randint(1, 50, (4, 12), generator=torch.Generator().manual_seed(0))
    after = []
    for micro_batches in (1, 2):
        torch.manual_seed(0)
        encoder = benchmarking.build_encoder("lion_s", DIMS, max_positions=64, vocab_size=50)
        before = [p.detach().clone() for p in encoder.parameters()]
        optimizer = torch.optim.SGD(encoder.parameters(), lr=1.0)
        benchmarking.train_step(encoder, optimizer, input_ids, {"attention_mode": "parallel"}, micro_batches)
        assert all(p.grad is None for p in encoder.parameters())  # zeroed for the next step
        assert any(not torch.equal(p, b) for p, b in zip(encoder.parameters(), before))
        after.append([p.detach() for p in encoder.parameters()])
    for one_batch, two_parts in zip(*after):
        torch.testing.assert_close(two_parts, one_batch, rtol=1e-5, atol=1e-6)


# --- report cells -------------------------------------------------------------------------------------------------


def test_cells():
    assert [benchmarking.number(x) for x in (1234.5, 56.78, 0.891)] == ["1234", "56.8", "0.89"]
    assert [benchmarking.duration(s) for s in (42.4, 185, 3725)] == ["42 s", "3 min 05 s", "1 h 02 min"]
    assert benchmarking.time_cell({"status": "ok", "ms": 12.34}, " ms") == "12.3 ms"
    assert benchmarking.time_cell({"status": "skipped", "reason": "too long"}) == "skipped: too long"
    assert benchmarking.markdown_table(["L", "ms"], [["128", "1.5"]]) == "| L | ms |\n|---:|---:|\n| 128 | 1.5 |"
