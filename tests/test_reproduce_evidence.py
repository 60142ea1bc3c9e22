"""scripts/collect_evidence.py builds evidence.json / evidence.md from the run folders of
scripts/reproduce_evidence.sh (fake result files here, in the formats run_mlm.py and run_glue.py write: no
training)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
_spec = importlib.util.spec_from_file_location("collect_evidence", SCRIPTS / "collect_evidence.py")
collect_evidence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(collect_evidence)


def _write(path: Path, data: dict, name="eval_results.json"):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps(data))


def _mlm(runs, attention_type, accuracy, loss, tokens_per_second, recurrent=None):
    folder = runs / f"mlm-{attention_type}"
    _write(folder, {"eval_accuracy": accuracy, "eval_loss": loss, "perplexity": 2.718 ** loss,
                    "eval_masked_tokens": 1000, "eval_samples": 50})
    (folder / "train_results.json").write_text(json.dumps({"train_tokens_per_second": tokens_per_second,
                                                            "train_runtime": 300.0, "train_loss": 6.0}))
    if recurrent is not None:
        _write(runs / f"mlm-{attention_type}-recurrent", {"eval_accuracy": recurrent[0], "eval_loss": recurrent[1]})


def _stsb(folder, attention_type, pearson, spearman, diff=None, eval_form="recurrent", positions=None, trained=True):
    """A run_glue.py folder: 🤗's flat eval_results.json, config.json, and form_agreement.json when ``diff`` is given
    (the largest logit difference between ``eval_form`` and the other form), train files when ``trained``."""
    _write(folder, {"epoch": 0.07, "eval_loss": 0.9, "eval_pearson": pearson, "eval_runtime": 13.0,
                    "eval_samples": 1500, "eval_samples_per_second": 115.4, "eval_spearmanr": spearman,
                    "eval_steps_per_second": 1.8})
    _write(folder, {"model_type": "lion_bert", "attention_type": attention_type, "attention_mode": "parallel",
                    "position_embedding_type": positions}, "config.json")
    if diff is not None:
        other = "parallel" if eval_form != "parallel" else "recurrent"
        _write(folder, {"forms": [eval_form, other], "num_samples": 128, "max_abs_logit_diff": diff,
                        "tolerance": 0.001, "predictions_agree": diff <= 0.001}, "form_agreement.json")
    if trained:
        _write(folder, {"epoch": 0.07, "train_loss": 1.2, "train_runtime": 100.0, "train_samples": 5749,
                        "train_samples_per_second": 64.0, "train_steps_per_second": 4.0}, "train_results.json")
        _write(folder, {"global_step": 300, "max_steps": 300, "log_history": []}, "trainer_state.json")


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    _mlm(runs, "softmax", 0.40, 3.5, 9000.0)
    _mlm(runs, "lion_s", 0.385, 3.6, 7000.0, recurrent=(0.385, 3.6000001))
    _stsb(runs / "stsb-mlm-softmax", "softmax", 0.30, 0.28)  # softmax: one form, no form_agreement.json
    _stsb(runs / "stsb-mlm-lion_s", "lion_s", 0.29, 0.27, 1e-6)
    _stsb(runs / "stsb-minilm-softmax", "softmax", 0.86, 0.85)
    _stsb(runs / "stsb-minilm-lion_s", "lion_s", 0.80, 0.80, 2e-6)
    return runs


def test_collect_builds_json_with_gaps_and_targets(runs, tmp_path):
    evidence = collect_evidence.collect(runs, {"mlm_steps": "600", "seed": "42"})
    models = evidence["models"]
    assert models["lion_d"]["mlm"] is None and models["lion_lit"]["stsb_minilm"] is None  # missing runs
    lion_s = models["lion_s"]
    assert lion_s["mlm"]["accuracy"] == 0.385 and lion_s["mlm"]["accuracy_recurrent"] == 0.385
    assert lion_s["mlm"]["max_form_diff"] == pytest.approx(1e-7, abs=1e-9)
    minilm = lion_s["stsb_minilm"]
    assert minilm["spearman"] == 0.80 and minilm["pearson"] == 0.80 and minilm["num_samples"] == 1500
    assert (minilm["eval_form"], minilm["other_form"], minilm["form_check_samples"]) == ("recurrent", "parallel", 128)
    assert minilm["max_abs_logit_diff"] == 2e-6 and minilm["forms_agree"] is True
    assert minilm["train_runtime_s"] == 100.0 and minilm["train_steps"] == 300
    assert (minilm["attention_type"], minilm["position_embedding_type"]) == ("lion_s", "none")  # null: the default
    softmax = models["softmax"]["stsb_minilm"]
    assert softmax["spearman"] == 0.85 and softmax["position_embedding_type"] == "absolute"
    assert softmax["eval_form"] is None and softmax["forms_agree"] is None
    gaps = lion_s["gaps_vs_softmax"]
    assert gaps["mlm_accuracy_points"] == pytest.approx(1.5)
    assert gaps["stsb_pretrained_spearman_points"] == pytest.approx(1.0)
    assert gaps["stsb_minilm_spearman_points"] == pytest.approx(5.0)
    targets = evidence["targets"]  # those of benchmarks/evidence_targets.json: 1 point of MLM accuracy, 2 of Spearman
    assert targets["mlm_accuracy"]["met"] is False and targets["mlm_accuracy"]["missed_by_points"] == pytest.approx(0.5)
    assert targets["stsb_pretrained_spearman"]["met"] is True
    assert targets["stsb_minilm_spearman"]["missed_by_points"] == pytest.approx(3.0)
    assert evidence["forms_agree"] == {"max_difference": pytest.approx(2e-6), "stsb_runs_checked": 2,
                                       "stsb_runs_agree": 2}  # the two LION-S fine-tunes; softmax has one form
    assert evidence["settings"] == {"mlm_steps": "600", "seed": "42"}
    machine = evidence["machine"]
    assert machine["torch"] and machine["torch_threads"] >= 1 and machine["cpu"]


def test_markdown_and_files(runs, tmp_path):
    out = tmp_path / "results"
    collect_evidence.main(["--runs_dir", str(runs), "--out_dir", str(out), "--setting", "mlm_steps=600",
                           "--setting", "seeds=42"])
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["models"]["softmax"]["mlm"]["train_tokens_per_second"] == 9000.0
    markdown = (out / "evidence.md").read_text()
    assert evidence["machine"]["cpu"] in markdown and "mlm_steps = 600" in markdown and "seeds = 42" in markdown
    pretrained, minilm = [line for line in markdown.splitlines() if line.startswith("| LION-S")]
    assert "0.3850 | 0.3850" in pretrained and "MISSED by 0.50" in pretrained and "7000" in pretrained
    assert "| LION-D | - | - |" in markdown  # the missing run
    assert "| 0.2900 | 0.2700 | recurrent | yes vs parallel (1.0e-06, 128) |" in pretrained
    assert "| 0.8000 | 0.8000 | recurrent | yes vs parallel (2.0e-06, 128) | 1500 | +5.00 (MISSED by 3.00" in minilm
    assert "| softmax (BERT) | 0.8600 | 0.8500 | - | - | 1500 | - |" in markdown
    assert "agree within tolerance in 2 of 2 checked runs" in markdown
    assert not list(out.glob(".*.tmp"))


def _lever(runs, name, change, stage, spearman, diff=1e-6, conversion=None, **stsb):
    folder = runs / f"lever-{name}"
    _stsb(folder, "lion_s", spearman, spearman, diff, **stsb)
    (folder / "lever.json").write_text(json.dumps({"change": change, "stage": stage}))
    if conversion is not None:
        (runs / name).mkdir()
        (runs / name / "conversion_results.json").write_text(json.dumps(conversion))


def test_levers_are_listed_in_pipeline_order_with_their_effect(runs, tmp_path):
    _lever(runs, "distilled-lion_s", "distilled conversion", 22, 0.83,
           conversion={"errors_before": {"hidden_relative_error": [0.1, 0.8]},
                       "errors_after_model": {"hidden_relative_error": [0.01, 0.3]}})
    _lever(runs, "position-absolute", "BERT's learned positions kept", 16, 0.70, positions="absolute")
    _lever(runs, "chunk-16", "evaluated in the chunk form", 19, 0.80, diff=5e-3, eval_form="chunk", trained=False)
    (runs / "lever-broken").mkdir()  # a lever whose run never finished is left out
    evidence = collect_evidence.collect(runs)
    levers = evidence["levers"]
    assert [lever["name"] for lever in levers] == ["position-absolute", "chunk-16", "distilled-lion_s"]
    position, chunk, distilled = levers
    assert position["attention_type"] == "lion_s" and position["position_embedding_type"] == "absolute"
    assert position["spearman_change_points"] == pytest.approx(-10.0)  # vs the plain conversion's 0.80
    assert position["spearman_gap_to_softmax_points"] == pytest.approx(15.0)  # softmax: 0.85
    assert distilled["position_embedding_type"] == "none" and distilled["train_steps"] == 300
    assert distilled["spearman_change_points"] == pytest.approx(3.0) and distilled["conversion"] is not None
    assert (chunk["eval_form"], chunk["other_form"], chunk["forms_agree"]) == ("chunk", "parallel", False)
    assert chunk["train_steps"] is None and chunk["train_runtime_s"] is None  # an evaluation: no train files
    agree = evidence["forms_agree"]
    assert agree["max_difference"] == pytest.approx(5e-3)
    assert (agree["stsb_runs_checked"], agree["stsb_runs_agree"]) == (5, 4)
    markdown = collect_evidence.to_markdown(evidence)
    rows = {line.split(" | ")[0][2:]: line for line in markdown.splitlines() if line.startswith("| ")}
    assert "| LION-S | absolute | BERT's learned positions kept | 0.7000 | 0.7000 | recurrent |" in \
        rows["position-absolute"] and "| -10.00 | 15.00 |" in rows["position-absolute"]
    assert "| chunk | NO vs parallel (5.0e-03, 128) | +0.00 | 5.00 |" in rows["chunk-16"]
    assert "| LION-S | none |" in rows["distilled-lion_s"] and "| +3.00 | 2.00 |" in rows["distilled-lion_s"]
    assert "error 0.800 -> 0.300" in rows["distilled-lion_s"]
    assert "agree within tolerance in 4 of 5 checked runs" in markdown


def test_command_line(runs, tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, str(SCRIPTS / "collect_evidence.py"), "--runs_dir", str(runs),
                           "--out_dir", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "evidence.json").is_file() and "LION-S" in done.stdout


def test_targets_are_the_data_of_the_targets_file(runs, tmp_path):
    looser = {"source": "a looser test", "attention_type": "lion_s", "max_gap_points": {"stsb_minilm_spearman": 6.0}}
    evidence = collect_evidence.collect(runs, targets=looser)
    assert list(evidence["targets"]) == ["stsb_minilm_spearman"]  # only what the file names is checked
    assert evidence["targets"]["stsb_minilm_spearman"]["met"] is True  # gap 5.0 <= 6.0
    markdown = collect_evidence.to_markdown(evidence)
    assert "Targets (a looser test), largest gaps of LION-S: STS-B Spearman of the converted" in markdown
    assert "+5.00 (met, target <= 6)" in markdown and "MISSED" not in markdown
    assert "| +1.50 |" in markdown  # the MLM gap is shown, with no target beside it

    path = tmp_path / "targets.json"
    path.write_text(json.dumps(looser))
    out = tmp_path / "cli"
    collect_evidence.main(["--runs_dir", str(runs), "--out_dir", str(out), "--targets", str(path)])
    assert json.loads((out / "evidence.json").read_text())["target_limits"] == looser


@pytest.mark.parametrize("broken", [
    {"source": "x", "attention_type": "lion_s"},
    {"source": "x", "attention_type": "lion_s", "max_gap_points": {"glue_average": 1.0}},
    {"source": "x", "attention_type": "lion_x", "max_gap_points": {"mlm_accuracy": 1.0}},
])
def test_a_targets_file_it_cannot_use_is_refused(tmp_path, capsys, broken):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="targets.json"):
        collect_evidence.load_targets(path)
    with pytest.raises(SystemExit) as exited:
        collect_evidence.main(["--runs_dir", str(tmp_path), "--out_dir", str(tmp_path), "--targets", str(path)])
    assert exited.value.code == 2 and "--targets" in capsys.readouterr().err


def test_flags_parse_with_dashes_and_underscores_and_settings_repeat():
    dashed, targets = collect_evidence.parse_args(["--runs-dir", "r", "--out-dir", "o", "--setting", "a=1",
                                                   "--setting", "b=2"])
    underscored, _ = collect_evidence.parse_args(["--runs_dir", "r", "--out_dir", "o", "--setting", "a=1",
                                                  "--setting", "b=2"])
    assert dashed == underscored and (dashed.runs_dir, dashed.out_dir) == ("r", "o")
    assert dashed.setting == ["a=1", "b=2"]  # every --setting is kept, not only the last
    assert targets == collect_evidence.load_targets(collect_evidence.DEFAULT_TARGETS)
