"""LionBertConfig and LionGenerationConfig: defaults, validation, BERT config conversion, JSON round trips."""

import dataclasses
import json
import typing

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from transformers import AutoConfig, BertConfig, GenerationConfig
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from lion_bert import (
    ATTENTION_MODES,
    ATTENTION_VARIANTS,
    FEATURE_MAPS,
    LionBertConfig,
    LionBertForMaskedLM,
    LionGenerationConfig,
)
from lion_bert.configuration_lion_bert import AttentionType


LION_VALIDATORS = {"validate_architecture", "validate_lion_settings"}


def test_bert_fields_and_defaults_are_kept():
    config = LionBertConfig()
    bert = BertConfig()
    for name in (field.name for field in dataclasses.fields(BertConfig)):
        assert getattr(config, name) == getattr(bert, name), name
    assert config.model_type == "lion_bert"
    assert (config.attention_type, config.attention_mode, config.chunk_size, config.scaled) == (
        "lion_s",
        "parallel",
        64,
        True,
    )


@pytest.mark.parametrize(
    "attention_type, feature_map, layer_norm, positions",
    [
        ("lion_lit", "elu_plus_one", True, "absolute"),
        ("lion_d", "silu_norm", False, "none"),
        ("lion_s", "silu_norm", False, "none"),
        ("softmax", None, False, "absolute"),
    ],
)
def test_variant_defaults(attention_type, feature_map, layer_norm, positions):
    config = LionBertConfig(attention_type=attention_type)
    assert config.feature_map is None and config.attention_layer_norm is None and config.position_embedding_type is None
    assert config.resolved_feature_map == feature_map
    assert config.resolved_attention_layer_norm is layer_norm
    assert config.resolved_position_embedding_type == positions


def test_explicit_settings_override_variant_defaults():
    config = LionBertConfig(
        attention_type="lion_lit", feature_map="identity", attention_layer_norm=False, position_embedding_type="none"
    )
    assert config.resolved_feature_map == "identity"
    assert config.resolved_attention_layer_norm is False
    assert config.resolved_position_embedding_type == "none"


def test_variant_table_covers_the_documented_types():
    assert set(ATTENTION_VARIANTS) == {"lion_lit", "lion_d", "lion_s", "softmax"}
    for variant in ATTENTION_VARIANTS.values():
        assert variant.kernel in ("lion", "softmax")
        assert variant.feature_map is None or variant.feature_map in FEATURE_MAPS


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention_type="lion_x"), "expected one of ('lion_lit', 'lion_d', 'lion_s', 'softmax'), got lion_x"),
        (dict(attention_mode="sequential"), "expected one of ('parallel', 'chunk', 'recurrent'), got sequential"),
        (dict(feature_map="relu"), "expected one of ('elu_plus_one', 'silu_norm', 'identity', 'hedgehog'), got relu"),
        (dict(position_embedding_type="relative_key"), "expected one of ('absolute', 'none'), got relative_key"),
    ],
)
def test_invalid_choices_are_refused_by_their_literal_type(kwargs, message):
    (name,) = kwargs
    with pytest.raises(StrictDataclassFieldValidationError) as error:
        LionBertConfig(**kwargs)
    assert f"field '{name}'" in str(error.value) and message in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(feature_map_size=0), "`feature_map_size` must be a positive int or None"),
        (dict(chunk_size=0), "`chunk_size` must be a positive int"),
        (dict(chunk_size=-3), "`chunk_size` must be a positive int"),
        (
            dict(hidden_size=30, num_attention_heads=4),
            "`hidden_size` (30) must be a multiple of `num_attention_heads` (4)",
        ),
        (dict(attention_type="softmax", feature_map="elu_plus_one"), "`feature_map` applies to LION attention only"),
        (dict(is_decoder=True), "bidirectional encoder"),
        (dict(add_cross_attention=True), "bidirectional encoder"),
    ],
)
def test_invalid_settings_are_refused_by_a_validate_hook(kwargs, message):
    with pytest.raises(StrictDataclassClassValidationError) as error:
        LionBertConfig(**kwargs)
    assert message in str(error.value) and "ValueError" in str(error.value)


def test_lion_validators_run_once_per_config(monkeypatch):
    """@strict runs the validate_* hooks once, after __post_init__; nothing calls them again, not even a model."""
    calls = []

    def counted(hook):
        def run(config):
            calls.append(hook.__name__)
            return hook(config)

        return run

    spies = {hook.__name__: counted(hook) for hook in LionBertConfig.__class_validators__}
    for name in LION_VALIDATORS:  # direct calls, and the hooks @strict runs
        monkeypatch.setattr(LionBertConfig, name, spies[name])
    monkeypatch.setattr(LionBertConfig, "__class_validators__", list(spies.values()))
    config = LionBertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=1, intermediate_size=37)
    assert sorted(name for name in calls if name in LION_VALIDATORS) == sorted(LION_VALIDATORS)
    count = len(calls)
    LionBertForMaskedLM(config)  # the head and its inner LionBertModel
    assert len(calls) == count


def test_choice_types_name_the_tables():
    assert typing.get_args(AttentionType) == tuple(ATTENTION_VARIANTS)
    field_types = {field.name: field.type for field in dataclasses.fields(LionBertConfig)}
    assert typing.get_args(field_types["attention_mode"]) == ATTENTION_MODES
    literal, none = typing.get_args(field_types["feature_map"])
    assert typing.get_args(literal) == tuple(FEATURE_MAPS) and none is type(None)


def test_allowed_modes_come_from_the_ops_layer():
    for mode in ATTENTION_MODES:
        assert LionBertConfig(attention_mode=mode).attention_mode == mode


def test_edits_are_validated(tiny_config, tmp_path):
    config = tiny_config()
    with pytest.raises(StrictDataclassFieldValidationError, match="field 'attention_type'"):
        config.attention_type = "not_a_variant"  # a choice: refused when set
    assert config.attention_type == "lion_s"
    config.chunk_size = 0  # a rule on values: checked by validate(), which save_pretrained runs
    with pytest.raises(StrictDataclassClassValidationError, match="`chunk_size` must be a positive int"):
        config.validate()
    with pytest.raises(StrictDataclassClassValidationError, match="`chunk_size` must be a positive int"):
        config.save_pretrained(tmp_path)


def test_json_round_trip(tmp_path):
    config = LionBertConfig(
        attention_type="lion_d", attention_mode="chunk", chunk_size=17, feature_map="elu_plus_one", scaled=False,
        attention_layer_norm=True, num_labels=5,
    )
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "lion_bert" and saved["attention_type"] == "lion_d"
    loaded = LionBertConfig.from_pretrained(tmp_path)
    for name in ("attention_type", "attention_mode", "chunk_size", "feature_map", "scaled", "attention_layer_norm"):
        assert getattr(loaded, name) == getattr(config, name)
    assert loaded.num_labels == 5
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LionBertConfig)


def test_from_pretrained_overrides_are_validated(tmp_path):
    LionBertConfig().save_pretrained(tmp_path)
    assert LionBertConfig.from_pretrained(tmp_path, attention_type="lion_lit").resolved_feature_map == "elu_plus_one"
    with pytest.raises(StrictDataclassFieldValidationError, match="field 'attention_mode'"):
        LionBertConfig.from_pretrained(tmp_path, attention_mode="bogus")


def _saved_bert_config(tmp_path, **kwargs):
    BertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=2, **kwargs).save_pretrained(tmp_path)
    return tmp_path


def test_reads_a_bert_config_cleanly(tmp_path):
    bert_dir = _saved_bert_config(tmp_path)
    capture = CaptureLogger(logging.get_logger("transformers"))
    with capture:
        config = LionBertConfig.from_pretrained(bert_dir, attention_type="lion_s")
    assert "model of type" not in capture.out  # no model-type mismatch warning
    assert isinstance(config, LionBertConfig) and config.hidden_size == 32 and config.num_hidden_layers == 2
    # BERT's learned positions: the variant decides (LION-S: none, any length), unless the caller keeps them
    assert config.position_embedding_type is None and config.resolved_position_embedding_type == "none"
    assert config.architectures is None  # "BertModel" is not this config's architecture
    for attention_type in ("lion_lit", "softmax"):
        kept = LionBertConfig.from_pretrained(bert_dir, attention_type=attention_type)
        assert kept.resolved_position_embedding_type == "absolute"
    explicit = LionBertConfig.from_pretrained(bert_dir, attention_type="lion_d", position_embedding_type="absolute")
    assert explicit.resolved_position_embedding_type == "absolute"


def test_from_dict_accepts_a_bert_dict():
    bert_dict = BertConfig(hidden_size=48, num_attention_heads=6).to_dict()
    config = LionBertConfig.from_dict(bert_dict, attention_type="softmax")
    assert config.hidden_size == 48 and config.attention_type == "softmax"
    with pytest.raises(ValueError, match="model_type='bert'"):
        LionBertConfig(**bert_dict)


def test_real_minilm_config_is_read(minilm_dir):
    config = LionBertConfig.from_pretrained(minilm_dir, attention_type="lion_d")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 6, 12)
    assert config.resolved_position_embedding_type == "none"


# ------------------------------------------------------------------------------------------------------------------
# LionGenerationConfig
# ------------------------------------------------------------------------------------------------------------------


def test_generation_config_defaults_and_round_trip(tmp_path):
    default = LionGenerationConfig()
    assert (default.attention_mode, default.chunk_size, default.auto_parallel_max_length, default.max_iterations) == (
        "auto",
        None,
        256,
        10,
    )
    config = LionGenerationConfig(
        attention_mode="recurrent", chunk_size=7, auto_parallel_max_length=99, max_iterations=3, mask_token_id=4
    )
    capture = CaptureLogger(logging.get_logger("transformers"))
    with capture:
        config.save_pretrained(tmp_path)
        loaded = LionGenerationConfig.from_pretrained(tmp_path)
    assert capture.out == ""  # GenerationConfig validation accepts the extra fields silently
    saved = json.loads((tmp_path / "generation_config.json").read_text())
    assert saved["attention_mode"] == "recurrent" and saved["chunk_size"] == 7
    assert isinstance(loaded, LionGenerationConfig) and loaded == config
    assert loaded.mask_token_id == 4 and loaded.max_iterations == 3 and loaded.auto_parallel_max_length == 99


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(attention_mode="parallelish"),
            "`attention_mode` must be one of 'auto', 'parallel', 'chunk', 'recurrent'",
        ),
        (dict(chunk_size=0), "`chunk_size` must be a positive int or None"),
        (dict(auto_parallel_max_length=0), "`auto_parallel_max_length` must be a positive int"),
        (dict(max_iterations=0), "`max_iterations` must be a positive int"),
        (dict(mask_token_id=-1), "`mask_token_id` must be None or a non-negative int"),
    ],
)
def test_generation_config_validation(kwargs, message):
    with pytest.raises(ValueError) as error:
        LionGenerationConfig(**kwargs)
    assert message in str(error.value)


def test_generation_config_update_is_validated():
    config = LionGenerationConfig()
    with pytest.raises(ValueError, match="`attention_mode` must be one of"):
        config.update(attention_mode="nope")


def test_generation_config_ignores_the_model_configs_training_form():
    model_config = LionBertConfig(attention_mode="recurrent", chunk_size=3)
    generation_config = LionGenerationConfig.from_model_config(model_config)
    assert generation_config.attention_mode == "auto" and generation_config.chunk_size is None
    assert isinstance(generation_config, GenerationConfig)


def test_generation_config_accepts_generation_config_kwargs():
    config = LionGenerationConfig(attention_mode="chunk", max_length=33, pad_token_id=0)
    assert config.max_length == 33 and config.attention_mode == "chunk"
    assert config.pad_token_id == 0
