"""Hub code: a saved LionBert folder carries its code and auto_map, and a fresh Python process in which
`import lion_bert` fails loads it with the Auto classes and trust_remote_code=True, with identical outputs."""

import itertools
import json
import os
import re
import subprocess
import sys
import textwrap

import torch
from transformers import AutoConfig, AutoTokenizer

from lion_bert import (
    LionBertConfig,
    LionBertForMaskedLM,
    LionBertForMultipleChoice,
    LionBertForQuestionAnswering,
    LionBertForSequenceClassification,
    LionGenerationConfig,
)

from fresh_python import WITHOUT_LION_BERT
from model_classes import AUTO_CLASS_OF


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_FILES = {"configuration_lion_bert.py", "modeling_lion_bert.py", "lion_attention.py", "tokenization_lion_bert.py"}
# head -> (Auto class, attention type): the variants taken in turn, so that every one is exercised through remote code
HEADS = {
    head: (auto_class, variant)
    for (head, auto_class), variant in zip(AUTO_CLASS_OF.items(), itertools.cycle(["lion_s", "lion_d", "lion_lit", "softmax"]))
}
TEXTS = ["LION reads the sequence in both directions.", "Short text."]


def _tiny_config(tokenizer, attention_type, **overrides):
    kwargs = dict(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, attention_type=attention_type, chunk_size=4,
    )
    kwargs.update(overrides)
    return LionBertConfig(**kwargs)


def _save_head(folder, model_class, tokenizer):
    auto_class, attention_type = HEADS[model_class]
    torch.manual_seed(0)
    overrides = {"num_labels": 2} if model_class is LionBertForQuestionAnswering else {}
    if model_class is LionBertForSequenceClassification:
        overrides["feature_map"] = "hedgehog"  # conversion's learned feature map ships in the remote code too
    model = model_class(_tiny_config(tokenizer, attention_type, **overrides)).eval()
    model.generation_config = LionGenerationConfig(
        attention_mode="recurrent", mask_token_id=tokenizer.mask_token_id, max_iterations=3
    )
    inputs = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    if model_class is LionBertForMultipleChoice:
        inputs = {k: v[None] for k, v in inputs.items()}  # one question, two choices
    outputs = model(**inputs)
    reference = {"inputs": inputs, "outputs": {k: v for k, v in outputs.items()}, "auto_class": auto_class.__name__}
    if model_class is LionBertForMaskedLM:
        masked = inputs["input_ids"].clone()
        masked[:, 2:4] = tokenizer.mask_token_id
        reference["masked"] = masked
        reference["generated"] = model.generate(masked, attention_mask=inputs["attention_mask"])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    torch.save(reference, folder / "reference.pt")
    return model


def test_saved_folder_carries_code_and_auto_map(tmp_path, bert_uncased_tokenizer):
    _save_head(tmp_path, LionBertForMaskedLM, bert_uncased_tokenizer)
    assert CODE_FILES <= set(os.listdir(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "lion_bert" and config["architectures"] == ["LionBertForMaskedLM"]
    assert config["auto_map"] == {
        "AutoConfig": "configuration_lion_bert.LionBertConfig",
        "AutoModel": "modeling_lion_bert.LionBertModel",
        "AutoModelForMaskedLM": "modeling_lion_bert.LionBertForMaskedLM",
        "AutoModelForSequenceClassification": "modeling_lion_bert.LionBertForSequenceClassification",
        "AutoModelForTokenClassification": "modeling_lion_bert.LionBertForTokenClassification",
        "AutoModelForQuestionAnswering": "modeling_lion_bert.LionBertForQuestionAnswering",
        "AutoModelForMultipleChoice": "modeling_lion_bert.LionBertForMultipleChoice",
    }
    tokenizer_config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"][0] == "tokenization_lion_bert.LionBertTokenizer"
    assert json.loads((tmp_path / "generation_config.json").read_text())["attention_mode"] == "recurrent"
    # the copied code imports only relatively within the folder (no `lion_bert` package needed)
    for name in CODE_FILES:
        source = (tmp_path / name).read_text()
        assert not re.search(r"^\s*(import|from)\s+lion_bert\b", source, flags=re.MULTILINE), name


def test_auto_classes_use_the_installed_package(tmp_path, bert_uncased_tokenizer):
    for model_class, (auto_class, _) in HEADS.items():
        folder = tmp_path / model_class.__name__
        model = _save_head(folder, model_class, bert_uncased_tokenizer)
        loaded = auto_class.from_pretrained(folder)
        assert type(loaded) is model_class
        reference = torch.load(folder / "reference.pt")
        for key, value in reference["outputs"].items():
            torch.testing.assert_close(loaded(**reference["inputs"])[key], value, atol=1e-6, rtol=0)
        assert loaded.generation_config == model.generation_config
    assert isinstance(AutoConfig.from_pretrained(folder), LionBertConfig)
    assert type(AutoTokenizer.from_pretrained(folder)).__name__ == "LionBertTokenizer"


FRESH_PROCESS_SCRIPT = WITHOUT_LION_BERT + textwrap.dedent(
    r"""
    import json
    report = {"cwd": os.getcwd()}
    try:
        import lion_bert  # noqa: F401
        report["import_lion_bert"] = "succeeded"
    except ImportError as error:
        report["import_lion_bert"] = f"failed: {error}"

    import torch
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    torch.set_grad_enabled(False)

    report["heads"] = {}
    for folder in sorted(os.listdir(sys.argv[1])):
        path = os.path.join(sys.argv[1], folder)
        reference = torch.load(os.path.join(path, "reference.pt"))
        auto_class = getattr(transformers, reference["auto_class"])
        model = auto_class.from_pretrained(path, trust_remote_code=True)
        outputs = model(**reference["inputs"])
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=True)
        ids = dict(tokenizer(["LION reads the sequence in both directions.", "Short text."], padding=True,
                             return_tensors="pt"))
        head = {
            "class": type(model).__name__,
            "module": type(model).__module__,
            "config_class": type(AutoConfig.from_pretrained(path, trust_remote_code=True)).__name__,
            "generation_config_class": type(model.generation_config).__name__,
            "generation_attention_mode": model.generation_config.attention_mode,
            "max_abs_diff": max(float((outputs[k] - v).abs().max()) for k, v in reference["outputs"].items()),
            "tokenizer_class": type(tokenizer).__name__,
            "tokenizer_module": type(tokenizer).__module__,
            "same_ids": all(torch.equal(ids[k], v) for k, v in reference["inputs"].items() if v.dim() == 2),
        }
        if "generated" in reference:
            generated = model.generate(reference["masked"], attention_mask=reference["inputs"]["attention_mask"])
            head["same_generation"] = bool(torch.equal(generated, reference["generated"]))
            head["base_class_from_mlm_folder"] = type(
                transformers.AutoModel.from_pretrained(path, trust_remote_code=True)
            ).__name__
            try:
                transformers.AutoModel.from_pretrained(path)
                head["without_trust_remote_code"] = "loaded"
            except ValueError as error:
                head["without_trust_remote_code"] = str(error)
        report["heads"][folder] = head
    print("\nREPORT " + json.dumps(report))  # on its own line (the trust_remote_code prompt has no newline)
    """
)


def test_fresh_process_without_the_package_loads_every_head(tmp_path, bert_uncased_tokenizer):
    saved = tmp_path / "saved"
    for model_class in HEADS:
        _save_head(saved / model_class.__name__, model_class, bert_uncased_tokenizer)
    script = tmp_path / "load_from_hub_folder.py"
    script.write_text(FRESH_PROCESS_SCRIPT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TRANSFORMERS_VERBOSITY="error")
    result = subprocess.run(
        [sys.executable, str(script), str(saved), REPO_ROOT],
        cwd=elsewhere,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(lines[-1][7:])
    assert report["import_lion_bert"].startswith("failed"), report["import_lion_bert"]
    assert set(report["heads"]) == {model_class.__name__ for model_class in HEADS}
    for name, head in report["heads"].items():
        assert head["class"] == name
        assert head["module"].startswith("transformers_modules.") and head["module"].endswith("modeling_lion_bert")
        assert head["config_class"] == "LionBertConfig"
        assert head["generation_config_class"] == "LionGenerationConfig"
        assert head["generation_attention_mode"] == "recurrent"
        assert head["max_abs_diff"] <= 1e-6, (name, head["max_abs_diff"])
        assert head["tokenizer_class"] == "LionBertTokenizer"
        assert head["tokenizer_module"].startswith("transformers_modules.")
        assert head["same_ids"]
    mlm = report["heads"]["LionBertForMaskedLM"]
    assert mlm["same_generation"] and mlm["base_class_from_mlm_folder"] == "LionBertModel"
    assert "trust_remote_code=True" in mlm["without_trust_remote_code"]
