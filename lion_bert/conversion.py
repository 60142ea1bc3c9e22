"""Loading a BERT checkpoint as a LionBert model, and reporting what conversion added.

Every BERT weight is kept (embeddings, query/key/value/output projections, feed-forward blocks, LayerNorms, pooler,
task or MLM head when the checkpoint has them); LION's own parameters start fresh: the learned feature maps, the
per-head decay logits (LION-D) and the selective decay gate (LION-S). A converted model has no LayerNorm after its
attention, as BERT has none, and LION-D and LION-S leave BERT's learned positions out
(:func:`lion_bert.configuration_lion_bert.bert_config_to_lion`). A model that is to be distilled
(:mod:`lion_bert.distillation`) follows its variant's ``CONVERSION_RECIPES`` entry: the learned Hedgehog feature map
and its size, and the steps of attention transfer.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers.utils import cached_file
from transformers.utils import logging as hf_logging

from . import modeling_lion_bert as modeling
from .configuration_lion_bert import LionGenerationConfig
from .hub import sentence_transformers_file_names
from .tokenization_lion_bert import LionBertTokenizer


HEADS = {
    "mlm": "LionBertForMaskedLM",
    "base": "LionBertModel",
    "sequence-classification": "LionBertForSequenceClassification",
    "token-classification": "LionBertForTokenClassification",
    "question-answering": "LionBertForQuestionAnswering",
    "multiple-choice": "LionBertForMultipleChoice",
}
# LION's own parameters: everything else in the encoder exists in BERT
LION_PARAMETER = re.compile(
    r"(^|\.)attention\.self\.(gate|decay_logits|attn_norm|query_feature_map|key_feature_map)(\.|$)"
)


@dataclass(frozen=True)
class ConversionRecipe:
    """How a BERT converted to one LION variant is distilled, where the caller does not say otherwise.

    Args:
        feature_map (`str`): the converted model's `feature_map`; the learned Hedgehog map is what distillation can
            bring close to the softmax rows.
        feature_map_size (`int`): logits per head of that map (`2 * feature_map_size` features), whatever the head
            size: more features than the head has dimensions let the linear attention come closer to softmax.
        attention_transfer_steps (`int`): steps of the attention-transfer stage, in which only the maps and decays
            train.
    """

    feature_map: str = "hedgehog"
    feature_map_size: int = 128
    attention_transfer_steps: int = 300

    @property
    def config_defaults(self) -> dict:
        """The LionBertConfig fields this recipe sets."""
        return {"feature_map": self.feature_map, "feature_map_size": self.feature_map_size}


# per LION attention_type. Twice the default logits and twice the transfer steps, together, lifted the STS-B validation
# score of the task-teacher conversion by 2.5 and 2.6 points for LION-LIT (which has no decay to make its rows local,
# so its maps alone must match the softmax rows) and by 1.1 and 3.0 for LION-S (two seeds each); for LION-D one seed
# moved within a seed's spread (results/conversion-task-teacher-explorations)
CONVERSION_RECIPES: dict[str, ConversionRecipe] = {
    "lion_s": ConversionRecipe(feature_map_size=256, attention_transfer_steps=600),
    "lion_d": ConversionRecipe(),
    "lion_lit": ConversionRecipe(feature_map_size=256, attention_transfer_steps=600),
}


def conversion_recipe(attention_type: str) -> ConversionRecipe:
    """The recipe of a LION `attention_type`; ValueError for softmax (nothing to distill) or an unknown type."""
    if attention_type not in CONVERSION_RECIPES:
        raise ValueError(f"attention_type {attention_type!r} has no conversion recipe: distillation converts to one of "
                         f"{', '.join(CONVERSION_RECIPES)} (softmax keeps BERT's attention).")
    return CONVERSION_RECIPES[attention_type]


def recipe_default_text(name: str) -> str:
    """A recipe field's default across the variants, for help texts: e.g. "600 (300 for lion_d)"."""
    values = {variant: getattr(recipe, name) for variant, recipe in CONVERSION_RECIPES.items()}
    common = max(values.values(), key=list(values.values()).count)
    others = [f"{value} for {variant}" for variant, value in values.items() if value != common]
    return f"{common} ({', '.join(others)})" if others else f"{common}"


@dataclass
class Conversion:
    """A converted model and what its loading reported (parameter names as in `model.named_parameters()`)."""

    model: torch.nn.Module
    tokenizer: LionBertTokenizer | None
    head: str
    source_model_type: str
    lion_initialised: list[str] = field(default_factory=list)
    head_initialised: list[str] = field(default_factory=list)
    other_initialised: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    lion_parameters: list[str] = field(default_factory=list)

    @property
    def newly_initialised(self) -> list[str]:
        return sorted(self.lion_initialised + self.head_initialised + self.other_initialised)


def compress_names(names) -> list[str]:
    """encoder.layer.0.x, encoder.layer.1.x, ... -> encoder.layer.{0-1}.x (for printing)."""
    groups: dict[str, list[int]] = {}
    singles = []
    for name in names:
        match = re.match(r"^(.*?\.layer\.)(\d+)(\..*)$", name)
        if match:
            groups.setdefault(match.group(1) + "{}" + match.group(3), []).append(int(match.group(2)))
        else:
            singles.append(name)
    out = []
    for pattern, layers in groups.items():
        layers = sorted(layers)
        span = f"{layers[0]}-{layers[-1]}" if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1 \
            else ",".join(map(str, layers))
        out.append(pattern.replace("{}", "{" + span + "}" if len(layers) > 1 else span))
    return sorted(out + singles)


def source_model_type(model_name_or_path: str) -> str | None:
    """The `model_type` of a checkpoint's config.json (a local folder or a Hub id). Raises OSError when there is
    no readable config.json."""
    try:
        path = cached_file(model_name_or_path, "config.json")
    except OSError as error:
        raise OSError(
            f"Cannot read config.json of {model_name_or_path!r}: it is not a local folder with a config.json and "
            f"could not be fetched from the Hub ({error}). Pass a local BERT folder or a reachable Hub id."
        ) from None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle).get("model_type")


def convert(
    model_name_or_path: str,
    *,
    attention_type: str | None = "lion_s",
    head: str = "auto",
    num_labels: int | None = None,
    inference_mode: str | None = "auto",
    inference_chunk_size: int | None = None,
    tokenizer_name: str | None = None,
    load_tokenizer: bool = True,
    seed: int = 0,
    **config_overrides,
) -> Conversion:
    """Load a BERT (or LionBert) checkpoint as a LionBert model of `attention_type`, in eval mode.

    `head`: a key of ``HEADS`` or "auto" (the MLM head when the checkpoint has one, else the bare encoder).
    `config_overrides`: LionBertConfig fields (None values are ignored; a model that will be distilled takes its
    recipe's ``config_defaults`` for those the caller leaves open). `inference_mode=None` keeps a LionBert checkpoint's
    generation config. With `load_tokenizer=False` the returned tokenizer is None. LION's new parameters are drawn
    with `seed`. Raises ValueError for a checkpoint that is neither BERT nor LionBert, or an unknown head, and
    OSError when the checkpoint or tokenizer cannot be read.
    """
    model_type = source_model_type(model_name_or_path)
    if model_type not in ("bert", "lion_bert"):
        raise ValueError(
            f"{model_name_or_path!r} is a {model_type!r} checkpoint; conversion takes BERT (model_type 'bert') or "
            "LionBert checkpoints."
        )
    if head not in ("auto", *HEADS):
        raise ValueError(f"Unknown head {head!r}; choose one of auto, {', '.join(HEADS)}.")
    overrides = {key: value for key, value in dict(config_overrides, attention_type=attention_type).items()
                 if value is not None}
    if num_labels is not None:
        overrides["num_labels"] = num_labels

    def load(head_name):
        torch.manual_seed(seed)  # LION's new parameters are drawn from the model's initialiser
        model_class = getattr(modeling, HEADS[head_name])
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # what was newly initialised is reported by the Conversion instead
        try:
            return model_class.from_pretrained(model_name_or_path, output_loading_info=True, **overrides)
        finally:
            hf_logging.set_verbosity(verbosity)

    chosen = "mlm" if head == "auto" else head
    model, info = load(chosen)
    if head == "auto" and any(key.startswith("cls.predictions.transform.") for key in info["missing_keys"]):
        chosen = "base"  # the checkpoint carries no MLM head: keep the encoder alone
        model, info = load(chosen)

    missing = sorted(info["missing_keys"])
    encoder_prefix = f"{model.base_model_prefix}." if chosen != "base" else ""
    lion_new, other, head_new = [], [], []
    for name in missing:
        in_encoder = name.startswith(encoder_prefix + "embeddings.") or name.startswith(encoder_prefix + "encoder.")
        if LION_PARAMETER.search(name):
            lion_new.append(name)
        else:
            (other if in_encoder else head_new).append(name)

    tokenizer = LionBertTokenizer.from_pretrained(tokenizer_name or model_name_or_path) if load_tokenizer else None
    if inference_mode is not None or model_type == "bert":
        model.generation_config = LionGenerationConfig(
            attention_mode=inference_mode or "auto",
            chunk_size=inference_chunk_size,
            mask_token_id=tokenizer.mask_token_id if tokenizer is not None else None,
        )
    elif tokenizer is not None:
        model.generation_config.mask_token_id = tokenizer.mask_token_id
    return Conversion(
        model=model.eval(),
        tokenizer=tokenizer,
        head=chosen,
        source_model_type=model_type,
        lion_initialised=lion_new,
        head_initialised=head_new,
        other_initialised=other,
        unused=sorted(info["unexpected_keys"]),
        lion_parameters=sorted(name for name, _ in model.named_parameters() if LION_PARAMETER.search(name)),
    )


def copy_sentence_transformers_modules(model_name_or_path: str, output_dir: str | Path) -> list[str]:
    """Make `output_dir` (a converted encoder saved with ``save_pretrained``) a sentence-transformers model like its
    source: copy the source's ``modules.json``, ``sentence_bert_config.json``, ``config_sentence_transformers.json``
    and the configuration of every module after the encoder (pooling, normalisation), so that
    ``SentenceTransformer(output_dir).encode(...)`` embeds as the source did. The encoder module (path "") is the
    converted model itself. Returns the copied paths, relative to `output_dir`; an empty list when the source is not
    a sentence-transformers model (it has no ``modules.json``).
    """
    def source_file(name):
        return cached_file(model_name_or_path, name, _raise_exceptions_for_missing_entries=False)

    modules_file = source_file("modules.json")
    if modules_file is None:
        return []
    wanted = sentence_transformers_file_names(json.loads(Path(modules_file).read_text()))
    copied = []
    for name in wanted:
        found = source_file(name)
        if found is not None:  # a module without settings (Normalize) has no file to copy
            (Path(output_dir) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, Path(output_dir) / name)
            copied.append(name)
    return copied


__all__ = ["CONVERSION_RECIPES", "Conversion", "ConversionRecipe", "HEADS", "LION_PARAMETER", "compress_names",
           "conversion_recipe", "convert", "copy_sentence_transformers_modules", "recipe_default_text",
           "source_model_type"]
