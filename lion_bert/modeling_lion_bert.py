"""PyTorch LionBert: BERT with LION bidirectional linear attention (Afzal et al. 2025), for 🤗 Transformers.

The module tree and weight names mirror transformers' Bert classes (``embeddings.word_embeddings``,
``encoder.layer.N.attention.self.query``, ..., ``cls.predictions.decoder``, ``classifier``, ``qa_outputs``), so a BERT
checkpoint loads into any LionBert class; only LION's own parameters are new:

* ``encoder.layer.N.attention.self.decay_logits`` (LION-D): one logit a_h per head, lambda_h = sigmoid(a_h);
* ``encoder.layer.N.attention.self.gate`` (LION-S): Linear(hidden_size, num_attention_heads),
  lambda_{i,h} = sigmoid(w_h . x_i + b_h);
* ``encoder.layer.N.attention.self.attn_norm`` (LayerNorm on the attention output, on by default for LION-LIT).

Which queries, keys and decays an ``attention_type`` builds is read from ``ATTENTION_VARIANTS`` (configuration file);
the names it uses map to code through ``ATTENTION_KERNELS`` and ``DECAY_KINDS`` below. The LION form (parallel, chunk,
recurrent) is chosen per call by :meth:`LionBertPreTrainedModel.resolve_attention_form` and handed to
:func:`lion_attention` as ``mode=``.
"""

import glob
import itertools
import json
import os
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from huggingface_hub import try_to_load_from_cache
from safetensors import SafetensorError, safe_open
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.models.bert.modeling_bert import eager_attention_forward
from transformers.pytorch_utils import apply_chunking_to_forward
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, is_torchdynamo_compiling, logging
from transformers.utils.generic import can_return_tuple

from .configuration_lion_bert import GENERATION_ATTENTION_MODES, LionBertConfig, LionGenerationConfig
from .lion_attention import FEATURE_MAPS, LEARNED_FEATURE_MAPS, lion_attention, lion_attention_weights


logger = logging.get_logger(__name__)

# Auto class -> LionBert class; __init__.py registers these, save_pretrained writes them all into config.auto_map.
AUTO_CLASSES = {
    "AutoModel": "LionBertModel",
    "AutoModelForMaskedLM": "LionBertForMaskedLM",
    "AutoModelForSequenceClassification": "LionBertForSequenceClassification",
    "AutoModelForTokenClassification": "LionBertForTokenClassification",
    "AutoModelForQuestionAnswering": "LionBertForQuestionAnswering",
    "AutoModelForMultipleChoice": "LionBertForMultipleChoice",
}


class AttentionForm(NamedTuple):
    """The LION form a forward pass runs: ``mode`` in ``ATTENTION_MODES`` and the chunk form's ``chunk_size``."""

    mode: str
    chunk_size: int


# ----------------------------------------------------------------------------------------------------------------
# Decays: how log(lambda) is made. Each kind registers its parameters on the self-attention module and computes
# log_lambda (None, (heads,) or (batch, heads, length)) from the layer input; `_init_weights` sets initial values.
# ----------------------------------------------------------------------------------------------------------------


def initial_decays(num_heads: int) -> torch.Tensor:
    """Initial per-head decays lambda_h, spread so that 1 - lambda_h runs from 1/4 to 1/512 over the heads
    (effective ranges from a few tokens to a few hundred)."""
    return 1.0 - torch.exp2(-torch.linspace(2.0, 9.0, num_heads, dtype=torch.float64))


def _initial_decay_logits(num_heads: int) -> torch.Tensor:
    decays = initial_decays(num_heads)
    return torch.log(decays / (1.0 - decays)).float()


class LionBertDecayGate(nn.Linear):
    """The selective gate of LION-S: Linear(hidden_size, num_attention_heads), lambda_{i,h} = sigmoid(w_h . x_i + b_h).
    Its own class so that weight initialisation finds it (the bias starts at the logits of `initial_decays`)."""


class DecayKind(NamedTuple):
    """How one decay kind registers its parameters on a self-attention module and computes log(lambda) from the
    layer input: None (no decay), (heads,) or (batch, heads, length). Initial values: `_init_weights`.
    `head_logits` gives the parameter that sets each head's decay logit for an average token, (heads,), or None:
    what conversion initialises from the softmax teacher."""

    build: Callable[[nn.Module, LionBertConfig], None]
    log_lambda: Callable[[nn.Module, torch.Tensor], torch.Tensor | None]
    head_logits: Callable[[nn.Module], nn.Parameter | None]


def _build_nothing(module, config):
    pass


def _build_per_head(module, config):
    module.decay_logits = nn.Parameter(torch.zeros(config.num_attention_heads))


def _build_selective(module, config):
    module.gate = LionBertDecayGate(config.hidden_size, config.num_attention_heads)


DECAY_KINDS: dict[str, DecayKind] = {
    "none": DecayKind(_build_nothing, lambda module, hidden_states: None, lambda module: None),
    "per_head": DecayKind(
        _build_per_head,
        lambda module, hidden_states: F.logsigmoid(module.decay_logits),
        lambda module: module.decay_logits,
    ),
    "selective": DecayKind(
        _build_selective,
        lambda module, hidden_states: F.logsigmoid(module.gate(hidden_states)).transpose(1, 2),
        lambda module: module.gate.bias,  # the weight adds each token's share around it
    ),
}


# ----------------------------------------------------------------------------------------------------------------
# Attention kernels: (module, q, k, v, log_lambda, attention_mask, form, output_attentions) -> (output, weights)
# q, k, v: (batch, heads, length, head_dim); attention_mask: None (no padding) or (batch, length) bool, True = token;
# output: (batch, length, heads, head_dim), as transformers' attention functions return it; weights: (batch, heads,
# length, length) or None.
# ----------------------------------------------------------------------------------------------------------------


def _lion_kernel(module, q, k, v, log_lambda, attention_mask, form, output_attentions):
    # q, k, v are transposed views of the projections; the products in lion_attention batch over (batch, heads) and
    # would each copy them again, forward and backward: one contiguous copy here saves 2-3% of a training step
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    q, k = module.query_feature_map(q), module.key_feature_map(k)
    dropout = module.dropout.p if module.training else 0.0
    if dropout > 0 and form.mode != "parallel" and not output_attentions:
        logger.warning_once(
            f"Attention dropout needs the parallel form; the {form.mode} form trains without it "
            "(set attention_probs_dropout_prob=0.0 to silence this warning)."
        )
        dropout = 0.0
    if output_attentions or dropout > 0:
        # the parallel form, materialised: weights @ v equals lion_attention(..., mode="parallel")
        weights = lion_attention_weights(q, k, log_lambda, attention_mask, scaled=module.scaled)
        output = (module.dropout(weights) @ v.to(weights.dtype)).to(v.dtype)
        return output.transpose(1, 2), (weights if output_attentions else None)
    output = lion_attention(
        q, k, v, log_lambda, attention_mask, mode=form.mode, chunk_size=form.chunk_size, scaled=module.scaled
    )
    return output.transpose(1, 2), None


def _eager_mask(attention_mask, dtype):
    """(batch, length) bool -> additive (batch, 1, 1, length): 0 on tokens, the dtype's minimum on pads."""
    if attention_mask is None:
        return None
    return torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device).masked_fill(
        ~attention_mask, torch.finfo(dtype).min
    )[:, None, None, :]


def _softmax_kernel(module, q, k, v, log_lambda, attention_mask, form, output_attentions):
    """BERT's attention, as BertSelfAttention runs it: the attention function of `config._attn_implementation`
    (`"eager"`, `"sdpa"`, `"flex_attention"`) from transformers' `ALL_ATTENTION_FUNCTIONS`, with the mask that function
    takes. The LION forms do not apply. Only eager attention returns the weights, so with `output_attentions` it runs
    whatever the implementation (transformers' sdpa would return none, and distillation needs the teacher's)."""
    implementation = module.config._attn_implementation
    if output_attentions and implementation != "eager":
        logger.warning_once(
            f"output_attentions=True: the softmax attention runs eagerly, since {implementation!r} returns no weights."
        )
        implementation = "eager"
    if q.shape[0] == 0:  # an empty batch is a valid input, which transformers' sdpa function fails to reshape
        implementation = "eager"
    if implementation == "eager":
        mask = _eager_mask(attention_mask, q.dtype)
    else:  # the mask format of that implementation (boolean for sdpa, a BlockMask for flex_attention)
        mask = create_bidirectional_mask(config=module.config, inputs_embeds=q[:, 0], attention_mask=attention_mask)
    attention = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
    dropout = module.dropout.p if module.training else 0.0
    return attention(module, q, k, v, mask, dropout=dropout, scaling=module.scaling)


ATTENTION_KERNELS = {"lion": _lion_kernel, "softmax": _softmax_kernel}


# ----------------------------------------------------------------------------------------------------------------
# Modules (names and structure mirror transformers' Bert classes)
# ----------------------------------------------------------------------------------------------------------------


class LionBertEmbeddings(nn.Module):
    """Word + token type (+ learned absolute position, when configured) embeddings, LayerNorm, dropout."""

    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        if config.resolved_position_embedding_type == "absolute":
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.position_ids = nn.Buffer(
                torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
            )
        else:
            self.position_embeddings = None
            self.position_ids = None
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        """input_ids, token_type_ids, position_ids: (batch, length); inputs_embeds: (batch, length, hidden).
        Returns (batch, length, hidden)."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch, length = inputs_embeds.shape[:2]
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch, length), dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.position_embeddings is not None:
            if position_ids is None:
                position_ids = self.position_ids[:, :length]
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class LionBertFeatureMap(nn.Module):
    """The feature map phi of one layer's queries or keys: a fixed function, or a learned one with its per-head
    parameters (`weight` (heads, head_dim, size), `bias` (heads, size); identity-initialised by `_init_weights`, with
    random unit columns beyond head_dim)."""

    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.name = config.resolved_feature_map
        self.function = FEATURE_MAPS[self.name]
        if self.name in LEARNED_FEATURE_MAPS:
            heads, head_dim = config.num_attention_heads, config.hidden_size // config.num_attention_heads
            size = config.feature_map_size or head_dim
            self.weight = nn.Parameter(torch.empty(heads, head_dim, size))
            self.bias = nn.Parameter(torch.zeros(heads, size))
        else:
            self.weight = self.bias = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, heads, length, head_dim) -> (batch, heads, length, features)."""
        return self.function(x) if self.weight is None else self.function(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return self.name


class LionBertSelfAttention(nn.Module):
    """Multi-head attention of one layer: projections, then the kernel and decay of ``config.attention_type``."""

    def __init__(self, config: LionBertConfig):
        super().__init__()
        variant = config.attention_variant
        self.config = config  # the softmax kernel reads `_attn_implementation` from it
        self.is_causal = False  # read by transformers' attention functions
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.scaling = self.attention_head_size**-0.5

        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

        self.kernel = ATTENTION_KERNELS[variant.kernel]
        if config.resolved_feature_map is not None:
            self.query_feature_map = LionBertFeatureMap(config)
            self.key_feature_map = LionBertFeatureMap(config)
        self.scaled = config.scaled
        self.decay_kind = variant.decay
        DECAY_KINDS[self.decay_kind].build(self, config)
        self.attn_norm = None
        if config.resolved_attention_layer_norm:
            self.attn_norm = nn.LayerNorm(self.all_head_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, form=AttentionForm("parallel", 64), output_attentions=False):
        """hidden_states: (batch, length, hidden); attention_mask: None or (batch, length) bool, True = token.
        Returns (output (batch, length, hidden), weights (batch, heads, length, length) or None)."""
        batch, length, _ = hidden_states.shape
        heads_shape = (batch, length, self.num_attention_heads, self.attention_head_size)
        q = self.query(hidden_states).view(heads_shape).transpose(1, 2)
        k = self.key(hidden_states).view(heads_shape).transpose(1, 2)
        v = self.value(hidden_states).view(heads_shape).transpose(1, 2)
        log_lambda = DECAY_KINDS[self.decay_kind].log_lambda(self, hidden_states)
        output, weights = self.kernel(self, q, k, v, log_lambda, attention_mask, form, output_attentions)
        output = output.reshape(batch, length, self.all_head_size)
        if self.attn_norm is not None:
            output = self.attn_norm(output)
        return output, weights


class LionBertSelfOutput(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states))
        return self.LayerNorm(hidden_states + input_tensor)


class LionBertAttention(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.self = LionBertSelfAttention(config)
        self.output = LionBertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, form=AttentionForm("parallel", 64), output_attentions=False):
        attention_output, weights = self.self(hidden_states, attention_mask, form, output_attentions)
        return self.output(attention_output, hidden_states), weights


class LionBertIntermediate(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        act = config.hidden_act
        self.intermediate_act_fn = ACT2FN[act] if isinstance(act, str) else act

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class LionBertOutput(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states))
        return self.LayerNorm(hidden_states + input_tensor)


class LionBertLayer(GradientCheckpointingLayer):
    """One encoder layer: attention, then the feed-forward block (each with residual and LayerNorm)."""

    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.chunk_size_feed_forward = config.chunk_size_feed_forward
        self.seq_len_dim = 1
        self.attention = LionBertAttention(config)
        self.intermediate = LionBertIntermediate(config)
        self.output = LionBertOutput(config)

    def forward(self, hidden_states, attention_mask=None, form=AttentionForm("parallel", 64), output_attentions=False):
        """hidden_states: (batch, length, hidden) (positional, for gradient checkpointing). Returns
        (hidden_states (batch, length, hidden), attention weights (batch, heads, length, length) or None)."""
        attention_output, weights = self.attention(hidden_states, attention_mask, form, output_attentions)
        layer_output = apply_chunking_to_forward(
            self.feed_forward_chunk, self.chunk_size_feed_forward, self.seq_len_dim, attention_output
        )
        return layer_output, weights

    def feed_forward_chunk(self, attention_output):
        return self.output(self.intermediate(attention_output), attention_output)


class LionBertEncoder(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.layer = nn.ModuleList([LionBertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask, form, output_attentions=False, output_hidden_states=False):
        """Returns (last hidden state, all hidden states or None, all attention weights or None)."""
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layer:
            hidden_states, weights = layer(
                hidden_states, attention_mask=attention_mask, form=form, output_attentions=output_attentions
            )
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden_states, all_hidden_states, all_attentions


class LionBertPooler(nn.Module):
    """tanh(dense(hidden state of the first token))."""

    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class LionBertPredictionHeadTransform(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act] if isinstance(config.hidden_act, str) else config.hidden_act
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class LionBertLMPredictionHead(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.transform = LionBertPredictionHeadTransform(config)
        # the decoder weight is tied to the word embeddings; its bias to `bias`
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class LionBertOnlyMLMHead(nn.Module):
    def __init__(self, config: LionBertConfig):
        super().__init__()
        self.predictions = LionBertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


# ----------------------------------------------------------------------------------------------------------------
# Pretrained model base
# ----------------------------------------------------------------------------------------------------------------

# pickled weight files that from_pretrained refuses by default (unpickling can run arbitrary code)
PICKLED_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _safetensors_candidates(pretrained_model_name_or_path, kwargs) -> list[str]:
    """The local safetensors files `from_pretrained` may have read: those of a folder, the file itself, or the Hub
    checkpoint's files in the local cache (never downloads)."""
    path = os.fspath(pretrained_model_name_or_path)
    subfolder = kwargs.get("subfolder") or ""
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(glob.escape(os.path.join(path, subfolder)), "*.safetensors")))
    if os.path.isfile(path):
        return [path]

    def cached(name):
        found = try_to_load_from_cache(
            path, f"{subfolder}/{name}" if subfolder else name, cache_dir=kwargs.get("cache_dir"),
            revision=kwargs.get("revision"),
        )
        return found if isinstance(found, str) else None

    variant = kwargs.get("variant")
    single, index = (
        name if not variant else name.replace(".safetensors", f".{variant}.safetensors")
        for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)
    )
    files = [cached(single)]
    index_file = cached(index)
    if index_file is not None:
        try:
            with open(index_file, encoding="utf-8") as handle:
                files += [cached(shard) for shard in sorted(set(json.load(handle)["weight_map"].values()))]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return [f for f in files if f is not None]


def _unreadable_safetensors(files: list[str]) -> list[str]:
    """The files among `files` whose header safetensors rejects: truncated (the header no longer covers the file) or
    corrupted. (A flipped byte in the tensor data itself is not detectable: safetensors carries no checksum.)"""
    broken = []
    for file in files:
        try:
            with safe_open(file, framework="pt"):
                pass
        except (SafetensorError, OSError):
            broken.append(file)
    return broken


def _own_cpu_memory(model: nn.Module):
    """Give every CPU parameter and buffer of a loaded model its own memory.

    transformers memory-maps safetensors files and keeps the weights as views of the mapping. Such weights sit at
    arbitrary byte offsets, where the CPU kernels take other vectorised paths and round differently, so the loaded model
    would not reproduce the saved one bit for bit; and they read the file for as long as the model lives, so
    truncating or overwriting the file in place (e.g. shutil.copy onto it) would kill the process with SIGBUS. A copy
    per tensor costs one read of the weights, which the first forward pass does anyway.
    """
    with torch.no_grad():
        for tensor in itertools.chain(model.parameters(), model.buffers()):  # tied weights come once
            if tensor.device.type == "cpu":
                tensor.data = tensor.data.clone()  # the allocator aligns to 64 bytes


def _pickled_weights(pretrained_model_name_or_path, kwargs) -> list[str]:
    """Pickled weight files (pytorch_model.bin, ...) of a local folder; empty for a Hub id."""
    folder = os.path.join(os.fspath(pretrained_model_name_or_path), kwargs.get("subfolder") or "")
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if name.endswith(PICKLED_WEIGHT_SUFFIXES))


class LionBertPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint loading/saving and the choice of LION form shared by all LionBert classes.

    Every LionBert class carries a [`LionGenerationConfig`] (`model.generation_config`, saved as
    `generation_config.json`) naming the form used in eval mode, which is why `can_generate()` is True for all of
    them; only [`LionBertForMaskedLM`] has a `generate` method (mask-predict).
    """

    config_class = LionBertConfig
    config: LionBertConfig
    generation_config_class = LionGenerationConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    # attn_implementation picks the softmax baseline's attention function; LION layers always run lion_attention
    _supports_sdpa = True
    _supports_flex_attn = True
    # the sequence cannot be sharded: LION carries a bidirectional state along the whole sequence
    _supports_context_parallel = False
    _no_split_modules = ["LionBertEmbeddings", "LionBertLayer"]
    # old BERT checkpoints store the (non-persistent) position_ids buffer
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids"]
    output_modalities = ("text",)

    def __init__(self, config: LionBertConfig, *inputs, **kwargs):
        # duck-typed: a config of the Hub code's own copy of this file is a LionBertConfig too. It was validated when
        # it was built, and @strict validates every field set since.
        if not hasattr(config, "attention_variant"):
            raise TypeError(
                f"{type(self).__name__} needs a LionBertConfig, got {type(config).__name__}; convert a BERT config "
                "with LionBertConfig.from_dict(bert_config.to_dict(), attention_type=...)."
            )
        super().__init__(config, *inputs, **kwargs)

    @classmethod
    def can_generate(cls) -> bool:
        """True: every LionBert model has a `generation_config` (see the class docstring)."""
        return True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, reading weights from safetensors only unless told otherwise.

        `use_safetensors` defaults to True here (transformers' default, None, falls back to `pytorch_model.bin`): a
        checkpoint whose weights exist only as a pickle raises an OSError instead of being unpickled. Pass
        `use_safetensors=False` to read such a file you trust (transformers reads it with
        `torch.load(weights_only=True)`), then re-save it with `save_pretrained`, which writes safetensors.

        A truncated or corrupted safetensors file raises an OSError naming the file and the fix (download again,
        or re-save), where safetensors alone says only "Error while deserializing header".
        """
        defaulted = kwargs.get("use_safetensors") is None
        if defaulted:
            kwargs["use_safetensors"] = True
        try:
            loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            candidates = _safetensors_candidates(pretrained_model_name_or_path, kwargs)
            broken = _unreadable_safetensors(candidates) or candidates or [os.fspath(pretrained_model_name_or_path)]
            raise OSError(
                f"Cannot read the safetensors weights {', '.join(broken)}: {error}. The file is truncated or "
                f"corrupted (an interrupted download, copy or save): download it again (for a Hub model, "
                f"from_pretrained(..., force_download=True)) or re-save the model with save_pretrained()."
            ) from error
        except OSError as error:
            if not defaulted or SAFE_WEIGHTS_NAME not in str(error):
                raise
            pickles = _pickled_weights(pretrained_model_name_or_path, kwargs)
            found = f" It holds {', '.join(pickles)}, a pickle." if pickles else ""
            raise OSError(
                f"{error}\nLionBert reads weights from safetensors only by default, as unpickling a file can run "
                f"arbitrary code.{found} If you trust the checkpoint, load it once with use_safetensors=False "
                f"(read with torch.load(weights_only=True)) and re-save it with save_pretrained(), which writes "
                f"{SAFE_WEIGHTS_NAME}."
            ) from error
        _own_cpu_memory(loaded[0] if isinstance(loaded, tuple) else loaded)  # a tuple with output_loading_info=True
        return loaded

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, LionBertLMPredictionHead):
            init.zeros_(module.bias)
        elif isinstance(module, LionBertEmbeddings) and module.position_ids is not None:
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
        elif isinstance(module, LionBertSelfAttention) and getattr(module, "decay_logits", None) is not None:
            init.copy_(module.decay_logits, _initial_decay_logits(module.decay_logits.shape[0]))
        elif isinstance(module, LionBertFeatureMap) and module.weight is not None:
            heads, head_dim, size = module.weight.shape
            weight = torch.eye(head_dim, size).repeat(heads, 1, 1)
            # features beyond head_dim: random unit directions. Zero columns would all get the same gradient and stay
            # equal, one feature in many copies.
            if size > head_dim:
                weight[..., head_dim:] = F.normalize(torch.randn(heads, head_dim, size - head_dim), dim=1)
            init.copy_(module.weight, weight)
            init.zeros_(module.bias)
        elif isinstance(module, LionBertDecayGate):
            # the weight keeps the normal init of linear layers; the bias sets the decay of an average token
            init.copy_(module.bias, _initial_decay_logits(module.out_features))

    def resolve_attention_form(
        self,
        length: int,
        attention_mode: str | None = None,
        chunk_size: int | None = None,
        generation_config: LionGenerationConfig | None = None,
    ) -> AttentionForm:
        """The LION form for an input of `length` tokens.

        Precedence: the `attention_mode` argument; else, in eval mode, the generation config's `attention_mode`
        ("auto" = parallel up to `auto_parallel_max_length` tokens, chunk beyond); else (training mode)
        `config.attention_mode`. `chunk_size`: the argument, else (eval mode) the generation config's, else
        `config.chunk_size`.
        """
        generation_config = generation_config if generation_config is not None else self.generation_config
        inference = not self.training
        if attention_mode is None:
            attention_mode = generation_config.attention_mode if inference else self.config.attention_mode
        if attention_mode not in GENERATION_ATTENTION_MODES:
            allowed = ", ".join(repr(m) for m in GENERATION_ATTENTION_MODES)
            raise ValueError(f"`attention_mode` must be one of {allowed}, got {attention_mode!r}.")
        if attention_mode == "auto":
            attention_mode = "parallel" if length <= generation_config.auto_parallel_max_length else "chunk"
        if chunk_size is None and inference:
            chunk_size = generation_config.chunk_size
        if chunk_size is None:
            chunk_size = self.config.chunk_size
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"`chunk_size` must be a positive int, got {chunk_size!r}.")
        return AttentionForm(attention_mode, chunk_size)

    def _form_for_inputs(self, input_ids, inputs_embeds, attention_mode, chunk_size):
        """Heads resolve the form with their own generation config and pass it down explicitly."""
        if (input_ids is None) == (inputs_embeds is None):
            return attention_mode, chunk_size  # the base model raises the clear error
        length = input_ids.shape[-1] if input_ids is not None else inputs_embeds.shape[-2]
        return self.resolve_attention_form(length, attention_mode, chunk_size)

    def adjust_generation_fn(
        self, generation_config, from_auto_class, from_pipeline, pretrained_model_name_or_path, **kwargs
    ):
        """Called by `from_pretrained`: read `generation_config.json` (or keep the defaults when there is none)."""
        if generation_config is not None:
            self.generation_config = self.generation_config_class.from_dict(generation_config.to_dict())
            return
        if pretrained_model_name_or_path is None:
            return
        download_kwargs = {
            key: kwargs[key]
            for key in ("cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "subfolder")
            if key in kwargs
        }
        try:
            self.generation_config = self.generation_config_class.from_pretrained(
                pretrained_model_name_or_path,
                _from_auto=from_auto_class,
                _from_pipeline=from_pipeline,
                **download_kwargs,
            )
        except OSError:
            logger.info("No generation_config.json found: using the default LionGenerationConfig.")

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`; when the classes are registered for Auto classes (importing
        `lion_bert` does it), `config.auto_map` lists every LionBert head, so the saved folder loads with any
        `AutoModel*` class and `trust_remote_code=True`."""
        if self.is_remote_code():
            module = type(self).__module__.rsplit(".", 1)[-1]
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.update({auto: f"{module}.{name}" for auto, name in AUTO_CLASSES.items()})
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)


def _id_range(name: str, ids: torch.Tensor) -> tuple[int, int] | None:
    """(smallest, largest) value of an index tensor for an nn.Embedding, None when it is empty (batch size 0).

    The embeddings take int64/int32 indices only, and would otherwise fail deep inside (an IndexError on CPU, a
    device-side assert that poisons the CUDA context on GPU), so ids are checked here, before any compute. Under
    torch.compile the values are not read (None): that would break the graph and synchronise with the host.
    """
    if ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must be a torch.long (or torch.int) tensor of indices, got dtype {ids.dtype}.")
    if ids.numel() == 0 or is_torchdynamo_compiling():
        return None
    return int(ids.min()), int(ids.max())


def _check_ids(name: str, ids: torch.Tensor, size: int, fix: str):
    """ids must hold values in [0, size) (rows of an embedding); `fix` tells the user what to do otherwise."""
    bounds = _id_range(name, ids)
    if bounds is not None and (bounds[0] < 0 or bounds[1] >= size):
        raise ValueError(f"{name} must hold values in [0, {size}), got values from {bounds[0]} to {bounds[1]}. {fix}")


def _check_inputs(
    config, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, vocab_size: int | None = None
):
    """Validate the inputs of LionBertModel.forward before any compute; returns (batch, length).

    `vocab_size`: rows of the word embedding (defaults to `config.vocab_size`). A batch of size 0 is valid (the
    outputs are empty); a sequence of length 0 is not (there is no first token for the pooler, nothing to attend).
    """
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("You must specify exactly one of input_ids or inputs_embeds.")
    if input_ids is not None:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch_size, sequence_length), got {tuple(input_ids.shape)}.")
        batch, length = input_ids.shape
    else:
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != config.hidden_size:
            raise ValueError(
                f"inputs_embeds must have shape (batch_size, sequence_length, hidden_size={config.hidden_size}), "
                f"got {tuple(inputs_embeds.shape)}."
            )
        batch, length = inputs_embeds.shape[:2]
    if length == 0:
        name = "input_ids" if input_ids is not None else "inputs_embeds"
        raise ValueError(
            f"{name} has sequence_length 0 (batch_size {batch}): LionBert needs at least one token per sequence. "
            f"Tokenizers add [CLS] and [SEP] even to an empty text; drop empty inputs before the model."
        )
    for name, tensor in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if tensor is not None and tuple(tensor.shape) != (batch, length):
            raise ValueError(
                f"{name} must have shape (batch_size, sequence_length) = ({batch}, {length}), "
                f"got {tuple(tensor.shape)}."
            )
    if position_ids is not None and (position_ids.dim() != 2 or position_ids.shape[-1] != length):
        raise ValueError(
            f"position_ids must have shape (batch_size, {length}) or (1, {length}), got {tuple(position_ids.shape)}."
        )
    if input_ids is not None:
        vocab_size = config.vocab_size if vocab_size is None else vocab_size
        _check_ids(
            "input_ids", input_ids, vocab_size,
            f"The model's vocabulary has {vocab_size} tokens: use the tokenizer saved with the model, or after adding "
            f"tokens call model.resize_token_embeddings(len(tokenizer)).",
        )
    if token_type_ids is not None:
        _check_ids(
            "token_type_ids", token_type_ids, config.type_vocab_size,
            f"The model has type_vocab_size={config.type_vocab_size} segments (0 = first text, 1 = second).",
        )
    if config.resolved_position_embedding_type == "absolute":  # else position_ids are unused
        longest = length
        bounds = None if position_ids is None else _id_range("position_ids", position_ids)
        if bounds is not None:
            if bounds[0] < 0:
                raise ValueError(f"position_ids must be >= 0 (positions count from 0), got {bounds[0]}.")
            longest = bounds[1] + 1
        if longest > config.max_position_embeddings:
            raise ValueError(
                f"The input needs {longest} positions but the model has max_position_embeddings="
                f"{config.max_position_embeddings} learned absolute positions. Truncate the input, or use a model "
                f"with position_embedding_type='none' (the LION-D/LION-S default, no length limit) or a larger "
                f"max_position_embeddings."
            )
    return batch, length


def _padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """The mask the layers take: (batch, length) bool, True = token, or None when nothing is padded. The one read of
    the mask's values, next to the input checks and before any compute, so that no layer waits for the device; a mask
    without pads is dropped because every kernel is cheaper without one (LION-D then keeps its per-head decay). Under
    torch.compile a given mask is kept without being read, so that the graph does not break."""
    if attention_mask is None or (not is_torchdynamo_compiling() and bool(attention_mask.all())):
        return None
    return attention_mask.bool()


class LionBertModel(LionBertPreTrainedModel):
    """The bare LionBert encoder (embeddings, layers, optional pooler), returning hidden states."""

    def __init__(self, config: LionBertConfig, add_pooling_layer: bool = True):
        r"""
        add_pooling_layer (`bool`, *optional*, defaults to `True`):
            Whether to add the pooler (tanh(dense(first token))), whose output feeds the classification heads.
        """
        super().__init__(config)
        self.embeddings = LionBertEmbeddings(config)
        self.encoder = LionBertEncoder(config)
        self.pooler = LionBertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        attention_mode: str | None = None,
        chunk_size: int | None = None,
    ) -> tuple[torch.Tensor] | BaseModelOutputWithPoolingAndCrossAttentions:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`): token ids (exactly one of
                `input_ids` and `inputs_embeds`).
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*): 1 for real tokens,
                0 for padding. Padding is transparent: each real token's output equals that of its sequence alone
                (with absolute positions, pad on the right).
            token_type_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*): segment ids.
            position_ids (`torch.LongTensor` of shape `(batch_size or 1, sequence_length)`, *optional*): positions
                (absolute position embeddings only); default 0..L-1.
            inputs_embeds (`torch.Tensor` of shape `(batch_size, sequence_length, hidden_size)`, *optional*).
            output_attentions (`bool`, *optional*): return each layer's attention weights, `(batch_size, heads,
                sequence_length, sequence_length)`: the normalised LION weights (this runs the parallel form, the only
                one that has them) or the softmax probabilities.
            output_hidden_states (`bool`, *optional*): return the embeddings and each layer's output.
            return_dict (`bool`, *optional*): return a ModelOutput (default) or a tuple (`@can_return_tuple`).
            attention_mode (`str`, *optional*): `"parallel"`, `"chunk"`, `"recurrent"` or `"auto"`; overrides the
                generation config (eval mode) and `config.attention_mode` (training mode).
            chunk_size (`int`, *optional*): chunk size of the chunk form; overrides the configs.

        Returns:
            [`BaseModelOutputWithPoolingAndCrossAttentions`]: `last_hidden_state` `(batch_size, sequence_length,
            hidden_size)`, `pooler_output` `(batch_size, hidden_size)` (None without pooler), `hidden_states` and
            `attentions` when requested.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        _, length = _check_inputs(
            self.config, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            vocab_size=self.embeddings.word_embeddings.num_embeddings,
        )
        form = self.resolve_attention_form(length, attention_mode, chunk_size)
        attention_mask = _padding_mask(attention_mask)

        embedding_output = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds
        )
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, attention_mask, form, output_attentions, output_hidden_states
        )
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None

        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=hidden_states,
            attentions=attentions,
        )


class LionBertForMaskedLM(LionBertPreTrainedModel):
    """LionBert with the BERT masked language modeling head (decoder tied to the word embeddings)."""

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: LionBertConfig):
        super().__init__(config)
        self.bert = LionBertModel(config, add_pooling_layer=False)
        self.cls = LionBertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels: torch.Tensor | None = None,
        output_attentions=None,
        output_hidden_states=None,
        attention_mode=None,
        chunk_size=None,
    ) -> tuple[torch.Tensor] | MaskedLMOutput:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids (`(batch_size, sequence_length)`), inputs_embeds
            (`(batch_size, sequence_length, hidden_size)`), output_attentions, output_hidden_states, return_dict,
            attention_mode, chunk_size: as in [`LionBertModel.forward`].
            labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*): target token ids;
                -100 is ignored.

        Returns:
            [`MaskedLMOutput`]: `logits` `(batch_size, sequence_length, vocab_size)`, or `(num_predicted,
            vocab_size)` for the labelled positions only when `config.sparse_prediction` and `labels` are set;
            `loss` (scalar) with labels.
        """
        attention_mode, chunk_size = self._form_for_inputs(input_ids, inputs_embeds, attention_mode, chunk_size)
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            attention_mode=attention_mode,
            chunk_size=chunk_size,
        )
        hidden_states = outputs.last_hidden_state
        if self.config.sparse_prediction and labels is not None:
            labels = labels.reshape(-1)
            predicted = labels != self.config.sparse_pred_ignore_index
            hidden_states, labels = hidden_states.reshape(labels.shape[0], -1)[predicted], labels[predicted]
        prediction_scores = self.cls(hidden_states)
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
        return MaskedLMOutput(
            loss=loss, logits=prediction_scores, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        generation_config: LionGenerationConfig | None = None,
        **kwargs,
    ) -> torch.LongTensor:
        """Fill every mask token of `input_ids` by iterative mask-predict.

        Each round predicts all still-masked positions, keeps the most confident predictions and re-masks the rest;
        the number kept grows so that every mask is filled after `max_iterations` rounds (fewer when there are fewer
        masks than rounds). The mask token itself is never predicted. Runs the form the generation config names.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`): ids holding mask tokens.
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*): padding is never
                filled.
            generation_config ([`LionGenerationConfig`], *optional*): defaults to `self.generation_config`.
            kwargs: overrides of generation config fields (e.g. `max_iterations=4`, `mask_token_id=103`).

        Returns:
            `torch.LongTensor` of shape `(batch_size, sequence_length)`: `input_ids` with every mask filled.
        """
        generation_config = generation_config if generation_config is not None else self.generation_config
        generation_config = LionGenerationConfig.from_dict(generation_config.to_dict())  # a copy, kwargs go there
        unused = generation_config.update(**kwargs)
        if unused:
            raise ValueError(f"generate() got arguments that are not LionGenerationConfig fields: {sorted(unused)}.")
        mask_token_id = generation_config.mask_token_id
        if mask_token_id is None:
            raise ValueError(
                "generate() needs the mask token id: set model.generation_config.mask_token_id = "
                "tokenizer.mask_token_id, or pass mask_token_id=..."
            )
        if input_ids is None or input_ids.dim() != 2:
            raise ValueError("generate() needs input_ids of shape (batch_size, sequence_length).")
        form = self.resolve_attention_form(
            input_ids.shape[1], generation_config.attention_mode, generation_config.chunk_size, generation_config
        )

        ids = input_ids.clone()
        masked = ids == mask_token_id
        if attention_mask is not None:
            masked &= attention_mask.bool()
        iterations = generation_config.max_iterations
        total = masked.sum(dim=1)
        for step in range(1, iterations + 1):
            if not masked.any():
                break
            logits = self(
                ids, attention_mask, attention_mode=form.mode, chunk_size=form.chunk_size, return_dict=True
            ).logits
            logits[..., mask_token_id] = float("-inf")
            confidence, prediction = logits.float().softmax(dim=-1).max(dim=-1)
            # masks left after this round: total * (T - step) / T, so the last round fills everything
            left_after = torch.div(total * (iterations - step), iterations, rounding_mode="floor")
            keep = masked.sum(dim=1) - left_after
            confidence = confidence.masked_fill(~masked, float("-inf"))
            order = confidence.argsort(dim=1, descending=True, stable=True)
            positions = torch.arange(ids.shape[1], device=ids.device).expand_as(order)
            rank = torch.empty_like(order).scatter_(1, order, positions)  # rank of each position by confidence
            fill = masked & (rank < keep[:, None])
            ids = torch.where(fill, prediction, ids)
            masked &= ~fill
        return ids


class LionBertForSequenceClassification(LionBertPreTrainedModel):
    """LionBert with a linear layer on the pooled output (regression, single- or multi-label classification)."""

    def __init__(self, config: LionBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = LionBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels: torch.Tensor | None = None,
        output_attentions=None,
        output_hidden_states=None,
        attention_mode=None,
        chunk_size=None,
    ) -> tuple[torch.Tensor] | SequenceClassifierOutput:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids (`(batch_size, sequence_length)`), inputs_embeds
            (`(batch_size, sequence_length, hidden_size)`), output_attentions, output_hidden_states, return_dict,
            attention_mode, chunk_size: as in [`LionBertModel.forward`].
            labels (`torch.Tensor` of shape `(batch_size,)` or `(batch_size, num_labels)`, *optional*): float targets
                for regression (num_labels == 1), class ids for single-label, multi-hot floats for multi-label
                classification (`config.problem_type`, inferred as in BERT when unset).

        Returns:
            [`SequenceClassifierOutput`]: `logits` `(batch_size, num_labels)`; `loss` (scalar) with labels.
        """
        attention_mode, chunk_size = self._form_for_inputs(input_ids, inputs_embeds, attention_mode, chunk_size)
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            attention_mode=attention_mode,
            chunk_size=chunk_size,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif self.num_labels > 1 and labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                if self.num_labels == 1:
                    loss = MSELoss()(logits.squeeze(), labels.squeeze())
                else:
                    loss = MSELoss()(logits, labels)
            elif self.config.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class LionBertForMultipleChoice(LionBertPreTrainedModel):
    """LionBert with a linear layer on the pooled output scoring each choice."""

    def __init__(self, config: LionBertConfig):
        super().__init__(config)
        self.bert = LionBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels: torch.Tensor | None = None,
        output_attentions=None,
        output_hidden_states=None,
        attention_mode=None,
        chunk_size=None,
    ) -> tuple[torch.Tensor] | MultipleChoiceModelOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, num_choices, sequence_length)`); attention_mask,
            token_type_ids, position_ids: same shape; inputs_embeds: `(batch_size, num_choices, sequence_length,
            hidden_size)`; the other arguments as in [`LionBertModel.forward`].
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): index of the right choice.

        Returns:
            [`MultipleChoiceModelOutput`]: `logits` `(batch_size, num_choices)`; `loss` (scalar) with labels.
        """
        first = input_ids if input_ids is not None else inputs_embeds
        expected_dims = 3 if input_ids is not None else 4
        if first is None or first.dim() != expected_dims:
            raise ValueError(
                "LionBertForMultipleChoice needs exactly one of input_ids (batch_size, num_choices, sequence_length) "
                "or inputs_embeds (batch_size, num_choices, sequence_length, hidden_size)."
            )
        num_choices = first.shape[1]

        def flat(tensor):
            # flatten(0, 1), not reshape(-1, ...): an empty input keeps its shape, so the base model names the problem
            return None if tensor is None else tensor.flatten(0, 1)

        attention_mode, chunk_size = self._form_for_inputs(input_ids, inputs_embeds, attention_mode, chunk_size)
        outputs = self.bert(
            flat(input_ids),
            attention_mask=flat(attention_mask),
            token_type_ids=flat(token_type_ids),
            position_ids=flat(position_ids),
            inputs_embeds=flat(inputs_embeds),
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            attention_mode=attention_mode,
            chunk_size=chunk_size,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(-1, num_choices)
        loss = CrossEntropyLoss()(logits, labels) if labels is not None else None
        return MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class LionBertForTokenClassification(LionBertPreTrainedModel):
    """LionBert with a linear layer on every token's hidden state (e.g. NER)."""

    def __init__(self, config: LionBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = LionBertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels: torch.Tensor | None = None,
        output_attentions=None,
        output_hidden_states=None,
        attention_mode=None,
        chunk_size=None,
    ) -> tuple[torch.Tensor] | TokenClassifierOutput:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids (`(batch_size, sequence_length)`), inputs_embeds
            (`(batch_size, sequence_length, hidden_size)`), output_attentions, output_hidden_states, return_dict,
            attention_mode, chunk_size: as in [`LionBertModel.forward`].
            labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*): class ids; -100 is
                ignored.

        Returns:
            [`TokenClassifierOutput`]: `logits` `(batch_size, sequence_length, num_labels)`; `loss` with labels.
        """
        attention_mode, chunk_size = self._form_for_inputs(input_ids, inputs_embeds, attention_mode, chunk_size)
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            attention_mode=attention_mode,
            chunk_size=chunk_size,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class LionBertForQuestionAnswering(LionBertPreTrainedModel):
    """LionBert with a span head: start and end logits for every token (extractive QA, e.g. SQuAD)."""

    def __init__(self, config: LionBertConfig):
        if config.num_labels != 2:
            raise ValueError(
                f"LionBertForQuestionAnswering predicts start and end logits: it needs num_labels=2, got "
                f"{config.num_labels}."
            )
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = LionBertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        output_attentions=None,
        output_hidden_states=None,
        attention_mode=None,
        chunk_size=None,
    ) -> tuple[torch.Tensor] | QuestionAnsweringModelOutput:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids (`(batch_size, sequence_length)`), inputs_embeds
            (`(batch_size, sequence_length, hidden_size)`), output_attentions, output_hidden_states, return_dict,
            attention_mode, chunk_size: as in [`LionBertModel.forward`].
            start_positions, end_positions (`torch.LongTensor` of shape `(batch_size,)`, *optional*): span boundaries
                (token indices); positions outside the input are ignored.

        Returns:
            [`QuestionAnsweringModelOutput`]: `start_logits`, `end_logits` `(batch_size, sequence_length)`; `loss`
            (mean of the start and end cross-entropies) with positions.
        """
        attention_mode, chunk_size = self._form_for_inputs(input_ids, inputs_embeds, attention_mode, chunk_size)
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            attention_mode=attention_mode,
            chunk_size=chunk_size,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        total_loss = None
        if start_positions is not None and end_positions is not None:
            if start_positions.dim() > 1:
                start_positions = start_positions.squeeze(-1)
            if end_positions.dim() > 1:
                end_positions = end_positions.squeeze(-1)
            # positions outside the input are ignored
            ignored_index = start_logits.size(1)
            start_positions = start_positions.clamp(0, ignored_index)
            end_positions = end_positions.clamp(0, ignored_index)
            loss_fct = CrossEntropyLoss(ignore_index=ignored_index)
            total_loss = (loss_fct(start_logits, start_positions) + loss_fct(end_logits, end_positions)) / 2
        return QuestionAnsweringModelOutput(
            loss=total_loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


__all__ = [
    "ATTENTION_KERNELS",
    "AUTO_CLASSES",
    "AttentionForm",
    "DECAY_KINDS",
    "LionBertForMaskedLM",
    "LionBertForMultipleChoice",
    "LionBertForQuestionAnswering",
    "LionBertForSequenceClassification",
    "LionBertForTokenClassification",
    "LionBertModel",
    "LionBertPreTrainedModel",
]
