"""lion_bert.model_card: the card's YAML parses (huggingface_hub.metadata_load) and carries the run's results; it
states the truth -- a newly initialised head is named and gets no usage example or widget, the steps and epochs are
those that ran, the source model is named by its Hub id, a softmax baseline stands beside the score it belongs to;
the parameter count comes from the safetensors headers; the atomic writers never leave a partial file."""

import json
import os
import shutil

import pytest
import torch
from huggingface_hub import metadata_load
from safetensors.torch import load_file
from transformers import Trainer, TrainingArguments

from lion_bert import LionBertForMaskedLM
from lion_bert.data import MINILM_HUB_ID
from lion_bert.model_card import (
    atomic_directory,
    atomic_write_json,
    count_parameters,
    source_hub_id,
    training_hyperparameters,
    write_model_card,
)


def _copy_run(mlm_run, folder):
    """The model files of `mlm_run`, without its card, results, pickle and checkpoint."""
    shutil.copytree(mlm_run, folder, ignore=shutil.ignore_patterns("checkpoint-*", "*.bin", "README.md",
                                                                      "eval_results.json"))
    return folder


def test_card_front_matter_and_body(mlm_run):
    metadata = metadata_load(mlm_run / "README.md")
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "fill-mask"
    assert {"lion-bert", "linear-attention", "lion-d"} <= set(metadata["tags"])
    assert metadata["datasets"] == ["wikimedia/wikipedia"] and metadata["metrics"] == ["accuracy", "perplexity"]
    assert metadata["base_model"] == MINILM_HUB_ID and "inference" not in metadata
    (index,) = metadata["model-index"]
    assert index["name"] == "lion-d-run"
    (result,) = index["results"]
    assert result["task"] == {"type": "fill-mask", "name": "Masked Language Modeling"}
    assert result["dataset"] == {"type": "wikipedia", "name": "English Wikipedia sample", "split": "validation"}
    assert result["metrics"] == [
        {"type": "accuracy", "value": 0.4321, "name": "Masked-token accuracy"},
        {"type": "loss", "value": 3.25, "name": "Loss"},
        {"type": "perplexity", "value": 25.79, "name": "Perplexity"},
    ]  # runtime, throughput, counts and epoch are not quality metrics
    body = (mlm_run / "README.md").read_text()
    assert "trust_remote_code=True" in body and "AutoModelForMaskedLM" in body and 'pipeline("fill-mask"' in body
    assert "**LION-D**" in body and "`recurrent`" in body and 'attention_mode = "recurrent"' in body
    assert "| learning_rate | 0.0008 |" in body and "**Hardware:** test machine." in body
    assert "| eval_runtime | 1.5 |" in body and "Softmax baseline" not in body


def test_card_with_several_result_groups_and_no_results(tmp_path, mlm_run):
    folder = _copy_run(mlm_run, tmp_path / "glue-like")
    groups = {"results": [
        {"task": "text-classification", "split": "validation_matched", "metrics": {"accuracy": 0.8}},
        {"task": "text-classification", "split": "validation_mismatched", "metrics": {"accuracy": 0.81}},
    ]}
    atomic_write_json(folder / "eval_results.json", groups)
    path = write_model_card(folder, dataset_names=["nyu-mll/glue"],
                            dataset={"type": "nyu-mll/glue", "name": "GLUE MNLI", "config": "mnli"})
    results = metadata_load(path)["model-index"][0]["results"]
    assert [r["dataset"]["split"] for r in results] == ["validation_matched", "validation_mismatched"]
    assert all(r["dataset"]["config"] == "mnli" and r["task"]["type"] == "text-classification" for r in results)
    (folder / "eval_results.json").unlink()
    metadata = metadata_load(write_model_card(folder))
    assert "model-index" not in metadata and metadata["library_name"] == "transformers"
    assert "No evaluation results" in (folder / "README.md").read_text()


def test_parameter_count_reads_the_safetensors_headers(tmp_path, mlm_run):
    stored = sum(tensor.numel() for tensor in load_file(str(mlm_run / "model.safetensors")).values())
    assert count_parameters(mlm_run) == stored > 20_000_000
    assert f"({stored:,})" in (mlm_run / "README.md").read_text()
    assert count_parameters(tmp_path) is None


def test_atomic_writers_leave_no_partial_files(tmp_path):
    target = tmp_path / "sub" / "results.json"
    atomic_write_json(target, {"a": float("nan"), "b": torch.tensor(2.5), "c": (1, 2)})
    assert json.loads(target.read_text()) == {"a": None, "b": 2.5, "c": [1, 2]}

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write_json(target, {"a": Boom()})
    assert json.loads(target.read_text())["b"] == 2.5  # the old file is intact
    folder = tmp_path / "folder"
    with atomic_directory(folder) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_directory(folder) as tmp:
            (tmp / "y.txt").write_text("2")
            raise RuntimeError("interrupted")
    assert os.listdir(folder) == ["x.txt"]
    assert sorted(os.listdir(tmp_path)) == ["folder", "sub"] and os.listdir(tmp_path / "sub") == ["results.json"]


def test_card_needs_a_lion_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        write_model_card(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        write_model_card(tmp_path)


def test_result_groups_must_be_dicts_of_metrics(tmp_path, mlm_run):
    folder = _copy_run(mlm_run, tmp_path / "run")
    with pytest.raises(ValueError, match="'baseline' dict"):
        write_model_card(folder, eval_results=[{"metrics": {"accuracy": 0.5}, "baseline": 0.4}])
    assert not (folder / "README.md").exists()


# ------------------------------------------------------------------------------------------------------------------
# The card states the truth
# ------------------------------------------------------------------------------------------------------------------


def test_a_newly_initialised_head_is_named_and_offered_no_example(tmp_path, mlm_run):
    folder = _copy_run(mlm_run, tmp_path / "converted")
    new = ["cls.predictions.bias", "cls.predictions.transform.dense.weight"]
    path = write_model_card(folder, newly_initialised_head=new, hardware="test machine")
    metadata = metadata_load(path)
    assert metadata["inference"] is False  # no Hub widget for the head's task
    body = path.read_text()
    assert "head is newly initialised and untrained" in body
    assert all(f"`{name}`" in body for name in new)
    assert "fill-mask" not in body.split("## Usage")[1] and "Paris" not in body and "AutoModelForMaskedLM" not in body
    # the usage shown is the encoder's, and it runs against the folder
    snippet = body.split("## Usage")[1].split("```python\n")[1].split("```")[0]
    assert 'model = AutoModel.from_pretrained(repo, trust_remote_code=True)' in snippet
    namespace = {}
    exec(compile(snippet.replace('repo = "converted"', f"repo = {str(folder)!r}"), "usage", "exec"), namespace)
    assert namespace["hidden"].shape[-1] == json.loads((folder / "config.json").read_text())["hidden_size"]


def test_the_card_states_the_steps_and_epochs_that_ran(tmp_path, mlm_run, tiny_config):
    """max_steps stopped the run after 1.11 of the 2 planned epochs: the card says 400 steps and 1.11 epochs."""
    folder = _copy_run(mlm_run, tmp_path / "run")
    (folder / "trainer_state.json").write_text(json.dumps({
        "global_step": 400, "epoch": 1.1111, "num_train_epochs": 2, "max_steps": 400, "train_batch_size": 16,
        "log_history": [{"loss": 2.0, "step": 50}, {"train_loss": 1.5, "step": 400}],
    }))
    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), max_steps=400, num_train_epochs=2,
                             learning_rate=3e-4, report_to="none", use_cpu=True)
    trainer = Trainer(model=LionBertForMaskedLM(tiny_config()), args=args)
    hyperparameters = training_hyperparameters(trainer, mlm_probability=0.3)
    assert hyperparameters["learning_rate"] == 3e-4 and hyperparameters["mlm_probability"] == 0.3
    assert "training_steps" not in hyperparameters and "num_epochs" not in hyperparameters  # the plan
    body = write_model_card(folder, training_summary=hyperparameters).read_text()
    training = body.split("## Training")[1]
    assert "| steps_done | 400 |" in training and "| epochs_done | 1.11 |" in training
    assert "| final_train_loss | 1.5 |" in training and "| learning_rate | 0.0003 |" in training
    assert "num_train_epochs" not in body and "| 2 |" not in training


def test_the_source_model_is_named_by_its_hub_id(tmp_path, mlm_run, minilm_dir):
    assert source_hub_id(minilm_dir) == MINILM_HUB_ID  # the embedded folder is called "model"
    assert source_hub_id(str(mlm_run)) == MINILM_HUB_ID  # a local LionBert folder: its card's base_model
    local = _copy_run(mlm_run, tmp_path / "model")
    assert source_hub_id(local) is None  # a local folder without a card has no Hub id
    assert source_hub_id("someone/bert-tiny") == "someone/bert-tiny" and source_hub_id("../up") is None
    assert source_hub_id(None) is None

    named = _copy_run(mlm_run, tmp_path / "named")
    path = write_model_card(named, base_model=str(minilm_dir))
    assert metadata_load(path)["base_model"] == MINILM_HUB_ID
    assert f"| Source model | [`{MINILM_HUB_ID}`](https://huggingface.co/{MINILM_HUB_ID}) |" in path.read_text()
    path = write_model_card(named, base_model=str(local))
    assert "base_model" not in metadata_load(path)
    body = path.read_text()
    assert "| Source model | a local checkpoint with no Hub id |" in body and "`model`" not in body


def test_a_score_stands_beside_its_softmax_baseline(tmp_path, mlm_run):
    folder = _copy_run(mlm_run, tmp_path / "run")
    groups = [{"task": "text-classification", "split": "validation", "metrics": {"eval_pearson": 0.1123},
               "baseline": {"eval_pearson": 0.8456}},
              {"task": "text-classification", "split": "test", "metrics": {"eval_pearson": 0.2}}]
    path = write_model_card(folder, dataset={"type": "nyu-mll/glue", "name": "GLUE STSB", "config": "stsb"},
                            eval_results=groups)
    body = path.read_text()
    assert "| Metric | Value | Softmax baseline, same recipe |" in body
    assert "| GLUE STSB | validation | Pearson correlation | 0.1123 | 0.8456 |" in body
    assert "| GLUE STSB | test | Pearson correlation | 0.2 |  |" in body
    values = [m["value"] for r in metadata_load(path)["model-index"][0]["results"] for m in r["metrics"]]
    assert values == [0.1123, 0.2]  # the model-index holds this model's scores only
