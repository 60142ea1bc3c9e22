"""lion_bert.conversion's recipes: what a BERT converted to each LION variant and distilled gets where the caller
says nothing, and how both entry points' shared arguments take it."""

import pytest
from transformers import HfArgumentParser

from lion_bert.configuration_lion_bert import ATTENTION_VARIANTS, LionBertConfig
from lion_bert.conversion import CONVERSION_RECIPES, conversion_recipe, recipe_default_text
from lion_bert.distillation import ConversionStageArguments


def test_every_lion_variant_has_a_recipe_whose_settings_make_a_valid_config():
    lion_types = {name for name, variant in ATTENTION_VARIANTS.items() if variant.kernel == "lion"}
    assert set(CONVERSION_RECIPES) == lion_types
    for attention_type in lion_types:
        config = LionBertConfig(attention_type=attention_type, **conversion_recipe(attention_type).config_defaults)
        assert config.feature_map == "hedgehog" and config.feature_map_size >= 128
    # LION-LIT and LION-S, where both seeds gained, get wider maps and a longer transfer than LION-D
    for attention_type in ("lion_lit", "lion_s"):
        recipe = conversion_recipe(attention_type)
        assert (recipe.feature_map_size, recipe.attention_transfer_steps) == (256, 600)
    fixed_decay = conversion_recipe("lion_d")
    assert (fixed_decay.feature_map_size, fixed_decay.attention_transfer_steps) == (128, 300)


def test_softmax_has_no_recipe():
    with pytest.raises(ValueError, match="'softmax' has no conversion recipe.*lion_s"):
        conversion_recipe("softmax")


def test_help_texts_name_the_common_default_and_the_exceptions():
    assert recipe_default_text("attention_transfer_steps") == "600 (300 for lion_d)"
    assert recipe_default_text("feature_map") == "hedgehog"


@pytest.mark.parametrize("attention_type, flags, steps", [
    ("lion_s", [], 600), ("lion_d", [], 300), ("lion_lit", [], 600), ("softmax", [], 0),
    ("lion_lit", ["--attention_transfer_steps", "40"], 40), ("lion_s", ["--attention_transfer_steps", "0"], 0),
], ids=["lion_s", "lion_d", "lion_lit", "softmax", "lion_lit-explicit", "lion_s-skip"])
def test_stage_arguments_take_the_variants_transfer_steps_unless_given(attention_type, flags, steps):
    (arguments,) = HfArgumentParser(ConversionStageArguments).parse_args_into_dataclasses(args=flags)
    arguments.fill_variant_defaults(attention_type)
    assert arguments.attention_transfer_steps == steps
