"""scripts/convert_bert_to_lion.py, the model card (scripts/model_card.py, model_cards/) and scripts/push_to_hub.py:
conversion of the real MiniLM BERT to every variant initialises exactly LION's own parameters; the card's YAML parses
and carries the run's results; the dry-run upload folder holds exactly the expected files, validates, and loads with
trust_remote_code in a fresh process where `lion_bert` cannot be imported, with identical outputs; bad run folders
give clear errors and never a half-written folder."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fresh_python import WITHOUT_LION_BERT


REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import convert_bert_to_lion  # noqa: E402
import model_card  # noqa: E402
from lion_bert.conversion import LION_PARAMETER, convert  # noqa: E402
import push_to_hub  # noqa: E402


CODE_FILES = {"configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py", "tokenization_lion_bert.py"}
UPLOAD_FILES = CODE_FILES | {"README.md", "config.json", "model.safetensors", "generation_config.json",
                             "tokenizer.json", "tokenizer_config.json"}
LION_OWN = {
    "lion_s": {"gate.weight", "gate.bias"},
    "lion_d": {"decay_logits"},
    "lion_lit": {"attn_norm.weight", "attn_norm.bias"},
    "softmax": set(),
}
HEDGEHOG = {f"{side}_feature_map.{name}" for side in ("query", "key") for name in ("weight", "bias")}
NO_DISTILLATION = ["--attention_transfer_steps", "0", "--distillation_steps", "0"]
TINY_DISTILLATION = ["--attention_transfer_steps", "6", "--distillation_steps", "4", "--max_eval_samples", "16",
                     "--sts_eval_samples", "200",
                     "--per_device_train_batch_size", "4", "--max_seq_length", "48", "--logging_steps", "2",
                     "--disable_tqdm", "true"]


def _expected_lion_names(attention_type, prefix="", layers=6, own=None):
    own = LION_OWN[attention_type] if own is None else own
    return {f"{prefix}encoder.layer.{i}.attention.self.{name}" for i in range(layers) for name in own}


@pytest.mark.parametrize("attention_type", ["lion_s", "lion_d", "lion_lit", "softmax"])
def test_plain_conversion_initialises_exactly_lion_parameters(tmp_path, minilm_dir, attention_type, capsys):
    out = tmp_path / attention_type
    convert_bert_to_lion.main(["--attention_type", attention_type, "--output_dir", str(out), "--inference_mode",
                               "recurrent", *NO_DISTILLATION])
    printed = capsys.readouterr().out
    conversion = convert(str(minilm_dir), attention_type=attention_type, load_tokenizer=False)
    assert conversion.head == "base"  # MiniLM has no MLM head: head=auto keeps the encoder alone
    assert set(conversion.newly_initialised) == _expected_lion_names(attention_type)
    assert set(conversion.lion_parameters) == _expected_lion_names(attention_type)
    assert not conversion.unused and not conversion.head_initialised and not conversion.other_initialised
    # printed report: exactly the LION tensors, compressed per layer
    block = printed.split("Newly initialised LION parameters")[1].split("Saved a Hub-ready folder")[0]
    listed = {line.strip() for line in block.splitlines()[1:] if line.strip()}
    if attention_type == "softmax":
        assert "(0 tensors, 0 values)" in printed
    else:
        assert listed == {f"encoder.layer.{{0-5}}.attention.self.{name}" for name in LION_OWN[attention_type]}
    # every BERT weight is carried over unchanged
    bert = load_file(str(minilm_dir / "model.safetensors"))
    lion = load_file(str(out / "model.safetensors"))
    lion_new = {name for name in lion if LION_PARAMETER.search(name)}
    assert lion_new == _expected_lion_names(attention_type)
    for name, tensor in bert.items():
        key = name.removeprefix("bert.")
        if key == "embeddings.position_ids":
            continue
        assert torch.equal(lion[key], tensor), name
    assert set(lion) - lion_new == {n.removeprefix("bert.") for n in bert} - {"embeddings.position_ids"}
    # the folder is Hub-ready
    assert set(os.listdir(out)) == UPLOAD_FILES | {"conversion_results.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["attention_type"] == attention_type and config["position_embedding_type"] == "absolute"
    assert config["auto_map"]["AutoModel"] == "modeling_lion_bert.LionBertModel"
    assert json.loads((out / "generation_config.json").read_text())["attention_mode"] == "recurrent"
    metadata = model_card.read_card_metadata(out)
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert attention_type.replace("_", "-") in metadata["tags"] and "model-index" not in metadata


@pytest.mark.parametrize("attention_type", ["lion_s", "lion_d", "lion_lit"])
def test_distilled_conversion(tmp_path, minilm_dir, attention_type, capsys):
    """The default: learned feature maps, attention transfer then model distillation on the embedded Wikipedia
    sample; both stages lower their held-out loss, and the card and results say what was done and kept."""
    out = tmp_path / attention_type
    results = convert_bert_to_lion.main(["--attention_type", attention_type, "--output_dir", str(out),
                                         *TINY_DISTILLATION])
    own = HEDGEHOG | (LION_OWN[attention_type] - {"attn_norm.weight", "attn_norm.bias"})
    assert {n for n in load_file(str(out / "model.safetensors")) if LION_PARAMETER.search(n)} == \
        _expected_lion_names(attention_type, own=own)
    config = json.loads((out / "config.json").read_text())
    assert config["feature_map"] == "hedgehog" and config["attention_layer_norm"] is False
    for stage in ("attention", "model"):
        metrics = results["stages"][stage]
        assert metrics["eval_loss"] < metrics["eval_loss_before"], stage
        assert metrics["global_step"] if "global_step" in metrics else True
    before, after = results["errors_before"], results["errors_after_model"]
    assert len(before["attention_kl"]) == len(after["hidden_relative_error"]) == 6
    assert sum(after["attention_kl"]) < sum(before["attention_kl"])
    assert sum(after["hidden_relative_error"]) < sum(before["hidden_relative_error"])
    sts = results["zero_shot_sts_b"]
    assert sts["pairs"] == 200 and 0.5 < sts["student"] < 1 and 0.8 < sts["teacher"] < 0.95
    assert json.loads((out / "conversion_results.json").read_text()) == json.loads(json.dumps(results))
    card = (out / "README.md").read_text()
    assert "attention transfer (6 steps" in card and "model distillation (4 steps" in card
    assert f"{sts['teacher']:.4f}" in card and "checkpoints" not in os.listdir(out)
    assert "Stage attention: held-out loss" in capsys.readouterr().out
    from lion_bert import LionBertModel

    model = LionBertModel.from_pretrained(out)
    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102]])
    forms = [model(ids, attention_mode=mode).last_hidden_state for mode in ("parallel", "chunk", "recurrent")]
    for other in forms[1:]:
        torch.testing.assert_close(other, forms[0], atol=1e-5, rtol=0)


def test_an_interrupted_conversion_resumes(tmp_path, minilm_dir, monkeypatch):
    """Stage checkpoints go to OUTPUT_DIR/checkpoints; the same command after a crash resumes from them."""
    out = tmp_path / "resumed"
    args = ["--attention_type", "lion_s", "--output_dir", str(out), *TINY_DISTILLATION, "--save_steps", "2"]

    def crash(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(convert_bert_to_lion, "write_folder", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        convert_bert_to_lion.main(args)
    assert (out / "checkpoints" / "attention" / "checkpoint-6").is_dir()
    assert (out / "checkpoints" / "model" / "checkpoint-4").is_dir()
    monkeypatch.undo()
    import transformers

    steps = []
    original = transformers.Trainer.training_step

    def counted(self, *a, **k):
        steps.append(type(self.model).__name__)
        return original(self, *a, **k)

    monkeypatch.setattr(transformers.Trainer, "training_step", counted)
    results = convert_bert_to_lion.main(args)
    assert steps == []  # both stages resumed at their last step: nothing was trained again
    assert all(results["stages"][stage]["resumed_finished_stage"].endswith(f"checkpoint-{n}")
               for stage, n in (("attention", 6), ("model", 4)))
    assert results["stages"]["model"]["eval_loss"] < results["stages"]["model"]["eval_loss_before"]
    assert not (out / "checkpoints").exists() and (out / "model.safetensors").is_file()


def test_conversion_refuses_bad_input_before_any_work(tmp_path):
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="conversion takes BERT"):
        convert_bert_to_lion.main(["--model_name_or_path", str(tmp_path / "gpt"), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(OSError, match="Cannot read config.json"):
        convert_bert_to_lion.main(["--model_name_or_path", str(tmp_path / "nowhere"), "--output_dir",
                                   str(tmp_path / "o")])
    for flags, message in [(["--distillation_steps", "-1"], "--distillation_steps must be >= 0"),
                           (["--attention_transfer_learning_rate", "0"], "must be positive"),
                           (["--attention_type", "softmax"], "nothing to distill"),
                           (["--train_file", str(tmp_path / "missing.txt")], "does not exist")]:
        with pytest.raises(ValueError, match=message):
            convert_bert_to_lion.main(["--output_dir", str(tmp_path / "o"), *flags])
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="--overwrite_output_dir"):
        convert_bert_to_lion.main(["--output_dir", str(taken)])
    assert (taken / "keep.txt").read_text() == "x" and not (tmp_path / "o").exists()


def test_conversion_with_an_mlm_head_reports_the_head_separately(minilm_dir):
    conversion = convert(str(minilm_dir), attention_type="lion_d", head="mlm", load_tokenizer=False)
    assert set(conversion.lion_initialised) == _expected_lion_names("lion_d", prefix="bert.")
    assert conversion.head_initialised and all(n.startswith("cls.predictions.") for n in conversion.head_initialised)
    assert not conversion.other_initialised
    assert conversion.unused == ["pooler.dense.bias", "pooler.dense.weight"]  # MLM models have no pooler


# ------------------------------------------------------------------------------------------------------------------
# Model card
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory, minilm_dir):
    """A run folder as run_mlm.py leaves it: a converted LION-D MLM model, results, a card, and a pickle."""
    run = tmp_path_factory.mktemp("run") / "lion-d-run"
    conversion = convert(str(minilm_dir), attention_type="lion_d", head="mlm", inference_mode="recurrent")
    conversion.model.save_pretrained(run)
    conversion.tokenizer.save_pretrained(run)
    model_card.atomic_write_json(run / "eval_results.json", {
        "eval_accuracy": 0.4321, "eval_loss": 3.25, "perplexity": 25.79, "eval_runtime": 1.5,
        "eval_samples_per_second": 10.0, "eval_masked_tokens": 300, "epoch": 1.0,
    })
    model_card.write_model_card(
        run, dataset_names=["wikimedia/wikipedia"],
        dataset={"type": "wikipedia", "name": "English Wikipedia sample", "split": "validation"},
        base_model="sentence-transformers/all-MiniLM-L6-v2", training_summary={"learning_rate": 8e-4},
        metric_names={"accuracy": "Masked-token accuracy"}, hardware="test machine",
    )
    torch.save({"not": "uploaded"}, run / "training_args.bin")
    (run / "checkpoint-1").mkdir()
    (run / "checkpoint-1" / "optimizer.pt").write_bytes(b"pickle")
    return run


def test_card_front_matter_and_body(mlm_run):
    metadata = model_card.read_card_metadata(mlm_run / "README.md")
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "fill-mask"
    assert {"lion-bert", "linear-attention", "lion-d"} <= set(metadata["tags"])
    assert metadata["datasets"] == ["wikimedia/wikipedia"] and metadata["metrics"] == ["accuracy", "perplexity"]
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
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
    assert "| eval_runtime | 1.5 |" in body


def test_card_with_several_result_groups_and_no_results(tmp_path, mlm_run):
    folder = tmp_path / "glue-like"
    shutil.copytree(mlm_run, folder, ignore=shutil.ignore_patterns("checkpoint-*", "*.bin", "README.md",
                                                                      "eval_results.json"))
    groups = {"results": [
        {"task": "text-classification", "split": "validation_matched", "metrics": {"accuracy": 0.8}},
        {"task": "text-classification", "split": "validation_mismatched", "metrics": {"accuracy": 0.81}},
    ]}
    model_card.atomic_write_json(folder / "eval_results.json", groups)
    path = model_card.write_model_card(folder, dataset_names=["nyu-mll/glue"],
                                       dataset={"type": "nyu-mll/glue", "name": "GLUE MNLI", "config": "mnli"},
                                       base_model=str(mlm_run))  # a local path: not metadata
    metadata = model_card.read_card_metadata(path)
    results = metadata["model-index"][0]["results"]
    assert [r["dataset"]["split"] for r in results] == ["validation_matched", "validation_mismatched"]
    assert all(r["dataset"]["config"] == "mnli" and r["task"]["type"] == "text-classification" for r in results)
    assert "base_model" not in metadata
    (folder / "eval_results.json").unlink()
    metadata = model_card.read_card_metadata(model_card.write_model_card(folder))
    assert "model-index" not in metadata and metadata["library_name"] == "transformers"
    assert "No evaluation results" in (folder / "README.md").read_text()


def test_atomic_writers_leave_no_partial_files(tmp_path):
    target = tmp_path / "sub" / "results.json"
    model_card.atomic_write_json(target, {"a": float("nan"), "b": torch.tensor(2.5), "c": (1, 2)})
    assert json.loads(target.read_text()) == {"a": None, "b": 2.5, "c": [1, 2]}

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        model_card.atomic_write_json(target, {"a": Boom()})
    assert json.loads(target.read_text())["b"] == 2.5  # the old file is intact
    folder = tmp_path / "folder"
    with model_card.atomic_directory(folder) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with model_card.atomic_directory(folder) as tmp:
            (tmp / "y.txt").write_text("2")
            raise RuntimeError("interrupted")
    assert os.listdir(folder) == ["x.txt"]
    assert sorted(os.listdir(tmp_path)) == ["folder", "sub"] and os.listdir(tmp_path / "sub") == ["results.json"]


def test_card_needs_a_lion_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        model_card.write_model_card(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        model_card.write_model_card(tmp_path)


# ------------------------------------------------------------------------------------------------------------------
# push_to_hub.py
# ------------------------------------------------------------------------------------------------------------------


FRESH_PROCESS = WITHOUT_LION_BERT + textwrap.dedent(
    r"""
    import json
    try:
        import lion_bert  # noqa: F401
        blocked = False
    except ImportError:
        blocked = True

    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    folder = sys.argv[1]
    reference = torch.load(sys.argv[3])
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
    inputs = dict(tokenizer(reference["texts"], padding=True, return_tensors="pt"))
    with torch.no_grad():
        logits = model(**inputs).logits
        parallel = model(**inputs, attention_mode="parallel").logits
    report = {
        "blocked": blocked,
        "lion_bert_loaded": any(name == "lion_bert" or name.startswith("lion_bert.") for name in sys.modules),
        "model_class": type(model).__name__,
        "model_module": type(model).__module__,
        "tokenizer_class": type(tokenizer).__name__,
        "config_class": type(AutoConfig.from_pretrained(folder, trust_remote_code=True)).__name__,
        "inference_form": model.generation_config.attention_mode,
        "same_ids": all(torch.equal(inputs[k], v) for k, v in reference["inputs"].items()),
        "max_abs_diff": float((logits - reference["logits"]).abs().max()),
        "max_abs_diff_parallel": float((parallel - reference["logits"]).abs().max()),
    }
    # the card's usage snippet runs as written, against this folder instead of the Hub
    import contextlib, io, re
    card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    snippet = re.search(r"## Usage.*?```python\n(.*?)```", card, re.S).group(1)
    snippet = re.sub(r'^repo = ".*?"', f"repo = {folder!r}", snippet, flags=re.M)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, "README.md usage", "exec"), {})
    report["usage_snippet_output"] = printed.getvalue()
    print("\nREPORT " + json.dumps(report))
    """
)


def test_dry_run_writes_exactly_the_upload_folder_which_loads_without_the_package(tmp_path, mlm_run, capsys):
    dest = tmp_path / "upload"
    assert push_to_hub.main([str(mlm_run), "--repo-id", "someone/lion-d-minilm", "--dry-run", "--dry-run-dir",
                             str(dest)]) == 0
    printed = capsys.readouterr().out
    assert set(os.listdir(dest)) == UPLOAD_FILES | {"eval_results.json"}
    for name in UPLOAD_FILES:
        assert name in printed
    assert "[FAIL]" not in printed and printed.count("[ok]") >= 10
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no staging leftovers
    # the card now names the repository
    metadata = model_card.read_card_metadata(dest)
    assert metadata["model-index"][0]["name"] == "lion-d-minilm"
    assert 'repo = "someone/lion-d-minilm"' in (dest / "README.md").read_text()
    assert push_to_hub.validate_hub_folder(dest)[1] == []

    # reference outputs of the run's model (in its recurrent inference form)
    from lion_bert import LionBertForMaskedLM, LionBertTokenizer

    model = LionBertForMaskedLM.from_pretrained(mlm_run).eval()
    tokenizer = LionBertTokenizer.from_pretrained(mlm_run)
    texts = ["LION reads the sequence in both directions.", "A short [MASK] text."]
    inputs = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        logits = model(**inputs).logits
    torch.save({"texts": texts, "inputs": inputs, "logits": logits}, tmp_path / "reference.pt")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "load.py"
    script.write_text(FRESH_PROCESS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TRANSFORMERS_VERBOSITY="error")
    result = subprocess.run([sys.executable, str(script), str(dest), str(REPO_ROOT), str(tmp_path / "reference.pt")],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads([line for line in result.stdout.splitlines() if line.startswith("REPORT ")][-1][7:])
    assert report["blocked"] and not report["lion_bert_loaded"]
    assert report["model_class"] == "LionBertForMaskedLM"
    assert report["model_module"].startswith("transformers_modules.")
    assert report["tokenizer_class"] == "LionBertTokenizer" and report["config_class"] == "LionBertConfig"
    assert report["inference_form"] == "recurrent" and report["same_ids"]
    assert report["max_abs_diff"] <= 1e-6  # the same computation (recurrent form, same weights)
    assert report["max_abs_diff_parallel"] < 1e-4  # and the parallel form agrees
    assert "'token_str'" in report["usage_snippet_output"]  # the fill-mask pipeline of the card's usage ran


def test_dry_run_default_folder_and_replacement(tmp_path, mlm_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(mlm_run, run)
    assert push_to_hub.main([str(run), "--repo-id", "a/b", "--dry-run"]) == 0
    assert set(os.listdir(run / "hub_ready")) == UPLOAD_FILES | {"eval_results.json"}
    (run / "hub_ready" / "stale.txt").write_text("from an older dry run")
    assert push_to_hub.main([str(run), "--repo-id", "a/c", "--dry-run"]) == 0
    assert "stale.txt" not in os.listdir(run / "hub_ready")  # replaced as a whole
    assert 'repo = "a/c"' in (run / "hub_ready" / "README.md").read_text()


def _broken_runs(base, mlm_run):
    def copy(name, ignore=()):
        folder = base / name
        shutil.copytree(mlm_run, folder, ignore=shutil.ignore_patterns("checkpoint-*", *ignore))
        return folder

    runs = {}
    runs["missing run dir"] = (base / "does-not-exist", "is not a folder")
    runs["no weights"] = (copy("no-weights", ["model.safetensors"]), "no model.safetensors")
    pickle_only = copy("pickle-only", ["model.safetensors"])
    torch.save({}, pickle_only / "pytorch_model.bin")
    runs["pickle weights"] = (pickle_only, "pytorch_model.bin (pickle)")
    corrupted = copy("corrupted-config")
    (corrupted / "config.json").write_text('{"model_type": "lion_bert", ')
    runs["corrupted config"] = (corrupted, "config.json is corrupted")
    no_tokenizer = copy("no-tokenizer", ["tokenizer.json", "vocab.txt"])
    runs["no tokenizer"] = (no_tokenizer, "no complete tokenizer")
    no_generation = copy("no-generation-config", ["generation_config.json"])
    runs["no generation config"] = (no_generation, "no generation_config.json")
    return runs


def test_bad_run_folders_give_a_clear_error_and_write_nothing(tmp_path, mlm_run, capsys):
    for label, (run, message) in _broken_runs(tmp_path, mlm_run).items():
        dest = tmp_path / f"dry-{run.name}"
        code = push_to_hub.main([str(run), "--repo-id", "a/b", "--dry-run", "--dry-run-dir", str(dest)])
        err = capsys.readouterr().err
        assert code == 2, label
        assert message in err, (label, err)
        assert not dest.exists(), label
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_validation_failures_leave_the_previous_folder_untouched(tmp_path, mlm_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(mlm_run, run)
    dest = tmp_path / "upload"
    assert push_to_hub.main([str(run), "--repo-id", "a/b", "--dry-run", "--dry-run-dir", str(dest)]) == 0
    before = {name: (dest / name).read_bytes() for name in os.listdir(dest)}
    capsys.readouterr()
    # a card whose YAML does not parse, and an auto_map pointing to a class that does not exist
    (run / "README.md").write_text("---\ntags: [unclosed\n---\n# card\n")
    config = json.loads((run / "config.json").read_text())
    config["auto_map"]["AutoModel"] = "modeling_lion_bert.NoSuchClass"
    (run / "config.json").write_text(json.dumps(config))
    assert push_to_hub.main([str(run), "--repo-id", "a/b", "--dry-run", "--dry-run-dir", str(dest)]) == 1
    captured = capsys.readouterr()
    assert "defines no class NoSuchClass" in captured.out and "FAIL" in captured.out
    assert "nothing was written" in captured.err
    assert {name: (dest / name).read_bytes() for name in os.listdir(dest)} == before
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_upload_uses_create_repo_and_upload_folder(tmp_path, mlm_run, monkeypatch, capsys):
    import huggingface_hub

    # offline (as in this test suite): a clear error, nothing uploaded
    assert push_to_hub.main([str(mlm_run), "--repo-id", "a/b"]) == 2
    assert "unreachable" in capsys.readouterr().err

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["create_repo"] = (repo_id, kwargs)
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            calls["upload_folder"] = (repo_id, sorted(os.listdir(folder_path)), kwargs)
            return "commit"

    monkeypatch.setattr(push_to_hub, "hub_is_reachable", lambda timeout=5.0: True)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert push_to_hub.main([str(mlm_run), "--repo-id", "me/model", "--private", "--token", "t0k"]) == 0
    assert calls["token"] == "t0k"
    assert calls["create_repo"] == ("me/model", {"private": True, "exist_ok": True, "repo_type": "model"})
    repo_id, files, kwargs = calls["upload_folder"]
    assert repo_id == "me/model" and set(files) == UPLOAD_FILES | {"eval_results.json"}
    assert kwargs["repo_type"] == "model"
    assert "Uploaded 11 files" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        push_to_hub.main([str(tmp_path), "--repo-id", "not a repo id", "--dry-run"])
    with pytest.raises(SystemExit):
        push_to_hub.main([str(tmp_path), "--repo-id", "a/b", "--dry-run-dir", str(tmp_path / "x")])


@pytest.mark.parametrize("script", [convert_bert_to_lion, push_to_hub])
def test_help(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.parse_args(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out
