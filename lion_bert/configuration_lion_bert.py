"""LionBert configuration: a BERT encoder whose softmax attention is replaced by LION bidirectional linear attention.

Two configuration classes live here:

* :class:`LionBertConfig`, the model configuration (``config.json``): BERT's fields plus the attention variant and
  the form used for training.
* :class:`LionGenerationConfig`, the inference configuration (``generation_config.json``): which of the three
  equivalent LION forms (parallel, chunk, recurrent) an ``eval()`` model runs, and the mask-predict settings of
  :meth:`LionBertForMaskedLM.generate`.

``ATTENTION_VARIANTS`` is the one table that says how each ``attention_type`` builds its queries, keys and decays;
adding a variant means adding a row there and its name to ``AttentionType``.
"""

import dataclasses
from typing import Literal, NamedTuple

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, GenerationConfig

from .lion_attention import ATTENTION_MODES, AttentionMode, FeatureMapName


AttentionType = Literal["lion_lit", "lion_d", "lion_s", "softmax"]  # the keys of ATTENTION_VARIANTS
PositionEmbeddingType = Literal["absolute", "none"]


class AttentionVariant(NamedTuple):
    """How one ``attention_type`` turns hidden states into attention.

    kernel: ``"lion"`` (LION linear attention, :func:`lion_attention`) or ``"softmax"`` (BERT's scaled dot product).
    feature_map: default feature map applied to queries and keys (a key of ``FEATURE_MAPS``; None for softmax).
    decay: ``"none"`` (lambda = 1), ``"per_head"`` (learnable lambda_h = sigmoid(a_h)) or ``"selective"``
        (lambda_{i,h} = sigmoid(w_h . x_i + b_h), from a Linear(hidden_size, num_attention_heads)).
    attention_layer_norm: default of ``config.attention_layer_norm`` (a LayerNorm on the attention output).
    position_embedding_type: default of ``config.position_embedding_type``.
    """

    kernel: str
    feature_map: str | None
    decay: str
    attention_layer_norm: bool
    position_embedding_type: str


ATTENTION_VARIANTS: dict[str, AttentionVariant] = {
    "lion_lit": AttentionVariant("lion", "elu_plus_one", "none", True, "absolute"),
    "lion_d": AttentionVariant("lion", "silu_norm", "per_head", False, "none"),
    "lion_s": AttentionVariant("lion", "silu_norm", "selective", False, "none"),
    "softmax": AttentionVariant("softmax", None, "none", False, "absolute"),
}

GENERATION_ATTENTION_MODES = ("auto",) + ATTENTION_MODES


def _check_choice(name, value, allowed, none_allowed=False):
    if value is None and none_allowed:
        return
    if value not in allowed:
        allowed_text = ", ".join(repr(a) for a in allowed) + (" or None" if none_allowed else "")
        raise ValueError(f"`{name}` must be one of {allowed_text}, got {value!r}.")


def _check_positive_int(name, value, none_allowed=False):
    if value is None and none_allowed:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int{' or None' if none_allowed else ''}, got {value!r}.")


def bert_config_to_lion(config_dict: dict) -> dict:
    """Turn a BERT ``config.json`` dict (model_type ``"bert"``) into a LionBert one.

    BERT's ``position_embedding_type: "absolute"`` is dropped, so the LION variant's default decides: LION-D and
    LION-S leave BERT's learned positions out (their decay carries the order, and inputs may have any length),
    LION-LIT and softmax keep them. Pass ``position_embedding_type="absolute"`` to keep them for every variant.
    Any other BERT position type is kept, so that validation names it. ``attention_layer_norm`` is off unless the
    dict says otherwise: BERT has no LayerNorm after its attention, and a new one would start at unit scale, far from
    the attention outputs BERT's next layers expect. The BERT ``architectures`` entry is dropped. Other model types
    are returned unchanged.
    """
    if config_dict.get("model_type") != "bert":
        return config_dict
    converted = dict(config_dict)
    converted["model_type"] = LionBertConfig.model_type
    if converted.get("position_embedding_type") == "absolute":
        del converted["position_embedding_type"]
    converted.setdefault("attention_layer_norm", False)
    converted.pop("architectures", None)
    return converted


@strict
class LionBertConfig(BertConfig):
    r"""
    Configuration of a LionBert model: BERT's architecture and defaults, with the softmax attention replaced by LION
    bidirectional linear attention (Afzal et al. 2025, see `docs/lion_attention.md`). It is used to instantiate
    [`LionBertModel`] and its heads. A BERT `config.json` (model_type `"bert"`) is accepted as is, so
    `LionBertModel.from_pretrained(<BERT folder>, attention_type="lion_s")` converts a BERT checkpoint.

    Every field of [`BertConfig`] (`vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
    `intermediate_size`, `hidden_act`, dropouts, `max_position_embeddings`, `type_vocab_size`, `layer_norm_eps`, ...)
    is inherited with BERT's meaning and default. Where LionBert differs: `attention_probs_dropout_prob` applies in
    the parallel form only (the one that materialises the attention weights); `max_position_embeddings` limits the
    input length only with absolute positions; `is_decoder` and `add_cross_attention` must stay `False` (a
    bidirectional encoder); `use_cache` has no effect (an encoder keeps no cache). The LION fields:

    Args:
        attention_type (`str`, *optional*, defaults to `"lion_s"`):
            The attention of every layer: `"lion_lit"` (LION-LIT, no decay), `"lion_d"` (LION-D, one learnable
            decay per head), `"lion_s"` (LION-S, a selective decay per token and head computed from the hidden state)
            or `"softmax"` (plain BERT attention, the baseline; it ignores the LION-only settings below and runs the
            attention function of `attn_implementation`: `"eager"`, `"sdpa"` or `"flex_attention"`).
        attention_mode (`str`, *optional*, defaults to `"parallel"`):
            The LION form `forward` runs in training mode: `"parallel"` (L x L matrix, the only form with attention
            weights and attention dropout), `"chunk"` (chunkwise, memory linear in the length) or `"recurrent"`
            (bidirectional RNN, memory linear in the length). All three compute the same function. In eval mode the
            model's [`LionGenerationConfig`] picks the form instead; an `attention_mode=` argument to `forward`
            overrides both.
        chunk_size (`int`, *optional*, defaults to 64):
            Tokens per chunk of the chunk form, and per block by which the recurrent form advances its states (any
            positive int).
        feature_map (`str`, *optional*):
            Feature map applied to LION queries and keys: `"elu_plus_one"`, `"silu_norm"`, `"identity"` (only
            sensible with `scaled=False`: unmapped scores can cancel in the denominator) or `"hedgehog"` (learned, per
            layer and head, separate for queries and keys, identity-initialised: Zhang et al. 2024; what
            conversion from BERT trains to reproduce the softmax attention). None picks the variant's default
            (`"elu_plus_one"` for lion_lit, `"silu_norm"` for lion_d and lion_s). Must be None with
            `attention_type="softmax"`.
        feature_map_size (`int`, *optional*):
            Size of a learned feature map (`feature_map="hedgehog"`): each head maps its `head_dim` query or key
            features to `feature_map_size` logits z, and phi = [softmax(z), softmax(-z)] has `2 * feature_map_size`
            features. None uses `head_dim`; logits beyond `head_dim` start from random unit directions of the
            head's features. Ignored by the fixed feature maps.
        scaled (`bool`, *optional*, defaults to `True`):
            Normalise LION outputs by the attention mass (the paper's SCALE); `False` drops the denominator
            (RetNet style, usually with `attention_layer_norm=True`).
        attention_layer_norm (`bool`, *optional*):
            Add a LayerNorm on the attention output, before the output projection (weights
            `attention.self.attn_norm`). None picks the variant's default: on for lion_lit, off otherwise. Off
            for a config read from a BERT checkpoint, which has no such LayerNorm.
        position_embedding_type (`str`, *optional*):
            `"absolute"` (BERT's learned position embeddings, inputs limited to `max_position_embeddings` tokens)
            or `"none"` (no position embeddings; the decay carries the order). None picks the variant's default:
            absolute for lion_lit and softmax, none for lion_d and lion_s, also for a config read from a BERT
            checkpoint (its learned positions are then left out; pass `"absolute"` to keep them).
        sparse_prediction (`bool`, *optional*, defaults to `False`):
            As in ModernBERT: when [`LionBertForMaskedLM`] gets `labels`, run the MLM head only on the positions
            whose label is not `sparse_pred_ignore_index`, and return `logits` of shape `(num_predicted, vocab_size)`
            for those positions only (row-major order). The loss is the same; training is cheaper because the
            `vocab_size`-wide decoder dominates small models. Without `labels` the head runs on every position.
        sparse_pred_ignore_index (`int`, *optional*, defaults to -100):
            Label value of the positions `sparse_prediction` skips.

    Choices are checked when a field is set (its `Literal` type); the rules between fields when the config is built
    and saved (the `validate_*` methods, run by `@strict`; `config.validate()` runs them after edits).

    Example:

    ```python
    >>> from lion_bert import LionBertConfig, LionBertModel

    >>> config = LionBertConfig(attention_type="lion_d", attention_mode="chunk", chunk_size=128)
    >>> model = LionBertModel(config)
    ```"""

    model_type = "lion_bert"

    attention_type: AttentionType = "lion_s"
    attention_mode: AttentionMode = "parallel"
    chunk_size: int = 64
    feature_map: FeatureMapName | None = None
    feature_map_size: int | None = None
    scaled: bool = True
    attention_layer_norm: bool | None = None
    position_embedding_type: PositionEmbeddingType | None = None
    sparse_prediction: bool = False
    sparse_pred_ignore_index: int = -100

    def __post_init__(self, **kwargs):
        # `model_type` is a class attribute; a config.json repeats it. BERT dicts go through `from_dict`.
        model_type = kwargs.pop("model_type", self.model_type)
        if model_type != self.model_type:
            raise ValueError(
                f"LionBertConfig got model_type={model_type!r}; build it from such a dict with "
                f"LionBertConfig.from_dict(...) (BERT dicts are converted) or LionBertConfig.from_pretrained(...)."
            )
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict`-powered validation: the heads split the hidden size, and the model is an encoder."""
        super().validate_architecture()
        _check_positive_int("num_attention_heads", self.num_attention_heads)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be a multiple of `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.is_decoder or self.add_cross_attention:
            raise ValueError(
                "LionBert is a bidirectional encoder: `is_decoder` and `add_cross_attention` must be False."
            )

    def validate_lion_settings(self):
        """Part of `@strict`-powered validation: the LION sizes, and no feature map on softmax attention."""
        _check_positive_int("chunk_size", self.chunk_size)
        _check_positive_int("feature_map_size", self.feature_map_size, none_allowed=True)
        if self.feature_map is not None and self.attention_variant.kernel == "softmax":
            raise ValueError(
                f"`feature_map` applies to LION attention only; leave it None with attention_type="
                f"{self.attention_type!r} (got {self.feature_map!r})."
            )

    @property
    def attention_variant(self) -> AttentionVariant:
        """The row of `ATTENTION_VARIANTS` for `attention_type`."""
        return ATTENTION_VARIANTS[self.attention_type]

    @property
    def resolved_feature_map(self) -> str | None:
        """`feature_map`, or the variant's default when None (None for softmax attention)."""
        return self.feature_map if self.feature_map is not None else self.attention_variant.feature_map

    @property
    def resolved_attention_layer_norm(self) -> bool:
        """`attention_layer_norm`, or the variant's default when None."""
        if self.attention_layer_norm is not None:
            return self.attention_layer_norm
        return self.attention_variant.attention_layer_norm

    @property
    def resolved_position_embedding_type(self) -> str:
        """`position_embedding_type`, or the variant's default when None."""
        if self.position_embedding_type is not None:
            return self.position_embedding_type
        return self.attention_variant.position_embedding_type

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        return bert_config_to_lion(config_dict), kwargs

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        # Fold overrides of config fields (e.g. from_pretrained(..., attention_type="lion_d")) into the dict, so that
        # the validate_* hooks see them when the config is built, instead of their being set on a built config.
        field_names = {field.name for field in dataclasses.fields(cls)}
        overrides = {key: kwargs.pop(key) for key in list(kwargs) if key in field_names}
        return super().from_dict({**bert_config_to_lion(dict(config_dict)), **overrides}, **kwargs)


class LionGenerationConfig(GenerationConfig):
    r"""
    Inference settings of a LionBert model, saved as `generation_config.json` next to every LionBert checkpoint.

    A model in eval mode runs the LION form named here (training mode runs `config.attention_mode`; an
    `attention_mode=` argument to `forward` overrides both), so a model trained in the parallel form can serve in the
    recurrent form, with memory linear in the sequence length, by changing this file. It also holds the settings of
    [`LionBertForMaskedLM.generate`] (iterative mask-predict).

    Args:
        attention_mode (`str`, *optional*, defaults to `"auto"`):
            `"parallel"`, `"chunk"`, `"recurrent"`, or `"auto"`: parallel for inputs of up to
            `auto_parallel_max_length` tokens, chunk beyond.
        chunk_size (`int`, *optional*):
            Tokens per chunk (chunk form) or block (recurrent form) at inference; None uses the model config's
            `chunk_size`.
        auto_parallel_max_length (`int`, *optional*, defaults to 256):
            Longest input that `"auto"` runs in the parallel form (its L x L matrix grows quadratically). On CPU
            the chunk form (chunk size 64) is as fast at 256 tokens and faster beyond (`scripts/benchmark.py`).
        max_iterations (`int`, *optional*, defaults to 10):
            Rounds of mask-predict in `generate`: each round predicts every masked position, keeps the most
            confident predictions and re-masks the rest, so that all are filled after this many rounds.
        mask_token_id (`int`, *optional*):
            Id of the mask token `generate` fills (e.g. `tokenizer.mask_token_id`); required by `generate`.
        kwargs:
            Any [`~transformers.GenerationConfig`] argument.
    """

    def __init__(
        self,
        attention_mode: str = "auto",
        chunk_size: int | None = None,
        auto_parallel_max_length: int = 256,
        max_iterations: int = 10,
        mask_token_id: int | None = None,
        **kwargs,
    ):
        # set before GenerationConfig.__init__, which ends by calling validate()
        self.attention_mode = attention_mode
        self.chunk_size = chunk_size
        self.auto_parallel_max_length = auto_parallel_max_length
        self.max_iterations = max_iterations
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)

    def validate(self, strict=False, user_set_attributes=None):
        """GenerationConfig's checks, then the LION fields (ValueError naming the field and the allowed values)."""
        super().validate(strict=strict, user_set_attributes=user_set_attributes)
        _check_choice("attention_mode", self.attention_mode, GENERATION_ATTENTION_MODES)
        _check_positive_int("chunk_size", self.chunk_size, none_allowed=True)
        _check_positive_int("auto_parallel_max_length", self.auto_parallel_max_length)
        _check_positive_int("max_iterations", self.max_iterations)
        if self.mask_token_id is not None and (
            isinstance(self.mask_token_id, bool) or not isinstance(self.mask_token_id, int) or self.mask_token_id < 0
        ):
            raise ValueError(f"`mask_token_id` must be None or a non-negative int, got {self.mask_token_id!r}.")

    @classmethod
    def from_model_config(cls, model_config) -> "LionGenerationConfig":
        """The defaults: a LionBert model config holds no inference settings (its `attention_mode` is the training
        form), so nothing is copied from it."""
        config = cls()
        config._original_object_hash = hash(config)
        return config


__all__ = ["ATTENTION_VARIANTS", "AttentionVariant", "LionBertConfig", "LionGenerationConfig", "bert_config_to_lion"]
