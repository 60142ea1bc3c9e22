"""Robustness: random shapes and padding through the whole model, numerics at the edges (saturated gates, 65536
tokens, bf16 autocast, the unscaled identity feature map), bad model inputs, and the tokenizer on any text.

Accuracy is the max-norm relative error of ``test_lion_attention.py``: ``max|actual - expected| / max|expected|``.
Tolerances: 1e-10 in float64, 1e-5 in float32 (as for the operator); 1e-4 for the float32 recurrent form over
65536 tokens, the long-sequence tolerance of the operator tests (a float32 running sum over L tokens).

Decisions tested here (see `_check_inputs` in modeling_lion_bert.py):
* token ids, token type ids or positions outside their embedding, or of a non-integer dtype: ValueError, before
  any compute, naming the argument, the allowed range and the fix;
* a row of the attention mask with no real token: a defined result, finite outputs, the other rows unchanged;
* batch size 0: a defined result, empty outputs of the right shapes, in every form and head;
* sequence length 0: ValueError (no first token for the pooler, nothing to attend); length 1: like any length;
* text holding a lone surrogate: ValueError naming its position; any other text tokenizes and runs.
"""

import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lion_bert import (
    LionBertConfig,
    LionBertForMaskedLM,
    LionBertForMultipleChoice,
    LionBertForQuestionAnswering,
    LionBertForSequenceClassification,
    LionBertForTokenClassification,
    LionBertModel,
)
from lion_bert.lion_attention import lion_attention, silu_norm

from model_classes import FORMS, HEAD_CLASSES, LION_VARIANTS, VARIANTS


VOCAB = 99
# the strategies of the property-based tests over padded batches: a form, its chunk size, a batch of 1-3 rows, the
# seed of the token ids and `data`, from which each test draws its attention mask
PADDED_BATCHES = dict(
    mode=st.sampled_from(FORMS),
    chunk_size=st.integers(1, 9),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max|actual - expected| / max|expected| in float64 (1 as the scale when expected is all zeros)."""
    actual, expected = actual.detach().double(), expected.detach().double()
    if expected.numel() == 0:
        return 0.0
    scale = expected.abs().max().item() or 1.0
    return (actual - expected).abs().max().item() / scale


def assert_close(actual, expected, tol, what):
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{what}: non-finite values"
    err = rel_err(actual, expected)
    assert err <= tol, f"{what}: relative error {err:.2e} > {tol:.0e}"


def tiny(attention_type="lion_s", **overrides) -> LionBertConfig:
    """The conftest `tiny_config` (hidden 32, 2 layers, 4 heads, no dropout), usable outside a test function."""
    kwargs = dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        attention_type=attention_type,
    )
    kwargs.update(overrides)
    return LionBertConfig(**kwargs)


def perturbed(model):
    """Move every parameter off its initial value (decay and gate biases included), so the test sees trained-like
    weights rather than the initial ones; deterministic."""
    generator = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model


@functools.lru_cache(maxsize=None)
def float64_model(attention_type):
    """One perturbed float64 LionBertModel per variant, shared by the property-based examples (eval mode)."""
    torch.manual_seed(0)
    return perturbed(LionBertModel(tiny(attention_type))).double().eval()


@functools.lru_cache(maxsize=None)
def float32_model(attention_type):
    """`float64_model` rounded to float32: the same weights up to float32 rounding."""
    return copy.deepcopy(float64_model(attention_type)).float()


# ------------------------------------------------------------------------------------------------------------------
# 1. Property-based: random shapes, variants, forms, chunk sizes and padding through the whole model
# ------------------------------------------------------------------------------------------------------------------


def _masks(data, batch, length, allow_empty_rows):
    rows = [data.draw(st.lists(st.booleans(), min_size=length, max_size=length)) for _ in range(batch)]
    rows[0][data.draw(st.integers(0, length - 1))] = True  # at least one real token in the batch
    if not allow_empty_rows:
        for row in rows:
            row[data.draw(st.integers(0, length - 1))] = True
    return torch.tensor(rows, dtype=torch.long)


def _positions(attention_mask):
    """Positions that count real tokens only, so that pads anywhere leave learned absolute positions unchanged."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(variant=st.sampled_from(VARIANTS), length=st.integers(1, 20), **PADDED_BATCHES)
def test_forms_agree_and_padding_is_transparent(variant, mode, chunk_size, batch, length, seed, data):
    """float64: every form equals the parallel form (1e-10), and each real token's output equals that of its row's
    real tokens run alone, for any pad layout; rows with no real token stay finite and change nothing else."""
    model = float64_model(variant)
    attention_mask = _masks(data, batch, length, allow_empty_rows=True)
    ids = torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))
    # learned absolute positions (LION-LIT, softmax) need positions that skip the pads; LION-D/S have none
    positions = _positions(attention_mask) if model.embeddings.position_embeddings is not None else None
    with torch.no_grad():
        out = model(ids, attention_mask, position_ids=positions, attention_mode=mode, chunk_size=chunk_size)
        parallel = model(ids, attention_mask, position_ids=positions, attention_mode="parallel")
        assert torch.isfinite(out.last_hidden_state).all() and torch.isfinite(out.pooler_output).all()
        assert_close(out.last_hidden_state, parallel.last_hidden_state, 1e-10, f"{mode} vs parallel")
        for row in range(batch):
            real = attention_mask[row].bool()
            if not real.any():
                continue
            alone = model(ids[row, real][None], attention_mode=mode, chunk_size=chunk_size).last_hidden_state
            assert_close(out.last_hidden_state[row, real], alone[0], 1e-10, f"row {row} padded vs alone")


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(variant=st.sampled_from(LION_VARIANTS), length=st.integers(1, 24), **PADDED_BATCHES)
def test_float32_forms_match_float64(variant, mode, chunk_size, batch, length, seed, data):
    """float32: every form is within 1e-5 of the float64 parallel form of the same weights, for any padding."""
    model64 = float64_model(variant)
    model32 = float32_model(variant)
    attention_mask = _masks(data, batch, length, allow_empty_rows=False)
    ids = torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = model32(ids, attention_mask, attention_mode=mode, chunk_size=chunk_size).last_hidden_state
        expected = model64(ids, attention_mask, attention_mode="parallel").last_hidden_state
    assert out.dtype == torch.float32
    real = attention_mask.bool()
    assert_close(out[real], expected[real], 1e-5, f"float32 {mode} vs float64 parallel")


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    variant=st.sampled_from(LION_VARIANTS),
    length=st.integers(1, 40),
    logits=st.sampled_from([-50.0, -10.0, 0.0, 10.0, 50.0]) | st.floats(-50.0, 50.0),
    spread=st.sampled_from([0.0, 5.0, 50.0]),
    scaled=st.booleans(),
    **PADDED_BATCHES,
)
def test_operator_at_saturated_decays(variant, mode, chunk_size, batch, length, logits, spread, scaled, seed, data):
    """The operator in float32 with decay logits anywhere in [-50, 50] (lambda from 2e-22 to 1 - 2e-22), any
    padding (empty rows included), scaled or not: finite, and within 1e-5 of the float64 parallel form."""
    generator = torch.Generator().manual_seed(seed)
    feature_map = silu_norm if scaled else (lambda x: x)  # scaled=False with the identity feature map
    q, k = (feature_map(torch.randn(batch, 2, length, 8, generator=generator, dtype=torch.float64)) for _ in "qk")
    v = torch.randn(batch, 2, length, 8, generator=generator, dtype=torch.float64)
    if variant == "lion_lit":
        log_lambda = None
    elif variant == "lion_d":
        raw = logits + spread * torch.randn(2, generator=generator, dtype=torch.float64)
        log_lambda = F.logsigmoid(raw.clamp(-50.0, 50.0))
    else:
        raw = logits + spread * torch.randn(batch, 2, length, generator=generator, dtype=torch.float64)
        log_lambda = F.logsigmoid(raw.clamp(-50.0, 50.0))
    attention_mask = _masks(data, batch, length, allow_empty_rows=True)
    expected = lion_attention(q, k, v, log_lambda, attention_mask, mode="parallel", scaled=scaled)
    out = lion_attention(
        q.float(), k.float(), v.float(), None if log_lambda is None else log_lambda.float(), attention_mask,
        mode=mode, chunk_size=chunk_size, scaled=scaled,
    )
    assert_close(out, expected, 1e-5, f"float32 {mode} vs float64 parallel")
    pads = out.transpose(1, 2)[~attention_mask.bool()]  # (pads, heads, value_dim)
    assert torch.equal(pads, torch.zeros_like(pads)), "a pad's own output is zeros"


# ------------------------------------------------------------------------------------------------------------------
# 2. Numerics at the edges: saturated LION-S gates over 65536 tokens, bf16 autocast training, scaled=False identity
# ------------------------------------------------------------------------------------------------------------------

LONG = 65536
PARALLEL_LONG = 4096  # the parallel form of LION-S holds several L x L float64 tensors: ~0.5 GB here
GATE_PATTERNS = {
    # lambda = sigmoid(logit): 1 - 2e-22 at +50 (no forgetting over the whole sequence), 2e-22 at -50 (a full reset)
    "all_plus_50": lambda g, n: torch.full((1, 1, n), 50.0, dtype=torch.float64),
    "all_minus_50": lambda g, n: torch.full((1, 1, n), -50.0, dtype=torch.float64),
    "random_plus_minus_50": lambda g, n: 50.0 * (2.0 * torch.randint(0, 2, (1, 1, n), generator=g) - 1).double(),
    "blocks_of_1000": lambda g, n: 50.0 * (2.0 * ((torch.arange(n) // 1000) % 2) - 1).double()[None, None],
}


@functools.lru_cache(maxsize=None)
def long_case(pattern, length=LONG):
    """(q, k, v, gate logits) of LION-S, float64, B = H = 1, head dim 8."""
    generator = torch.Generator().manual_seed(sorted(GATE_PATTERNS).index(pattern))
    q, k, v = (torch.randn(1, 1, length, 8, generator=generator, dtype=torch.float64) for _ in "qkv")
    return q, k, v, GATE_PATTERNS[pattern](generator, length)


def _long_forward(pattern, mode, dtype, length=LONG):
    q, k, v, logits = (t.to(dtype) for t in long_case(pattern, length))
    with torch.no_grad():
        return lion_attention(silu_norm(q), silu_norm(k), v, F.logsigmoid(logits), mode=mode, chunk_size=64)


@functools.lru_cache(maxsize=None)
def long_reference(pattern, length=LONG):
    """The float64 chunk form (validated against the naive reference at short lengths; O(L) here)."""
    return _long_forward(pattern, "chunk", torch.float64, length)


@pytest.mark.parametrize("pattern", sorted(GATE_PATTERNS))
def test_saturated_gates_65536_tokens_chunk_float32(pattern):
    out = _long_forward(pattern, "chunk", torch.float32)
    assert out.dtype == torch.float32
    assert_close(out, long_reference(pattern), 1e-5, f"chunk float32 vs float64, L={LONG}, gates {pattern}")


@pytest.mark.parametrize("pattern", ["all_plus_50", "random_plus_minus_50"])
def test_saturated_gates_4096_tokens_parallel_float32(pattern):
    out = _long_forward(pattern, "parallel", torch.float32, PARALLEL_LONG)
    expected = long_reference(pattern, PARALLEL_LONG)
    assert_close(out, expected, 1e-5, f"parallel float32 vs float64, L={PARALLEL_LONG}, gates {pattern}")


@pytest.mark.parametrize("pattern", ["all_plus_50", "random_plus_minus_50"])
def test_saturated_gates_65536_tokens_recurrent_float32(pattern):
    # all_plus_50 is the worst case: nothing decays, each state sums 65536 float32 terms (measured 9.4e-6)
    out = _long_forward(pattern, "recurrent", torch.float32)
    assert_close(out, long_reference(pattern), 1e-4, f"recurrent float32 vs float64, L={LONG}, gates {pattern}")


def test_saturated_gates_65536_tokens_gradients_float32():
    """Gradients of the chunk form in float32 (q, k, v and log_lambda) within 1e-5 of float64.

    log_lambda, not the gate logits: d logsigmoid(x)/dx = sigmoid(-x) makes the logits' true gradient ~1e-22 at
    both +50 and -50, so their float32 gradient is rounding noise of the log_lambda scale, not a relative match.
    """
    grads = {}
    for dtype in (torch.float64, torch.float32):
        q, k, v, logits = (t.to(dtype) for t in long_case("random_plus_minus_50"))
        leaves = [t.clone().requires_grad_() for t in (q, k, v, F.logsigmoid(logits))]
        out = lion_attention(silu_norm(leaves[0]), silu_norm(leaves[1]), leaves[2], leaves[3], mode="chunk")
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        (out * weights.to(dtype)).sum().backward()
        grads[dtype] = [leaf.grad for leaf in leaves]
    for name, actual, expected in zip(("q", "k", "v", "log_lambda"), grads[torch.float32], grads[torch.float64]):
        assert_close(actual, expected, 1e-5, f"d{name}, chunk float32 vs float64, L={LONG}")


@pytest.mark.parametrize("variant", LION_VARIANTS)
def test_unscaled_identity_feature_map_65536_tokens(variant):
    """scaled=False with the identity feature map (signed scores, no denominator): finite over 65536 tokens, within
    1e-5 of float64, for no decay, a fixed decay and saturated selective decays."""
    q, k, v, logits = long_case("random_plus_minus_50")
    log_lambda = {
        "lion_lit": None,
        "lion_d": F.logsigmoid(torch.tensor([3.0], dtype=torch.float64)),
        "lion_s": F.logsigmoid(logits),
    }[variant]
    with torch.no_grad():
        expected = lion_attention(q, k, v, log_lambda, mode="chunk", scaled=False)
        out = lion_attention(
            q.float(), k.float(), v.float(), None if log_lambda is None else log_lambda.float(), mode="chunk",
            scaled=False,
        )
    assert_close(out, expected, 1e-5, f"unscaled identity {variant}, chunk float32, L={LONG}")


def test_model_65536_tokens_chunk_form():
    """A whole LION-S model (no position embeddings, so no length limit) on 65536 tokens in the chunk form:
    finite, and within 1e-5 of the same weights in float64."""
    torch.manual_seed(0)
    model = perturbed(LionBertModel(tiny("lion_s"))).eval()
    ids = torch.randint(0, VOCAB, (1, LONG), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(ids, attention_mode="chunk", chunk_size=64).last_hidden_state
        expected = model.double()(ids, attention_mode="chunk", chunk_size=64).last_hidden_state
    assert_close(out, expected, 1e-5, f"LION-S model, chunk float32 vs float64, L={LONG}")


def test_model_8192_tokens_recurrent_form():
    """The recurrent form of a whole LION-D model on 8192 tokens equals its chunk form (float32, 1e-5)."""
    torch.manual_seed(0)
    model = perturbed(LionBertModel(tiny("lion_d"))).eval()
    ids = torch.randint(0, VOCAB, (1, 8192), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model(ids, attention_mode="recurrent").last_hidden_state
        expected = model.double()(ids, attention_mode="chunk").last_hidden_state
    assert_close(out, expected, 1e-5, "LION-D model, recurrent float32 vs chunk float64, L=8192")


@pytest.mark.parametrize("mode", FORMS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_bf16_autocast_training_step(variant, mode):
    """One MLM training step under bf16 autocast (dropout on): finite loss within 1% of the float32 loss, every
    parameter gets a finite, non-zero gradient, and the updated weights are finite."""
    torch.manual_seed(0)
    config = tiny(
        variant, attention_mode=mode, chunk_size=8, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1 if mode == "parallel" else 0.0,  # the other forms have no attention dropout
    )
    model = LionBertForMaskedLM(config).train()
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (2, 24), generator=generator)
    attention_mask = torch.ones_like(ids)
    attention_mask[1, 17:] = 0
    labels = torch.where((torch.rand(2, 24, generator=generator) < 0.3) & attention_mask.bool(), ids, -100)
    torch.manual_seed(2)
    with torch.no_grad():
        loss32 = model(ids, attention_mask, labels=labels).loss
    torch.manual_seed(2)  # the same dropout masks
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(ids, attention_mask, labels=labels).loss
    assert torch.isfinite(loss) and abs(loss.item() - loss32.item()) <= 0.01 * loss32.item(), (loss, loss32)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"{name} got a zero gradient"
    torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("mode", FORMS)
@pytest.mark.parametrize("variant", LION_VARIANTS)
def test_unscaled_identity_model_is_finite_and_forms_agree(variant, mode):
    """A model with feature_map="identity", scaled=False: finite outputs and gradients in every form, within 1e-5
    of the float64 parallel form."""
    torch.manual_seed(0)
    model = perturbed(LionBertModel(tiny(variant, feature_map="identity", scaled=False)))
    ids = torch.randint(0, VOCAB, (2, 40), generator=torch.Generator().manual_seed(6))
    attention_mask = torch.ones_like(ids)
    attention_mask[0, :9] = 0
    out = model(ids, attention_mask, attention_mode=mode, chunk_size=7).last_hidden_state
    out.sum().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        expected = model.double()(ids, attention_mask, attention_mode="parallel").last_hidden_state
    real = attention_mask.bool()
    assert_close(out.detach()[real], expected[real], 1e-5, f"unscaled identity {variant} {mode} vs float64")


# ------------------------------------------------------------------------------------------------------------------
# 3. Model inputs: out-of-range ids, empty rows, batch size 0, lengths 0 and 1
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lit_model():
    """LION-LIT: learned absolute positions (max 64) and token types, so every id check applies."""
    torch.manual_seed(0)
    return LionBertForMaskedLM(tiny("lion_lit")).eval()


def _fail_if_embeddings_run(model):
    def fail(*args):
        raise AssertionError("the model computed before rejecting its input")

    return model.bert.embeddings.register_forward_pre_hook(fail)


IDS = torch.tensor([[2, 5, 7, 9], [3, 4, 0, 0]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_ids": torch.tensor([[2, 5, 99, 9]])}, "input_ids must hold values in [0, 99), got values from 2 to"),
        ({"input_ids": torch.tensor([[2, -1, 7, 9]])}, "input_ids must hold values in [0, 99), got values from -1 to"),
        ({"input_ids": torch.tensor([[2, 5, 10**6, 9]])}, "model.resize_token_embeddings(len(tokenizer))"),
        ({"input_ids": IDS.float()}, "input_ids must be a torch.long (or torch.int) tensor of indices, got dtype "
                                     "torch.float32"),
        ({"input_ids": IDS.bool()}, "input_ids must be a torch.long (or torch.int) tensor"),
        (
            {"input_ids": IDS, "token_type_ids": torch.tensor([[0, 0, 1, 2], [0, 0, 0, 0]])},
            "token_type_ids must hold values in [0, 2), got values from 0 to 2. The model has type_vocab_size=2",
        ),
        ({"input_ids": IDS, "token_type_ids": -torch.ones_like(IDS)}, "token_type_ids must hold values in [0, 2)"),
        ({"input_ids": IDS, "token_type_ids": IDS.double()}, "token_type_ids must be a torch.long"),
        ({"input_ids": IDS, "position_ids": torch.tensor([[-1, 0, 1, 2]])}, "position_ids must be >= 0"),
        ({"input_ids": IDS, "position_ids": torch.tensor([[0, 1, 2, 64]])}, "needs 65 positions"),
        ({"input_ids": IDS, "position_ids": torch.zeros(1, 4)}, "position_ids must be a torch.long"),
        ({"input_ids": torch.zeros(2, 0, dtype=torch.long)}, "input_ids has sequence_length 0 (batch_size 2)"),
        ({"inputs_embeds": torch.zeros(3, 0, 32)}, "inputs_embeds has sequence_length 0 (batch_size 3)"),
        ({"input_ids": torch.zeros(0, 0, dtype=torch.long)}, "needs at least one token per sequence"),
    ],
)
def test_bad_ids_raise_a_clear_error_before_compute(lit_model, kwargs, message):
    handle = _fail_if_embeddings_run(lit_model)
    try:
        with pytest.raises(ValueError) as error:
            lit_model(**kwargs)
    finally:
        handle.remove()
    assert message in str(error.value)


def test_ids_are_checked_against_the_actual_embedding():
    """After resize_token_embeddings the new ids are valid, and the check follows the new size."""
    torch.manual_seed(0)
    model = LionBertForMaskedLM(tiny("lion_s")).eval()
    with pytest.raises(ValueError, match=r"\[0, 99\)"):
        model(torch.tensor([[1, 120]]))
    model.resize_token_embeddings(121)
    assert model(torch.tensor([[1, 120]])).logits.shape == (1, 2, 121)
    with pytest.raises(ValueError, match=r"\[0, 121\)"):
        model(torch.tensor([[1, 121]]))


def test_int32_ids_are_accepted(lit_model):
    expected = lit_model(IDS).logits
    assert torch.equal(lit_model(IDS.int(), token_type_ids=torch.zeros_like(IDS).int()).logits, expected)


def test_position_ids_are_unused_without_position_embeddings():
    """LION-S has no position embeddings: position_ids (even beyond any limit) change nothing and are not checked."""
    torch.manual_seed(0)
    model = LionBertModel(tiny("lion_s", max_position_embeddings=8)).eval()
    expected = model(IDS).last_hidden_state
    assert torch.equal(model(IDS, position_ids=torch.tensor([[5, 9, 100, 7]])).last_hidden_state, expected)


@pytest.mark.parametrize("mode", FORMS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_row_without_real_tokens_is_finite_and_changes_nothing_else(variant, mode):
    torch.manual_seed(0)
    model = perturbed(LionBertForSequenceClassification(tiny(variant, num_labels=3))).eval()
    ids = torch.randint(1, VOCAB, (3, 10), generator=torch.Generator().manual_seed(7))
    attention_mask = torch.ones_like(ids)
    attention_mask[1] = 0  # no real token in row 1
    attention_mask[2, 6:] = 0
    with torch.no_grad():
        out = model(ids, attention_mask, attention_mode=mode, chunk_size=4, output_hidden_states=True)
        others = model(ids[[0, 2]], attention_mask[[0, 2]], attention_mode=mode, chunk_size=4)
    assert torch.isfinite(out.logits).all() and all(torch.isfinite(h).all() for h in out.hidden_states)
    assert_close(out.logits[[0, 2]], others.logits, 1e-6, "the other rows")
    # and in training, a loss over such a batch has finite gradients
    model.train()
    loss = model(ids, attention_mask, labels=torch.tensor([0, 1, 2]), attention_mode=mode, chunk_size=4).loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def _head_inputs(model_class, batch, length):
    ids = torch.randint(1, VOCAB, (batch, length), generator=torch.Generator().manual_seed(8))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    if model_class is LionBertForMultipleChoice:
        inputs = {key: value[:, None, :].expand(-1, 2, -1) for key, value in inputs.items()}
    return inputs


EXPECTED_SHAPES = {  # output name -> shape for (batch, length), hidden 32, vocab 99, 3 labels, 2 choices
    LionBertModel: {"last_hidden_state": lambda b, n: (b, n, 32), "pooler_output": lambda b, n: (b, 32)},
    LionBertForMaskedLM: {"logits": lambda b, n: (b, n, VOCAB)},
    LionBertForSequenceClassification: {"logits": lambda b, n: (b, 3)},
    LionBertForTokenClassification: {"logits": lambda b, n: (b, n, 3)},
    LionBertForQuestionAnswering: {"start_logits": lambda b, n: (b, n), "end_logits": lambda b, n: (b, n)},
    LionBertForMultipleChoice: {"logits": lambda b, n: (b, 2)},
}


@pytest.mark.parametrize("mode", FORMS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_empty_batch_gives_empty_outputs(variant, mode):
    """Batch size 0 is a defined result in every form and head: outputs of the right shapes with batch size 0
    (a data pipeline may produce an empty batch), and gradients flow (to nothing)."""
    for model_class in HEAD_CLASSES:
        torch.manual_seed(0)
        model = model_class(tiny(variant, num_labels=2 if model_class is LionBertForQuestionAnswering else 3)).eval()
        out = model(**_head_inputs(model_class, 0, 6), attention_mode=mode, chunk_size=4, output_hidden_states=True)
        for name, shape in EXPECTED_SHAPES[model_class].items():
            assert tuple(out[name].shape) == shape(0, 6), (model_class.__name__, name, tuple(out[name].shape))
        assert all(h.shape[:2] == (0, 6) for h in out.hidden_states)
    attentions = LionBertModel(tiny(variant)).eval()(**_head_inputs(LionBertModel, 0, 6), output_attentions=True)
    assert all(a.shape == (0, 4, 6, 6) for a in attentions.attentions)


@pytest.mark.parametrize("mode", FORMS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_empty_sequences_raise_in_every_form_and_head(variant, mode):
    for model_class in HEAD_CLASSES:
        model = model_class(tiny(variant, num_labels=2 if model_class is LionBertForQuestionAnswering else 3))
        with pytest.raises(ValueError, match="has sequence_length 0"):
            model(**_head_inputs(model_class, 2, 0), attention_mode=mode)


@pytest.mark.parametrize("variant", VARIANTS)
def test_single_token_sequences(variant):
    """Length 1 (e.g. a lone [CLS]) runs in every form and head, and the forms agree (float64, 1e-10)."""
    for model_class in HEAD_CLASSES:
        torch.manual_seed(0)
        config = tiny(variant, num_labels=2 if model_class is LionBertForQuestionAnswering else 3)
        model = perturbed(model_class(config)).double().eval()
        inputs = _head_inputs(model_class, 3, 1)
        with torch.no_grad():
            outputs = {mode: model(**inputs, attention_mode=mode, chunk_size=4) for mode in FORMS}
        for name, shape in EXPECTED_SHAPES[model_class].items():
            assert tuple(outputs["parallel"][name].shape) == shape(3, 1)
            for mode in ("chunk", "recurrent"):
                assert_close(outputs[mode][name], outputs["parallel"][name], 1e-10, f"{model_class.__name__} {mode}")


# ------------------------------------------------------------------------------------------------------------------
# 4. Tokenizer plus model on any text: outputs, or a clear error
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_models(bert_uncased_tokenizer):
    """A tiny model per variant with the tokenizer's full vocabulary (30522)."""
    models = {}
    for variant in ("lion_lit", "lion_s"):
        torch.manual_seed(0)
        models[variant] = LionBertModel(tiny(variant, vocab_size=bert_uncased_tokenizer.vocab_size)).eval()
    return models


ANY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())  # surrogates too


def _has_lone_surrogate(text):
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(texts=st.lists(st.text(alphabet=ANY_CHARACTER, max_size=40), min_size=1, max_size=3), pair=st.booleans())
def test_any_text_gives_outputs_or_names_the_lone_surrogate(bert_uncased_tokenizer, text_models, texts, pair):
    tokenizer, model = bert_uncased_tokenizer, text_models["lion_s"]
    pairs = list(reversed(texts)) if pair else None
    if any(_has_lone_surrogate(t) for t in texts):
        with pytest.raises(ValueError, match=r"holds the lone surrogate U\+D[89A-F][0-9A-F]{2} at character \d+"):
            tokenizer(texts, pairs, padding=True, return_tensors="pt")
        return
    inputs = tokenizer(texts, pairs, padding=True, return_tensors="pt")
    assert (inputs["input_ids"][:, 0] == tokenizer.cls_token_id).all()
    with torch.no_grad():
        out = model(**inputs)
    assert torch.isfinite(out.last_hidden_state).all() and torch.isfinite(out.pooler_output).all()


@pytest.mark.parametrize(
    "text", ["", " ", "\x00", "\ufeff\u200b", "\t\n\r", "e\u0301", "\u202eabc", "中文字", "😀" * 5, "\U0010ffff"]
)
def test_edge_texts_run(bert_uncased_tokenizer, text_models, text):
    inputs = bert_uncased_tokenizer(text, return_tensors="pt")
    assert inputs["input_ids"].shape[1] >= 2  # [CLS] ... [SEP], even for an empty text
    for model in text_models.values():
        with torch.no_grad():
            assert torch.isfinite(model(**inputs).last_hidden_state).all()


def test_lone_surrogate_error_names_the_argument_and_position(bert_uncased_tokenizer):
    tokenizer = bert_uncased_tokenizer
    with pytest.raises(ValueError, match=r"^text\[1\] holds the lone surrogate U\+D800 at character 2,"):
        tokenizer(["fine", "ab\ud800cd"])
    with pytest.raises(ValueError, match=r"^text_pair holds the lone surrogate U\+DFFF at character 0,"):
        tokenizer("fine", "\udfff")
    for call in (tokenizer.tokenize, tokenizer.encode, lambda t: tokenizer(text_target=t)):
        with pytest.raises(ValueError, match="errors='replace'"):
            call("x\udc80")


def test_very_long_text(bert_uncased_tokenizer, text_models):
    """~50k tokens: LION-S (no position embeddings) runs it whole in the chunk form; LION-LIT (512 learned positions)
    raises the clear length error, and runs it truncated."""
    tokenizer = bert_uncased_tokenizer
    text = "the lion reads the sequence in both directions . " * 5500
    inputs = tokenizer(text, return_tensors="pt")
    length = inputs["input_ids"].shape[1]
    assert length > 49000
    with torch.no_grad():
        out = text_models["lion_s"](**inputs, attention_mode="chunk")
    assert out.last_hidden_state.shape == (1, length, 32) and torch.isfinite(out.last_hidden_state).all()
    lit = LionBertModel(tiny("lion_lit", vocab_size=tokenizer.vocab_size, max_position_embeddings=512)).eval()
    with pytest.raises(ValueError, match=f"needs {length} positions but the model has max_position_embeddings=512"):
        lit(**inputs)
    truncated = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        assert torch.isfinite(lit(**truncated).last_hidden_state).all()


def test_tokenizer_larger_than_the_model_vocabulary(bert_uncased_tokenizer, text_models):
    """Added tokens the model has no embedding for: a ValueError that says to resize the embeddings."""
    tokenizer = bert_uncased_tokenizer.__class__.from_pretrained(bert_uncased_tokenizer.name_or_path)
    tokenizer.add_tokens(["lionesque"])
    inputs = tokenizer("a lionesque model", return_tensors="pt")
    with pytest.raises(ValueError, match=r"input_ids must hold values in \[0, 30522\), got values from 101 to 30522"):
        text_models["lion_s"](**inputs)
