"""scripts/convert_bert_to_lion.py: conversion of the real MiniLM BERT to every variant initialises exactly LION's own
parameters and writes a Hub-ready folder whose card names the source by its Hub id; distillation lowers the held-out
errors and resumes after a crash; a newly initialised head is named in the card, which offers no example of it; bad
input gives clear errors before any work. The card itself is tested in test_model_card.py, the Hub folder and
push_to_hub.py in test_hub.py."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import metadata_load
from safetensors.torch import load_file


REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import convert_bert_to_lion  # noqa: E402
from lion_bert import LionBertConfig  # noqa: E402
from lion_bert.configuration_lion_bert import ATTENTION_VARIANTS  # noqa: E402
from lion_bert.conversion import LION_PARAMETER, conversion_recipe, convert  # noqa: E402
from lion_bert.data import MINILM_HUB_ID  # noqa: E402
from lion_bert.modeling_lion_bert import LionBertSelfAttention  # noqa: E402


CODE_FILES = {"configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py", "tokenization_lion_bert.py"}
# all-MiniLM-L6-v2 is a sentence-transformers model: its modules and mean pooling come along
SENTENCE_TRANSFORMERS_FILES = {"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                               "1_Pooling"}
UPLOAD_FILES = CODE_FILES | SENTENCE_TRANSFORMERS_FILES | {
    "README.md", "config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
    "tokenizer_config.json"}
LION_OWN = {
    "lion_s": {"gate.weight", "gate.bias"},
    "lion_d": {"decay_logits"},
    "lion_lit": set(),  # a converted BERT gets no attention LayerNorm: BERT has none
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
    # LION-D and LION-S leave BERT's learned positions out (any input length); LIT and softmax keep them
    positions = ATTENTION_VARIANTS[attention_type].position_embedding_type
    dropped = {"embeddings.position_embeddings.weight"} if positions == "none" else set()
    assert set(conversion.unused) == dropped
    assert not conversion.head_initialised and not conversion.other_initialised
    # printed report: exactly the LION tensors, compressed per layer
    block = printed.split("Newly initialised LION parameters")[1].split("Saved a Hub-ready folder")[0]
    block, _, unused_block = block.partition("Checkpoint weights not used by LionBertModel:")
    listed = {line.strip() for line in block.splitlines()[1:] if line.strip()}
    assert {line.strip() for line in unused_block.splitlines() if line.strip()} == dropped
    if not LION_OWN[attention_type]:  # softmax; LION-LIT with its fixed feature map
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
        if key == "embeddings.position_ids" or key in dropped:
            continue
        assert torch.equal(lion[key], tensor), name
    assert set(lion) - lion_new == {n.removeprefix("bert.") for n in bert} - {"embeddings.position_ids"} - dropped
    # the folder is Hub-ready
    assert set(os.listdir(out)) == UPLOAD_FILES | {"conversion_results.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["attention_type"] == attention_type
    assert LionBertConfig.from_pretrained(out).resolved_position_embedding_type == positions
    assert config["auto_map"]["AutoModel"] == "modeling_lion_bert.LionBertModel"
    assert json.loads((out / "generation_config.json").read_text())["attention_mode"] == "recurrent"
    metadata = metadata_load(out / "README.md")
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert attention_type.replace("_", "-") in metadata["tags"] and "model-index" not in metadata


@pytest.mark.slow
@pytest.mark.parametrize("attention_type", ["lion_s", "lion_d", "lion_lit"])
def test_distilled_conversion(tmp_path, minilm_dir, attention_type, capsys, monkeypatch):
    """The default: learned feature maps, attention transfer then model distillation on the embedded Wikipedia
    sample; both stages lower their held-out loss, and the card and results say what was done and kept."""
    out = tmp_path / attention_type
    dropouts, train_stage = [], convert_bert_to_lion.train_stage

    def recording_dropout(model, *args, **kwargs):
        dropouts.append({module.dropout.p for module in model.modules() if isinstance(module, LionBertSelfAttention)})
        return train_stage(model, *args, **kwargs)

    monkeypatch.setattr(convert_bert_to_lion, "train_stage", recording_dropout)
    results = convert_bert_to_lion.main(["--attention_type", attention_type, "--output_dir", str(out),
                                         *TINY_DISTILLATION])
    # both stages train without attention dropout; the folder keeps the BERT's 0.1 for whoever fine-tunes it
    assert dropouts == [{0.0}, {0.0}] and results["student_attention_dropout"] == 0.0
    own = HEDGEHOG | LION_OWN[attention_type]
    assert {n for n in load_file(str(out / "model.safetensors")) if LION_PARAMETER.search(n)} == \
        _expected_lion_names(attention_type, own=own)
    config = json.loads((out / "config.json").read_text())
    assert config["feature_map"] == "hedgehog" and config["attention_layer_norm"] is False
    assert config["feature_map_size"] == conversion_recipe(attention_type).feature_map_size  # 256 for LION-S, LION-LIT
    assert config["attention_probs_dropout_prob"] == 0.1
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
    assert "attention dropout 0 while distilled" in card
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
                           (["--student_attention_dropout", "-0.1"], "--student_attention_dropout must lie in"),
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
    # MLM models have no pooler; LION-D leaves BERT's positions out
    assert conversion.unused == ["embeddings.position_embeddings.weight", "pooler.dense.bias", "pooler.dense.weight"]


def test_a_newly_initialised_head_is_named_in_the_card_and_offered_no_example(tmp_path, minilm_dir):
    """all-MiniLM-L6-v2 ships no MLM head: converted with one, from its local folder (named "model"), the card names
    the source by its Hub id, names the new head's weights, offers no fill-mask widget or example, and its usage
    runs."""
    out = tmp_path / "lion-d-mlm"
    convert_bert_to_lion.main(["--model_name_or_path", str(minilm_dir), "--attention_type", "lion_d", "--head", "mlm",
                               "--output_dir", str(out), *NO_DISTILLATION])
    metadata = metadata_load(out / "README.md")
    assert metadata["base_model"] == MINILM_HUB_ID and metadata["inference"] is False
    card = (out / "README.md").read_text()
    assert f"Converted from `{MINILM_HUB_ID}`" in card and "`model`" not in card
    assert "head is newly initialised and untrained" in card and "`cls.predictions.bias`" in card
    usage = card.split("## Usage")[1].split("## The three")[0]
    assert "fill-mask" not in usage and "Paris" not in usage and "AutoModel.from_pretrained" in usage
    snippet = usage.split("```python\n")[1].split("```")[0].replace('repo = "lion-d-mlm"', f"repo = {str(out)!r}")
    namespace = {}
    exec(compile(snippet, "usage", "exec"), namespace)
    assert namespace["hidden"].shape == (1, namespace["inputs"]["input_ids"].shape[1], 384)


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        convert_bert_to_lion.parse_args(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out
