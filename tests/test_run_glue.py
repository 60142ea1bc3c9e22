"""scripts/run_glue.py end to end on tiny models and data: STS-B regression on the embedded data (with the task-teacher
recipe), classification from csv / tsv / json files, the output folder (🤗's result files beside a Hub-ready model),
the clear errors on bad input (raised before any model is loaded), and two-process runs under torchrun and
accelerate launch."""

import csv
import importlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lion_bert.conversion import conversion_recipe


REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "run_glue.py"
CODE_FILES = {"configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py", "tokenization_lion_bert.py"}
HUB_FILES = {"config.json", "model.safetensors", "generation_config.json", "README.md", "tokenizer_config.json"}
TINY = ["--max_steps", "3", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "8",
        "--max_train_samples", "32", "--max_eval_samples", "16", "--disable_tqdm", "true", "--report_to", "none"]  # fmt: skip


@pytest.fixture(scope="module")
def run_glue():
    scripts = str(REPO_ROOT / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return importlib.import_module("run_glue")


TINY_DIMS = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def _save_tiny(folder, model_class, config, tokenizer_class, minilm_dir):
    """A random `model_class(config)` and the bert-base-uncased vocabulary, saved in `folder`."""
    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    tokenizer_class.from_pretrained(str(minilm_dir)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory, minilm_dir):
    """A tiny random BERT (model_type bert, BertModel weights) with the bert-base-uncased vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizer

    config = BertConfig(**TINY_DIMS, max_position_embeddings=128)
    return _save_tiny(tmp_path_factory.mktemp("tiny_bert"), BertModel, config, BertTokenizer, minilm_dir)


@pytest.fixture(scope="module")
def tiny_lion_classifier_dir(tmp_path_factory, minilm_dir):
    """A tiny LionBert (lion_d) checkpoint with a 3-label classification head."""
    from lion_bert import LionBertConfig, LionBertForSequenceClassification, LionBertTokenizer

    config = LionBertConfig(**TINY_DIMS, attention_type="lion_d", num_labels=3)
    return _save_tiny(tmp_path_factory.mktemp("tiny_lion_3_labels"), LionBertForSequenceClassification, config,
                      LionBertTokenizer, minilm_dir)


def write_pairs(path, rows, fieldnames):
    """Rows as csv (.csv), tab-separated (.tsv) or JSON lines (.json)."""
    path = Path(path)
    if path.suffix == ".json":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return path
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def rte_rows(n, seed=0):
    import random

    rng = random.Random(seed)
    subjects, verbs = ["a man", "the cat", "two kids", "my sister"], ["plays guitar", "sleeps", "runs", "cooks"]
    rows = []
    for i in range(n):
        s, v = rng.choice(subjects), rng.choice(verbs)
        same = i % 2 == 0
        hypothesis = f"{s} {v}." if same else f"{s} {rng.choice([x for x in verbs if x != v])}."
        rows.append({"sentence1": f"Today {s} {v} at home.", "sentence2": hypothesis,
                     "label": "entailment" if same else "not_entailment"})  # fmt: skip
    return rows


def assert_hub_ready(folder, attention_type):
    names = set(os.listdir(folder))
    assert HUB_FILES | CODE_FILES <= names, sorted(names)
    assert {"tokenizer.json", "vocab.txt"} & names
    assert not [n for n in names if n.startswith(".")], f"left-over temporary files: {sorted(names)}"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "lion_bert" and config["attention_type"] == attention_type
    assert config["architectures"] == ["LionBertForSequenceClassification"]
    assert config["auto_map"]["AutoModelForSequenceClassification"] == (
        "modeling_lion_bert.LionBertForSequenceClassification"
    )
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"][0] == "tokenization_lion_bert.LionBertTokenizer"
    assert "attention_mode" in json.loads((folder / "generation_config.json").read_text())
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "model-index:" in card and "trust_remote_code=True" in card
    assert f"\n# {folder.resolve().name}\n" in card and f"name: {folder.resolve().name}\n" in card  # not the staging name
    return config


def check_forms_agree(out, forms=("parallel", "recurrent"), samples=16):
    """form_agreement.json: the evaluation form against the other LION form, on a bounded sample."""
    agreement = json.loads((out / "form_agreement.json").read_text())
    assert agreement["forms"] == list(forms) and agreement["num_samples"] == samples
    assert agreement["predictions_agree"] is True and agreement["max_abs_logit_diff"] < 1e-4, agreement


def check_hf_result_files(out, metrics, eval_samples, trained=True):
    """The files transformers' run_glue writes: flat eval_results.json, all_results.json, train_results.json,
    trainer_state.json."""
    evaluation = json.loads((out / "eval_results.json").read_text())
    assert all(isinstance(evaluation[f"eval_{m}"], float) for m in metrics) and "eval_loss" in evaluation
    assert evaluation["eval_samples"] == eval_samples
    everything = json.loads((out / "all_results.json").read_text())
    assert evaluation.items() <= everything.items()
    if trained:
        train = json.loads((out / "train_results.json").read_text())
        assert train.items() <= everything.items() and train["train_loss"] > 0
        assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 3
    else:
        assert not (out / "train_results.json").exists()
    return evaluation


def test_stsb_regression_on_the_embedded_data(run_glue, tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "stsb"
    results = run_glue.main([
        "--model_name_or_path", str(tiny_bert_dir), "--attention_type", "lion_s", "--task_name", "stsb",
        "--do_train", "--do_eval", "--do_predict", "--max_predict_samples", "8", "--output_dir", str(out), *TINY,
        "--attention_transfer_steps", "2",
    ])  # fmt: skip
    # a BERT converted to LION and trained gets the task-teacher recipe by default: the softmax model fine-tuned
    # with the same arguments into OUTPUT_DIR/teacher, then distilled into the LION model; its scores are reported
    teacher_config = json.loads((out / "teacher" / "config.json").read_text())
    assert teacher_config["attention_type"] == "softmax" and teacher_config["attention_probs_dropout_prob"] == 0.1
    config = assert_hub_ready(out, "lion_s")
    assert config["feature_map"] == "hedgehog" and len(config["id2label"]) == 1
    assert config["attention_probs_dropout_prob"] == 0.0  # the student trains without attention dropout by default
    assert config["problem_type"] == "regression"
    evaluation = check_hf_result_files(out, ["pearson", "spearmanr"], eval_samples=16)
    assert results == json.loads((out / "all_results.json").read_text())
    teacher = json.loads((out / "teacher_results.json").read_text())
    assert set(teacher) >= {"eval_pearson", "eval_spearmanr"} and teacher != evaluation
    check_forms_agree(out)
    # the embedded STS-B test split has gold scores: predicted and scored too
    predictions = (out / "predict_results_stsb.txt").read_text().splitlines()
    assert predictions[0] == "index\tprediction" and len(predictions) == 9
    assert json.loads((out / "predict_results.json").read_text())["predict_samples"] == 8
    assert "predict_pearson" in results
    card = (out / "README.md").read_text()
    assert "task-teacher recipe" in card and "| Softmax baseline, same recipe |" in card
    assert "(label weight 0.5, attention dropout 0)" in card
    maps = f"learned feature maps ({conversion_recipe('lion_s').feature_map_size} logits per head)"
    assert maps in card and "attention transferred (2 steps)" in card
    for metric, name in (("pearson", "Pearson correlation"), ("spearmanr", "Spearman correlation")):
        row = re.search(rf"\| validation \| {name} \| (\S+) \| (\S+) \|", card)
        assert row, f"no {name} row beside its baseline"
        assert float(row[1]) == pytest.approx(evaluation[f"eval_{metric}"], abs=1e-4)
        assert float(row[2]) == pytest.approx(teacher[f"eval_{metric}"], abs=1e-4)
    # a local BERT without a Hub id is never named by its folder
    assert "| Source model | a local checkpoint with no Hub id |" in card and tiny_bert_dir.name not in card
    printed = capsys.readouterr().out
    assert "softmax teacher" in printed and "eval_pearson" in printed and "agree" in printed

    # the folder loads through the Auto classes and predicts the same in both forms
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer(["A man plays a guitar."], ["Someone plays music."], return_tensors="pt")
    with torch.no_grad():
        parallel = model(**inputs, attention_mode="parallel").logits
        recurrent = model(**inputs, attention_mode="recurrent").logits
    torch.testing.assert_close(parallel, recurrent, atol=1e-5, rtol=1e-5)


def test_bf16_training_checks_the_forms_in_float32(run_glue, tiny_bert_dir, tmp_path):
    out = tmp_path / "bf16"
    run_glue.main([
        "--model_name_or_path", str(tiny_bert_dir), "--attention_type", "lion_s", "--task_name", "stsb",
        "--do_train", "--do_eval", "--output_dir", str(out), *TINY, "--attention_transfer_steps", "2", "--bf16",
        "--use_cpu",
    ])  # fmt: skip
    # evaluated in bf16 autocast, as Trainer evaluates a mixed-precision model; the forms are compared without it:
    # bf16-rounded logits of this tiny model come out identical (0.0), float32 ones differ in their last bits
    check_hf_result_files(out, ["pearson", "spearmanr"], eval_samples=16)
    check_forms_agree(out)
    assert json.loads((out / "form_agreement.json").read_text())["max_abs_logit_diff"] > 0
    assert "| mixed_precision_training | Native AMP (bf16) |" in (out / "README.md").read_text()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json"])
def test_classification_from_user_files(run_glue, tiny_bert_dir, tmp_path, suffix):
    fields = ["sentence1", "sentence2", "label"]
    train = write_pairs(tmp_path / f"train{suffix}", rte_rows(40), fields)
    dev = write_pairs(tmp_path / f"dev{suffix}", rte_rows(12, seed=1), fields)
    test = write_pairs(tmp_path / f"test{suffix}", rte_rows(6, seed=2), fields)
    out = tmp_path / "rte"
    results = run_glue.main([
        "--model_name_or_path", str(tiny_bert_dir), "--attention_type", "lion_d", "--task_name", "rte",
        "--train_file", str(train), "--validation_file", str(dev), "--test_file", str(test),
        "--do_train", "--do_eval", "--do_predict", "--eval_attention_mode", "chunk", "--chunk_size", "4",
        "--output_dir", str(out), *TINY, "--attention_transfer_steps", "2", "--student_attention_dropout", "0.2",
        "--feature_map_size", "6", *(["--pad_to_max_length", "--max_seq_length", "32"] if suffix == ".tsv" else []),
    ])  # fmt: skip
    check_hf_result_files(out, ["accuracy"], eval_samples=12)
    check_forms_agree(out, forms=("chunk", "parallel"), samples=12)
    config = assert_hub_ready(out, "lion_d")
    assert config["id2label"] == {"0": "entailment", "1": "not_entailment"}
    assert config["feature_map"] == "hedgehog"  # distilled from its teacher (the default for a converted BERT)
    assert config["attention_probs_dropout_prob"] == 0.2
    assert config["feature_map_size"] == 6  # --feature_map_size over the conversion default
    lines = (out / "predict_results_rte.txt").read_text().splitlines()
    assert len(lines) == 7 and all(line.split("\t")[1] in ("entailment", "not_entailment") for line in lines[1:])
    # the test file is labelled, so it is scored too
    assert 0 <= results["predict_accuracy"] <= 1


def test_lion_lit_takes_its_conversion_recipe_unless_told_otherwise(run_glue, tiny_bert_dir, tmp_path, monkeypatch):
    """With no --attention_transfer_steps nor --feature_map_size, a BERT converted to LION-LIT gets its variant's
    recipe (600 transfer steps, 256-logit maps); the flags override it."""
    seen = []

    class Stop(Exception):
        pass

    def record_and_stop(model, teacher, distillation_args, *args):
        seen.append((distillation_args.attention_transfer_steps, model.config.feature_map_size))
        raise Stop  # what follows is tested with LION-S above

    monkeypatch.setattr(run_glue, "transfer_attention", record_and_stop)
    common = ["--model_name_or_path", str(tiny_bert_dir), "--attention_type", "lion_lit", "--task_name", "stsb",
              "--do_train", *TINY]
    teacher = tmp_path / "default" / "teacher"
    for name, flags in (("default", []), ("flags", ["--attention_transfer_steps", "5", "--feature_map_size", "8",
                                                    "--teacher_model_name_or_path", str(teacher)])):
        with pytest.raises(Stop):
            run_glue.main([*common, "--output_dir", str(tmp_path / name), *flags])
    assert seen == [(600, 256), (5, 8)]


def test_fresh_model_and_inferred_columns(run_glue, tmp_path):
    """No checkpoint (a fresh tiny config), no --task_name: one text column and string labels are inferred."""
    rows = [{"text": f"review number {i} is {'good' if i % 3 else 'bad'}", "label": "pos" if i % 3 else "neg"}
            for i in range(30)]  # fmt: skip
    train = write_pairs(tmp_path / "train.json", rows, ["text", "label"])
    dev = write_pairs(tmp_path / "dev.json", rows[:10], ["text", "label"])
    out = tmp_path / "fresh"
    results = run_glue.main([
        "--config_overrides", "hidden_size=32,num_hidden_layers=2,num_attention_heads=4,intermediate_size=37",
        "--attention_type", "lion_lit", "--train_file", str(train), "--validation_file", str(dev),
        "--output_dir", str(out), *TINY,
    ])  # fmt: skip
    check_hf_result_files(out, ["accuracy", "f1"], eval_samples=10)  # no --do_* flags: trains and evaluates
    assert results == json.loads((out / "all_results.json").read_text())  # main() returns what the run wrote
    # the card states what ran: 3 steps of 4 per epoch (30 examples, batches of 8), not the planned epoch
    training = (out / "README.md").read_text().split("## Training")[1]
    assert "| steps_done | 3 |" in training and "| epochs_done | 0.75 |" in training
    assert "num_epochs" not in training and "num_train_epochs" not in training
    check_forms_agree(out, samples=10)
    config = assert_hub_ready(out, "lion_lit")
    assert config["id2label"] == {"0": "neg", "1": "pos"} and "feature_map" in config
    assert not (out / "teacher").exists()  # a fresh model has no softmax model to learn from


def test_evaluation_only_of_a_lionbert_checkpoint(run_glue, tiny_lion_classifier_dir, tmp_path):
    """A LionBert classifier evaluated without training; its generation config names the second form."""
    from lion_bert import LionGenerationConfig

    checkpoint = tmp_path / "ckpt"
    import shutil

    shutil.copytree(tiny_lion_classifier_dir, checkpoint)
    LionGenerationConfig(attention_mode="chunk", chunk_size=3).save_pretrained(checkpoint)
    rows = [{"premise": f"premise {i}", "hypothesis": f"hypothesis {i % 4}", "label": i % 3} for i in range(12)]
    dev = write_pairs(tmp_path / "dev.csv", rows, ["premise", "hypothesis", "label"])
    results = run_glue.main([
        "--model_name_or_path", str(checkpoint), "--task_name", "mnli", "--validation_file", str(dev),
        "--do_eval", "--output_dir", str(tmp_path / "out"), *TINY,
    ])  # fmt: skip
    check_hf_result_files(out := tmp_path / "out", ["accuracy"], eval_samples=12, trained=False)
    assert "train_loss" not in results and 0 <= results["eval_accuracy"] <= 1
    check_forms_agree(out, forms=("chunk", "parallel"), samples=12)  # the generation config's form first
    assert json.loads((out / "config.json").read_text())["attention_type"] == "lion_d"


@pytest.mark.parametrize("computes_bf16", [True, False], ids=["bf16-cpu", "other-cpu"])
def test_quickstart_trains_in_bf16_where_the_cpu_computes_it(run_glue, monkeypatch, computes_bf16):
    monkeypatch.setattr(run_glue, "has_accelerator", lambda: False)
    monkeypatch.setattr(run_glue, "cpu_computes_bf16", lambda: computes_bf16)
    *_, training_args = run_glue.parse_args([])
    assert training_args.bf16 is computes_bf16 and training_args.use_cpu is computes_bf16
    assert not training_args.fp16 and not training_args.bf16_full_eval


def test_quickstart_and_json_arguments(run_glue, tmp_path):
    model_args, data_args, distillation_args, training_args = run_glue.parse_args([])
    # the quickstart shortens the recipe's attention transfer, and keeps it
    assert 0 < distillation_args.attention_transfer_steps < conversion_recipe("lion_s").attention_transfer_steps
    assert data_args.task_name == "stsb" and model_args.model_name_or_path is None
    assert model_args.attention_type == "lion_s" and data_args.max_seq_length == 128
    assert training_args.output_dir == os.path.join("runs", "stsb-lion-s")
    assert training_args.do_train and training_args.do_eval and 100 <= training_args.max_steps <= 500
    assert training_args.save_strategy == "no"

    config = tmp_path / "args.json"
    config.write_text(json.dumps({"task_name": "RTE", "train_file": __file__}))  # a .py file is no data file
    with pytest.raises(ValueError, match=r"\.csv, \.tsv, \.json"):
        run_glue.parse_args([str(config)])
    config.write_text(json.dumps({"task_name": "RTE", "learning_rate": 3e-5, "attention_type": "lion_d"}))
    model_args, data_args, _, training_args = run_glue.parse_args([str(config)])
    assert data_args.task_name == "rte" and training_args.learning_rate == 3e-5
    assert training_args.output_dir == os.path.join("runs", "rte-lion-d")
    assert training_args.do_train and training_args.do_eval


def test_read_sts_csv_keeps_score_and_sentences_of_rows_with_extra_columns(tmp_path):
    from lion_bert.data import embedded_stsb, read_sts_csv

    path = tmp_path / "sts.csv"
    path.write_text(
        "main-news\theadlines\t2016\t0001\t4.5\tSay \"hi\" now\tSay hello\tsource A\tsource B\n"
        "main-captions\tMSRvid\t2012test\t0002\t1\tA cat.\tA dog.\n"
        "broken row\n"
    )
    columns = read_sts_csv(path)
    assert columns["sentence1"] == ['Say "hi" now', "A cat."] and columns["label"] == [4.5, 1.0]
    data = embedded_stsb()
    assert {split: len(d) for split, d in data.items()} == {"train": 5749, "validation": 1500, "test": 1379}
    assert data["train"].features["label"].dtype == "float32"
    assert 0.0 <= min(data["validation"]["label"]) and max(data["validation"]["label"]) <= 5.0


# ----------------------------------------------------------------------------------------------------------------
# Bad input: one clear error, before any model is loaded
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def no_model_loading(run_glue, monkeypatch):
    """Loading a model (or training) fails the test: errors must come first."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded before the input error was raised")

    monkeypatch.setattr(run_glue, "load_model", forbidden)
    monkeypatch.setattr(run_glue, "load_tokenizer", forbidden)


def bad_input_cases(tmp_path, tiny_lion_classifier_dir):
    fields = ["sentence1", "sentence2", "label"]
    good = write_pairs(tmp_path / "good.csv", rte_rows(8), fields)
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(good.read_text().replace("sentence2", "hypothesis", 1))
    numbered = write_pairs(tmp_path / "numbered.csv", [{**r, "label": i % 3} for i, r in enumerate(rte_rows(8))], fields)
    named = write_pairs(tmp_path / "named.tsv", [{**r, "label": "maybe"} for r in rte_rows(4)], fields)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.json"
    header_only.write_text("")
    holes = tmp_path / "holes.csv"
    holes.write_text("sentence1,sentence2,label\na b,c d,1.5\ne f,g h,\n")
    header_csv = tmp_path / "header.csv"
    header_csv.write_text("sentence1,sentence2,label\n")
    return {
        "unknown task": (["--task_name", "glu"], r"Unknown --task_name 'glu'.*cola, sst2"),
        "missing columns": (["--task_name", "rte", "--train_file", str(renamed), "--validation_file", str(good)],
                            r"lacks column\(s\) 'sentence2'.*rename"),
        "label ids out of range": (["--task_name", "rte", "--train_file", str(numbered)],
                                   r"labels \[2\] do not fit task 'rte' with 2 labels"),
        "unknown label names": (["--task_name", "rte", "--train_file", str(good), "--validation_file", str(named)],
                                r"labels \['maybe'\] do not fit task 'rte'"),
        "empty file": (["--task_name", "rte", "--train_file", str(empty)], r"is empty"),
        "empty json file": (["--train_file", str(header_only)], r"is empty"),
        "header only": (["--task_name", "rte", "--train_file", str(header_csv)], r"has no examples"),
        "missing file": (["--task_name", "rte", "--train_file", str(tmp_path / "nope.csv")], r"does not exist"),
        "head does not fit": (["--model_name_or_path", str(tiny_lion_classifier_dir), "--task_name", "rte",
                               "--train_file", str(good), "--validation_file", str(good)],
                              r"classification head with 3 label\(s\) but the task needs 2 labels.*"
                              r"--ignore_mismatched_sizes"),
        "offline task without files": (["--task_name", "qnli"], r"needs the Hub.*--train_file"),
        "bad attention type": (["--attention_type", "lion_x"], r"--attention_type must be one of"),
        "regression labels": (["--task_name", "stsb", "--train_file", str(good)], r"must be numbers"),
        "missing labels": (["--task_name", "stsb", "--train_file", str(holes)], r"1 row\(s\) of the train data have no label"),
        "bad config override": (["--config_overrides", "hidden_size=30", "--task_name", "rte", "--train_file",
                                 str(good)], r"(?s)--config_overrides 'hidden_size=30'.*must be a multiple"),
        "bad student dropout": (["--student_attention_dropout", "1"], r"--student_attention_dropout must lie in"),
        "bad feature map size": (["--feature_map_size", "0"], r"--feature_map_size must be a positive int"),
        "feature map size of a LionBert": (["--model_name_or_path", str(tiny_lion_classifier_dir), "--feature_map_size",
                                            "8"], r"--feature_map_size sizes the feature maps of a BERT.*drop the flag"),
        "softmax student": (["--attention_type", "softmax", "--distill_from_teacher", "true"],
                            r"--distill_from_teacher distills a LION model.*'softmax' has nothing to distill"),
    }  # fmt: skip


BAD_CASES = ["unknown task", "missing columns", "label ids out of range", "unknown label names", "empty file",
             "empty json file", "header only", "missing file", "head does not fit", "offline task without files",
             "bad attention type", "regression labels", "missing labels", "bad config override",
             "bad student dropout", "bad feature map size", "feature map size of a LionBert",
             "softmax student"]  # fmt: skip


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_raises_one_clear_error_before_loading_a_model(
    run_glue, no_model_loading, tmp_path, tiny_lion_classifier_dir, case
):
    args, message = bad_input_cases(tmp_path, tiny_lion_classifier_dir)[case]
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        run_glue.main([*args, "--do_train", "--output_dir", str(out), *TINY])
    assert not out.exists(), "nothing is written for a bad input"


def test_mismatched_head_is_replaced_on_request(run_glue, tiny_lion_classifier_dir, tmp_path):
    fields = ["sentence1", "sentence2", "label"]
    good = write_pairs(tmp_path / "good.csv", rte_rows(16), fields)
    results = run_glue.main([
        "--model_name_or_path", str(tiny_lion_classifier_dir), "--task_name", "rte", "--train_file", str(good),
        "--validation_file", str(good), "--ignore_mismatched_sizes", "--output_dir", str(tmp_path / "out"), *TINY,
    ])  # fmt: skip
    assert json.loads((tmp_path / "out" / "config.json").read_text())["id2label"] == {"0": "entailment",
                                                                                      "1": "not_entailment"}
    assert 0 <= results["eval_accuracy"] <= 1
    check_forms_agree(tmp_path / "out")


# ----------------------------------------------------------------------------------------------------------------
# Two processes
# ----------------------------------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(launcher, tiny_bert_dir, out, tmp_path):
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
    )  # fmt: skip
    script_args = [
        str(SCRIPT), "--model_name_or_path", str(tiny_bert_dir), "--attention_type", "lion_s", "--task_name",
        "stsb", "--do_train", "--do_eval", "--output_dir", str(out), *TINY, "--attention_transfer_steps", "2",
    ]  # fmt: skip
    result = subprocess.run(
        [*launcher, *script_args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # 3 optimizer steps of 2 x 8 examples; the 16 validation pairs gathered from both processes, in both forms
    check_hf_result_files(out, ["pearson", "spearmanr"], eval_samples=16)
    assert json.loads((out / "trainer_state.json").read_text())["train_batch_size"] == 8
    check_forms_agree(out)
    assert_hub_ready(out, "lion_s")
    assert result.stdout.count("this model") == 1, "only the main process prints the results table"
    return result


@pytest.mark.slow
def test_two_processes_under_torchrun(tiny_bert_dir, tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]  # fmt: skip
    _launch(launcher, tiny_bert_dir, tmp_path / "out", tmp_path)


@pytest.mark.slow
def test_two_processes_under_accelerate_launch(tiny_bert_dir, tmp_path):
    # accelerate 1.x: `--cpu` always starts ONE process (its simple launcher); `--multi_gpu --num_processes 2` starts
    # two through torch.distributed, which run_glue.py puts on the CPU (gloo) when the machine has no accelerator.
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(_free_port())]  # fmt: skip
    _launch(launcher, tiny_bert_dir, tmp_path / "out", tmp_path)


def test_a_failure_while_writing_leaves_the_previous_output_intact(run_glue, tiny_bert_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = ["--model_name_or_path", str(tiny_bert_dir), "--task_name", "stsb", "--output_dir", str(out), *TINY]
    run_glue.main(args)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert folders == {"teacher"}, folders  # the softmax teacher of the default recipe, reused by the next run

    def broken_card(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_glue, "write_model_card", broken_card)
    with pytest.raises(RuntimeError, match="disk full"):
        run_glue.main([*args, "--learning_rate", "1e-3", "--seed", "7"])
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in out.iterdir()) == sorted([*before, *folders]), "no staging folder is left"
