"""scripts/collect_evidence.py builds evidence.json / evidence.md from the run folders of
scripts/reproduce_evidence.sh (fake eval_results.json files here: no training)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import collect_evidence  # noqa: E402


def _write(path: Path, data: dict):
    path.mkdir(parents=True, exist_ok=True)
    (path / "eval_results.json").write_text(json.dumps(data))


def _mlm(runs, attention_type, accuracy, loss, tokens_per_second, recurrent=None):
    folder = runs / f"mlm-{attention_type}"
    _write(folder, {"eval_accuracy": accuracy, "eval_loss": loss, "perplexity": 2.718 ** loss,
                    "eval_masked_tokens": 1000, "eval_samples": 50})
    (folder / "train_results.json").write_text(json.dumps({"train_tokens_per_second": tokens_per_second,
                                                            "train_runtime": 300.0, "train_loss": 6.0}))
    if recurrent is not None:
        _write(runs / f"mlm-{attention_type}-recurrent", {"eval_accuracy": recurrent[0], "eval_loss": recurrent[1]})


def _stsb(folder, pearson, spearman, diff, eval_form="recurrent"):
    forms = {"parallel": {"pearson": pearson, "spearmanr": spearman, "runtime_s": 10.0}}
    if eval_form != "parallel":
        forms[eval_form] = {"pearson": pearson + diff, "spearmanr": spearman - diff, "runtime_s": 13.0}
    _write(folder, {"training_form": "parallel", "eval_form": eval_form,
                    "train": {"train_runtime": 100.0, "global_step": 300},
                    "splits": {"validation": {"num_samples": 1500, "forms": forms,
                                              "agreement": {"max_abs_logit_diff": diff, "predictions_agree": True}}}})


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    _mlm(runs, "softmax", 0.40, 3.5, 9000.0)
    _mlm(runs, "lion_s", 0.385, 3.6, 7000.0, recurrent=(0.385, 3.6000001))
    _stsb(runs / "stsb-mlm-softmax", 0.30, 0.28, 0.0, eval_form="parallel")
    _stsb(runs / "stsb-mlm-lion_s", 0.29, 0.27, 1e-6)
    _stsb(runs / "stsb-minilm-softmax", 0.86, 0.85, 0.0, eval_form="parallel")
    _stsb(runs / "stsb-minilm-lion_s", 0.80, 0.80, 2e-6)
    return runs


def test_collect_builds_json_with_gaps_and_targets(runs, tmp_path):
    evidence = collect_evidence.collect(runs, {"mlm_steps": "600", "seed": "42"})
    models = evidence["models"]
    assert models["lion_d"]["mlm"] is None and models["lion_lit"]["stsb_minilm"] is None  # missing runs
    lion_s = models["lion_s"]
    assert lion_s["mlm"]["accuracy"] == 0.385 and lion_s["mlm"]["accuracy_recurrent"] == 0.385
    assert lion_s["mlm"]["max_form_diff"] == pytest.approx(1e-7, abs=1e-9)
    assert lion_s["stsb_minilm"]["spearman"] == 0.80 and lion_s["stsb_minilm"]["max_abs_logit_diff"] == 2e-6
    gaps = lion_s["gaps_vs_softmax"]
    assert gaps["mlm_accuracy_points"] == pytest.approx(1.5)
    assert gaps["stsb_pretrained_spearman_points"] == pytest.approx(1.0)
    assert gaps["stsb_minilm_spearman_points"] == pytest.approx(5.0)
    targets = evidence["targets"]
    assert targets["mlm_accuracy"]["met"] is False and targets["mlm_accuracy"]["missed_by_points"] == pytest.approx(0.5)
    assert targets["stsb_pretrained_spearman"]["met"] is True
    assert targets["stsb_minilm_spearman"]["missed_by_points"] == pytest.approx(3.0)
    assert evidence["forms_agree"]["max_difference"] == pytest.approx(2e-6)
    assert evidence["forms_agree"]["all_stsb_agree"] is True
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
    assert "0.8000 / 0.8000" in minilm and "2.0e-06" in minilm and "MISSED by 3.00" in minilm and "| 1500 |" in minilm
    assert not list(out.glob(".*.tmp"))


def _lever(runs, name, change, stage, spearman, attention_type="lion_s", conversion=None):
    folder = runs / f"lever-{name}"
    _stsb(folder, spearman, spearman, 1e-6)
    results = json.loads((folder / "eval_results.json").read_text())
    (folder / "eval_results.json").write_text(json.dumps({**results, "attention_type": attention_type}))
    (folder / "lever.json").write_text(json.dumps({"change": change, "stage": stage}))
    if conversion is not None:
        (runs / name).mkdir()
        (runs / name / "conversion_results.json").write_text(json.dumps(conversion))


def test_levers_are_listed_in_pipeline_order_with_their_effect(runs, tmp_path):
    _lever(runs, "distilled-lion_s", "distilled conversion", 21, 0.83,
           conversion={"errors_before": {"hidden_relative_error": [0.1, 0.8]},
                       "errors_after_model": {"hidden_relative_error": [0.01, 0.3]}})
    _lever(runs, "position-none", "no position embeddings", 16, 0.70)
    (runs / "lever-broken").mkdir()  # a lever whose run never finished is left out
    evidence = collect_evidence.collect(runs)
    levers = evidence["levers"]
    assert [lever["name"] for lever in levers] == ["position-none", "distilled-lion_s"]
    position, distilled = levers
    assert position["spearman_change_points"] == pytest.approx(-10.0)  # vs the plain conversion's 0.80
    assert position["spearman_gap_to_softmax_points"] == pytest.approx(15.0)  # softmax: 0.85
    assert distilled["spearman_change_points"] == pytest.approx(3.0) and distilled["conversion"] is not None
    assert evidence["forms_agree"]["all_stsb_agree"] is True
    markdown = collect_evidence.to_markdown(evidence)
    rows = [line for line in markdown.splitlines() if line.startswith("| position-none") or
            line.startswith("| distilled-lion_s")]
    assert "| -10.00 | 15.00 |" in rows[0] and "no position embeddings" in rows[0]
    assert "| +3.00 | 2.00 |" in rows[1] and "error 0.800 -> 0.300" in rows[1]


def test_command_line(runs, tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, str(SCRIPTS / "collect_evidence.py"), "--runs_dir", str(runs),
                           "--out_dir", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "evidence.json").is_file() and "LION-S" in done.stdout
