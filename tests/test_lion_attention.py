"""Operator-level tests of ``lion_bert.lion_attention`` (LION bidirectional linear attention).

Every form (parallel, chunk, recurrent) of every variant (LION-LIT, LION-D, LION-S) is compared against the
naive float64 reference in ``lion_bert.lion_attention_reference`` (outputs and gradients), then padding,
reversal, long sequences, autocast, memory and argument checking are tested.

Accuracy is always measured with :func:`rel_err`: ``max|actual - expected| / max|expected|`` (max-norm
relative error, computed in float64). Tolerances: 1e-10 in float64, 1e-5 in float32. They are not to be
loosened: a failure means the implementation lost precision, not that the test is too strict.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import subprocess
import sys
import textwrap
import zlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lion_bert.lion_attention import (
    ATTENTION_MODES,
    FEATURE_MAPS,
    LEARNED_FEATURE_MAPS,
    elu_plus_one,
    hedgehog,
    identity,
    lion_attention,
    lion_attention_weights,
    lion_decay_mask,
    silu_norm,
)
from lion_bert.lion_attention_reference import (
    naive_lion_attention,
    naive_lion_attention_weights,
    naive_lion_decay_mask,
    naive_log_decay_mask,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ----------------------------------------------------------------------------------------------------------
# Accuracy helpers
# ----------------------------------------------------------------------------------------------------------

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Max-norm relative error ``max|actual - expected| / max|expected|``, computed in float64.

    If ``expected`` is identically zero the denominator is taken as 1 (so the error is ``max|actual|``, an
    absolute error on a quantity that must vanish).
    """
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    if a.numel() == 0:
        return 0.0
    scale = e.abs().max().item()
    if scale == 0.0:
        scale = 1.0
    return (a - e).abs().max().item() / scale


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str) -> None:
    """Same shape, all finite, and ``rel_err(actual, expected) <= tol``."""
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    assert torch.isfinite(actual).all(), f"{what}: non-finite values"
    err = rel_err(actual, expected)
    assert err <= tol, f"{what}: relative error {err:.3e} > tolerance {tol:.0e}"


# ----------------------------------------------------------------------------------------------------------
# Inputs. Feature maps are re-implemented here from the spec so that test inputs do not depend on the module
# under test (the module's own feature maps are tested separately below).
# ----------------------------------------------------------------------------------------------------------

VARIANTS = ("lion_lit", "lion_d", "lion_s")
MODES = ("parallel", "chunk", "recurrent")  # spelled out here: a mode missing from the module must not vanish
HEAD_DIM = 5
VALUE_DIM = 3  # != HEAD_DIM on purpose: catches transposed or mixed-up dimensions
DECAY_LOGIT_SHIFT = 3.0  # lambda = sigmoid(N(3, 1)) ~ 0.95: decays reach across several chunks


def _spec_elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


def _spec_silu_norm(x: torch.Tensor) -> torch.Tensor:
    s = F.silu(x) + 0.5
    return s / torch.linalg.vector_norm(s, dim=-1, keepdim=True)


def _feature_map_for(variant: str, scaled: bool):
    """Positive feature map when scaled (denominator > 0): spec default per variant; raw inputs otherwise."""
    if not scaled:
        return lambda x: x
    return _spec_elu_plus_one if variant == "lion_lit" else _spec_silu_norm


def _seed(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def make_inputs(variant: str, batch: int, heads: int, length: int, *, scaled: bool = True,
                dtype: torch.dtype = torch.float64, seed: int = 0, head_dim: int = HEAD_DIM,
                value_dim: int = VALUE_DIM, logit_shift: float = DECAY_LOGIT_SHIFT):
    """Detached ``q, k, v, log_lambda`` in ``dtype``; q, k already through a feature map.

    log_lambda: None (LIT), ``(H,)`` (D) or ``(B, H, L)`` (S), logsigmoid of random logits.
    """
    gen = torch.Generator().manual_seed(seed)
    fmap = _feature_map_for(variant, scaled)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    q = fmap(randn(batch, heads, length, head_dim))
    k = fmap(randn(batch, heads, length, head_dim))
    v = randn(batch, heads, length, value_dim)
    if variant == "lion_lit":
        log_lambda = None
    elif variant == "lion_d":
        log_lambda = F.logsigmoid(randn(heads) + logit_shift)
    elif variant == "lion_s":
        log_lambda = F.logsigmoid(randn(batch, heads, length) + logit_shift)
    else:
        raise AssertionError(variant)
    cast = (lambda t: None if t is None else t.to(dtype).contiguous())
    return cast(q), cast(k), cast(v), cast(log_lambda)


def _leaves(*tensors):
    return tuple(None if t is None else t.detach().clone().requires_grad_(True) for t in tensors)


DEFAULT_EPS = 1e-6  # lion_attention's default eps (the spec's)
SINGLE_TOKEN_EPS = 0.25


def _eps_for(length: int, scaled: bool) -> float:
    """eps used by the reference comparison.

    With a single token and ``scaled=True`` the output is ``v * s / (s + eps)`` with ``s = q.k``: its gradient
    with respect to q and k is exactly the eps term, ``g.v * k * eps / (s + eps)^2``, which every
    implementation obtains as the difference of two O(1) terms equal to 1 - O(eps). The condition number is
    ~ s / eps = 1e6 at the default eps, so no float32 code can meet 1e-5 (nor float64 1e-10) on it. There a
    large eps makes the gradient well-posed (the tolerances stay as they are); the default eps is used for
    every other length, and the single-token output is also checked at the default eps.
    """
    return SINGLE_TOKEN_EPS if (scaled and length == 1) else DEFAULT_EPS


@functools.lru_cache(maxsize=None)
def _reference_case(variant: str, batch: int, heads: int, length: int, scaled: bool, dtype_name: str,
                    eps: float = DEFAULT_EPS):
    """Inputs (in the test dtype), upstream gradient, and the float64 reference output and gradients.

    Cached: every form and chunk size of one configuration is compared with the same reference run.
    """
    dtype = DTYPES[dtype_name]
    seed = _seed(variant, batch, heads, length, scaled, dtype_name)
    q, k, v, log_lambda = make_inputs(variant, batch, heads, length, scaled=scaled, dtype=dtype, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    grad_out = torch.randn(batch, heads, length, VALUE_DIM, generator=gen, dtype=torch.float64).to(dtype)

    # The reference sees exactly the same (dtype-rounded) numbers, in float64.
    rq, rk, rv, rll = _leaves(*(None if t is None else t.to(torch.float64) for t in (q, k, v, log_lambda)))
    ref_out = naive_lion_attention(rq, rk, rv, rll, scaled=scaled, eps=eps)
    ref_out.backward(grad_out.to(torch.float64))
    ref_grads = {"q": rq.grad, "k": rk.grad, "v": rv.grad}
    if rll is not None:
        ref_grads["log_lambda"] = rll.grad
    return (q, k, v, log_lambda), grad_out, ref_out.detach(), ref_grads


# ----------------------------------------------------------------------------------------------------------
# 1. Every form of every variant against the naive reference: outputs and gradients
# ----------------------------------------------------------------------------------------------------------

BATCH_HEADS = ((1, 1), (1, 4), (3, 1), (3, 4))  # full {1, 3} x {1, 4}
LENGTHS = (1, 7, 64, 129)
CHUNK_SIZES = (1, 5, 64, 200)


def _reference_params():
    params = []
    for mode in MODES:
        for variant in VARIANTS:
            for batch, heads in BATCH_HEADS:
                for length in LENGTHS:
                    for chunk in (CHUNK_SIZES if mode == "chunk" else (None,)):
                        for scaled in (True, False):
                            for dtype_name in DTYPES:
                                chunk_id = f"-C{chunk}" if chunk is not None else ""
                                scaled_id = "scaled" if scaled else "unscaled"
                                params.append(pytest.param(
                                    mode, variant, batch, heads, length, chunk, scaled, dtype_name,
                                    id=f"{mode}-{variant}-B{batch}-H{heads}-L{length}{chunk_id}-{scaled_id}-{dtype_name}",
                                ))
    return params


@pytest.mark.parametrize("mode,variant,batch,heads,length,chunk_size,scaled,dtype_name", _reference_params())
def test_matches_naive_reference(mode, variant, batch, heads, length, chunk_size, scaled, dtype_name):
    eps = _eps_for(length, scaled)
    (q, k, v, log_lambda), grad_out, ref_out, ref_grads = _reference_case(
        variant, batch, heads, length, scaled, dtype_name, eps)
    dtype = DTYPES[dtype_name]
    tol = TOLERANCE[dtype]
    q, k, v, log_lambda = _leaves(q, k, v, log_lambda)
    kwargs = {"mode": mode, "scaled": scaled}
    if chunk_size is not None:
        kwargs["chunk_size"] = chunk_size
    if eps != DEFAULT_EPS:
        # forward at the default eps first (see _eps_for), then outputs and gradients at the larger eps
        _, _, ref_out_default, _ = _reference_case(variant, batch, heads, length, scaled, dtype_name)
        with torch.no_grad():
            out_default = lion_attention(q, k, v, log_lambda, **kwargs)
        assert_rel_close(out_default, ref_out_default, tol, "output at the default eps")
        kwargs["eps"] = eps

    out = lion_attention(q, k, v, log_lambda, **kwargs)
    assert out.dtype == dtype
    assert_rel_close(out, ref_out, tol, "output")

    out.backward(grad_out)
    grads = {"q": q.grad, "k": k.grad, "v": v.grad}
    if log_lambda is not None:
        grads["log_lambda"] = log_lambda.grad
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert grad is not None, f"no gradient for {name}"
        assert grad.dtype == dtype, f"gradient of {name} has dtype {grad.dtype}"
        assert_rel_close(grad, ref_grads[name], tol, f"d/d{name}")


# ----------------------------------------------------------------------------------------------------------
# 2. Attention weights and the decay mask
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_attention_weights_match_reference(variant, scaled, dtype_name):
    dtype = DTYPES[dtype_name]
    q, k, v, log_lambda = make_inputs(variant, 3, 4, 33, scaled=scaled, dtype=dtype,
                                      seed=_seed("weights", variant, scaled, dtype_name))
    weights = lion_attention_weights(q, k, log_lambda, scaled=scaled)
    assert weights.dtype == dtype
    ref = naive_lion_attention_weights(*(None if t is None else t.double() for t in (q, k, log_lambda)),
                                       scaled=scaled)
    assert_rel_close(weights, ref, TOLERANCE[dtype], "weights")
    # weights @ v is the parallel form
    out = lion_attention(q, k, v, log_lambda, mode="parallel", scaled=scaled)
    assert_rel_close(weights @ v, out, TOLERANCE[dtype], "weights @ v vs parallel")
    if scaled:  # rows sum to s / (s + eps) with s >= L * min(q.k) > 0
        row_sums = weights.double().sum(-1)
        assert torch.all((row_sums - 1.0).abs() < 1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_attention_weights_ignore_padded_keys(variant):
    q, k, v, log_lambda = make_inputs(variant, 2, 2, 11, seed=_seed("weights-pad", variant))
    mask = torch.ones(2, 11, dtype=torch.long)
    mask[0, 8:] = 0
    mask[1, :3] = 0
    weights = lion_attention_weights(q, k, log_lambda, mask)
    assert torch.isfinite(weights).all()
    for b in range(2):
        real = mask[b].bool()
        assert torch.all(weights[b][:, real][:, :, ~real] == 0), "a padded key received weight"
    out = lion_attention(q, k, v, log_lambda, mask, mode="parallel")
    assert_rel_close(weights @ v * mask[:, None, :, None], out * mask[:, None, :, None], 1e-10,
                     "masked weights @ v vs parallel")


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("per_token", [False, True], ids=["lion_d", "lion_s"])
def test_lion_decay_mask_matches_reference(per_token, dtype_name):
    dtype = DTYPES[dtype_name]
    batch, heads, length = 3, 4, 37
    gen = torch.Generator().manual_seed(7)
    shape = (batch, heads, length) if per_token else (heads,)
    log_lambda = F.logsigmoid(torch.randn(*shape, generator=gen, dtype=torch.float64) + 2).to(dtype)
    mask = lion_decay_mask(log_lambda, length)
    expected_shape = (batch, heads, length, length) if per_token else (1, heads, length, length)
    assert tuple(mask.shape) == expected_shape
    ref = naive_lion_decay_mask(log_lambda.double(), expected_shape[0], heads, length)
    assert_rel_close(mask, ref, TOLERANCE[dtype], "decay mask")
    if not per_token:  # LION-D: lambda^|i-j|
        idx = torch.arange(length, dtype=torch.float64)
        power = (idx[:, None] - idx[None, :]).abs()
        lam = log_lambda.double().exp()
        assert_rel_close(mask[0], lam[:, None, None] ** power, TOLERANCE[dtype], "lambda^|i-j|")


# ----------------------------------------------------------------------------------------------------------
# 3. Padding: pads are transparent, wherever they sit
# ----------------------------------------------------------------------------------------------------------

PAD_LENGTH = 13
PAD_LAYOUTS = {
    "right": [[1] * 9 + [0] * 4, [1] * 13, [1] * 3 + [0] * 10],
    "left": [[0] * 4 + [1] * 9, [1] * 13, [0] * 10 + [1] * 3],
    "middle": [[1] * 4 + [0] * 5 + [1] * 4, [1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0], [0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0]],
}
PAD_CHUNK_SIZE = 4  # pads straddle chunk boundaries


@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
@pytest.mark.parametrize("layout", list(PAD_LAYOUTS))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_padding_is_transparent(mode, variant, layout, scaled):
    attention_mask = torch.tensor(PAD_LAYOUTS[layout], dtype=torch.long)
    batch, heads, length = attention_mask.shape[0], 2, PAD_LENGTH
    q, k, v, log_lambda = make_inputs(variant, batch, heads, length, scaled=scaled,
                                      seed=_seed("pad", mode, variant, layout, scaled))
    pads = ~attention_mask.bool()
    # Garbage at the pads: large values, and strong decays for LION-S. None of it may leak.
    v = torch.where(pads[:, None, :, None], 1e3 * v, v)
    if variant == "lion_s":
        log_lambda = torch.where(pads[:, None, :], torch.full_like(log_lambda, -20.0), log_lambda)
    originals = [None if t is None else t.clone() for t in (q, k, v, log_lambda)]
    q, k, v, log_lambda = _leaves(q, k, v, log_lambda)
    gen = torch.Generator().manual_seed(3)
    grad_out = torch.randn(batch, heads, length, VALUE_DIM, generator=gen, dtype=torch.float64)
    grad_out = grad_out * attention_mask[:, None, :, None]  # the loss only reads real tokens

    out = lion_attention(q, k, v, log_lambda, attention_mask, mode=mode, chunk_size=PAD_CHUNK_SIZE,
                         scaled=scaled)
    assert torch.isfinite(out).all(), "non-finite output (padded positions included)"
    out.backward(grad_out)
    for t, orig in zip((q, k, v, log_lambda), originals):
        if t is not None:
            assert torch.equal(t.detach(), orig), "lion_attention modified its inputs in place"

    ref_grad_ll = torch.zeros(heads, dtype=torch.float64) if variant == "lion_d" else None
    for b in range(batch):
        real = attention_mask[b].bool()
        rq, rk, rv = _leaves(q[b:b + 1, :, real], k[b:b + 1, :, real], v[b:b + 1, :, real])
        if variant == "lion_s":
            (rll,) = _leaves(log_lambda[b:b + 1, :, real])
        elif variant == "lion_d":
            (rll,) = _leaves(log_lambda)
        else:
            rll = None
        ref = naive_lion_attention(rq, rk, rv, rll, scaled=scaled)
        ref.backward(grad_out[b:b + 1, :, real])
        assert_rel_close(out[b:b + 1, :, real], ref, 1e-10, f"row {b} real-token outputs")
        assert_rel_close(q.grad[b:b + 1, :, real], rq.grad, 1e-10, f"row {b} d/dq")
        assert_rel_close(k.grad[b:b + 1, :, real], rk.grad, 1e-10, f"row {b} d/dk")
        assert_rel_close(v.grad[b:b + 1, :, real], rv.grad, 1e-10, f"row {b} d/dv")
        if variant == "lion_s":
            assert_rel_close(log_lambda.grad[b:b + 1, :, real], rll.grad, 1e-10, f"row {b} d/dlog_lambda")
        elif variant == "lion_d":
            ref_grad_ll += rll.grad
    if variant == "lion_d":
        assert_rel_close(log_lambda.grad, ref_grad_ll, 1e-10, "d/dlog_lambda (per head)")

    # Nothing at a pad influences a real token: gradients at the pads vanish (the loss reads real tokens only).
    named = [("q", q), ("k", k), ("v", v)] + ([("log_lambda", log_lambda)] if variant == "lion_s" else [])
    for name, t in named:
        assert torch.isfinite(t.grad).all(), f"non-finite d/d{name}"
        at_pads = t.grad.transpose(1, 2)[pads].abs().max().item()
        assert at_pads <= 1e-12 * t.grad.abs().max().item(), f"padded {name} receives gradient {at_pads:.3e}"


@pytest.mark.parametrize("mode", MODES)
def test_fully_padded_row_is_finite(mode):
    q, k, v, log_lambda = make_inputs("lion_s", 2, 2, 9, seed=_seed("all-pad", mode))
    attention_mask = torch.ones(2, 9, dtype=torch.long)
    attention_mask[1] = 0
    q, k, v, log_lambda = _leaves(q, k, v, log_lambda)
    out = lion_attention(q, k, v, log_lambda, attention_mask, mode=mode, chunk_size=4)
    assert torch.isfinite(out).all()
    ref = naive_lion_attention(q[:1], k[:1], v[:1], log_lambda[:1])
    assert_rel_close(out[:1], ref, 1e-10, "real row next to a fully padded row")
    out.sum().backward()
    for t in (q, k, v, log_lambda):
        assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_eps_zero_padded_queries_output_zeros(mode, variant, scaled):
    """With eps=0 a padded query has no attention mass (0 / 0): it outputs zeros, finite in value and gradient, and
    every real token still equals the reference at eps=0."""
    attention_mask = torch.tensor(PAD_LAYOUTS["middle"])
    pads = ~attention_mask.bool()
    batch, heads = attention_mask.shape[0], 2
    q, k, v, log_lambda = _leaves(*make_inputs(variant, batch, heads, PAD_LENGTH, scaled=scaled,
                                               seed=_seed("eps0", mode, variant, scaled)))
    out = lion_attention(q, k, v, log_lambda, attention_mask, mode=mode, chunk_size=PAD_CHUNK_SIZE, eps=0.0,
                         scaled=scaled)
    assert torch.equal(out.transpose(1, 2)[pads], torch.zeros_like(out.transpose(1, 2)[pads]))
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(5), dtype=out.dtype)
    out.backward(grad_out)  # every position's gradient, padded queries included
    for t in (q, k, v, log_lambda):
        assert t is None or torch.isfinite(t.grad).all()
    for b in range(batch):
        real = attention_mask[b].bool()
        rll = log_lambda[b:b + 1, :, real] if variant == "lion_s" else log_lambda
        ref = naive_lion_attention(q[b:b + 1, :, real], k[b:b + 1, :, real], v[b:b + 1, :, real], rll,
                                   scaled=scaled, eps=0.0)
        assert_rel_close(out[b:b + 1, :, real], ref, 1e-10, f"row {b} real tokens at eps=0")
    weights = lion_attention_weights(q, k, log_lambda, attention_mask, scaled=scaled, eps=0.0)
    assert torch.equal(weights.transpose(1, 2)[pads], torch.zeros_like(weights.transpose(1, 2)[pads]))
    assert_rel_close(weights @ v, out, 1e-10, "eps=0 weights @ v vs the output")


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_query_without_mass_outputs_zeros_at_eps_zero(variant):
    q, k, v, log_lambda = make_inputs(variant, 1, 2, 6, seed=_seed("ref-eps0", variant))
    q[:, :, 2] = 0.0  # no attention mass: 0 / 0 at eps=0
    q, k, v, log_lambda = _leaves(q, k, v, log_lambda)
    out = naive_lion_attention(q, k, v, log_lambda, eps=0.0)
    assert torch.equal(out[:, :, 2], torch.zeros_like(out[:, :, 2]))
    assert torch.equal(naive_lion_attention_weights(q, k, log_lambda, eps=0.0)[:, :, 2], torch.zeros(1, 2, 6,
                                                                                                  dtype=q.dtype))
    out.sum().backward()
    assert all(t is None or torch.isfinite(t.grad).all() for t in (q, k, v, log_lambda))
    others = [i for i in range(6) if i != 2]
    assert_rel_close(out[:, :, others], naive_lion_attention(q, k, v, log_lambda, eps=1e-300)[:, :, others], 1e-12,
                     "rows with mass are unchanged")


# ----------------------------------------------------------------------------------------------------------
# 4. Reversal symmetry
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_reversal_flips_output(mode, variant):
    q, k, v, log_lambda = make_inputs(variant, 2, 3, 23, seed=_seed("flip", mode, variant))
    out = lion_attention(q, k, v, log_lambda, mode=mode, chunk_size=5)
    flipped_ll = log_lambda.flip(-1) if variant == "lion_s" else log_lambda
    out_flipped = lion_attention(q.flip(2), k.flip(2), v.flip(2), flipped_ll, mode=mode, chunk_size=5)
    assert_rel_close(out_flipped, out.flip(2), 1e-10, "reversed output")


# ----------------------------------------------------------------------------------------------------------
# 5. Long sequences: float32 chunk / recurrent forms at L = 16384 (LION-S)
# ----------------------------------------------------------------------------------------------------------

LONG_LENGTH = 16384


@pytest.fixture(scope="module")
def long_sequence_case():
    # logits N(0, 2^2): strong and weak decays mixed; the total log decay reaches ~ -1e4, far beyond what a
    # single global float32 cumsum can difference accurately.
    q, k, v, log_lambda = make_inputs("lion_s", 1, 2, LONG_LENGTH, head_dim=16, value_dim=16, logit_shift=0.0,
                                      seed=_seed("long"))
    gen = torch.Generator().manual_seed(11)
    log_lambda = F.logsigmoid(2.0 * torch.randn(1, 2, LONG_LENGTH, generator=gen, dtype=torch.float64))
    with torch.no_grad():
        ref64 = lion_attention(q, k, v, log_lambda, mode="chunk", chunk_size=64)
    return (q, k, v, log_lambda), ref64


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_long_sequence_float32(mode, long_sequence_case):
    (q, k, v, log_lambda), ref64 = long_sequence_case
    assert torch.isfinite(ref64).all()
    with torch.no_grad():
        out = lion_attention(q.float(), k.float(), v.float(), log_lambda.float(), mode=mode, chunk_size=64)
    assert out.dtype == torch.float32
    assert_rel_close(out, ref64, 1e-4, f"{mode} float32 vs chunk float64 at L={LONG_LENGTH}")


# ----------------------------------------------------------------------------------------------------------
# 6. Autocast (bf16, fp16)
# ----------------------------------------------------------------------------------------------------------

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Sanity bounds only (they catch finite garbage such as zeros): ~ 8 and 20 units of roundoff of bf16 / fp16.
AUTOCAST_SANITY = {"bf16": 3e-2, "fp16": 1e-2}


@pytest.mark.parametrize("inputs", ["f32-inputs", "half-inputs"])
@pytest.mark.parametrize("amp", list(AUTOCAST_DTYPES))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_autocast_finite(mode, variant, amp, inputs):
    """Under torch.autocast (bf16 / fp16) every form gives finite outputs and gradients.

    ``half-inputs``: q, k, v, log_lambda arrive in the autocast dtype, as they do from autocast projections.
    """
    half = AUTOCAST_DTYPES[amp]
    input_dtype = half if inputs == "half-inputs" else torch.float32
    q, k, v, log_lambda = make_inputs(variant, 2, 2, 70, dtype=input_dtype, seed=_seed("amp", variant))
    q, k, v, log_lambda = _leaves(q, k, v, log_lambda)
    with torch.autocast("cpu", dtype=half):
        out = lion_attention(q, k, v, log_lambda, mode=mode, chunk_size=16)
    assert tuple(out.shape) == (2, 2, 70, VALUE_DIM)
    assert torch.isfinite(out).all(), f"non-finite output under {amp} autocast"
    ref = naive_lion_attention(*(None if t is None else t.detach().double() for t in (q, k, v, log_lambda)))
    err = rel_err(out, ref)
    assert err <= AUTOCAST_SANITY[amp], f"{amp} autocast output off by {err:.2e} (relative)"
    out.float().sum().backward()
    for t in (q, k, v, log_lambda):
        if t is not None:
            assert torch.isfinite(t.grad).all(), f"non-finite gradient under {amp} autocast"


# ----------------------------------------------------------------------------------------------------------
# 7. Memory: chunk and recurrent forms never build an L x L matrix
# ----------------------------------------------------------------------------------------------------------

MEMORY_LENGTH = 8192
LL_BYTES = MEMORY_LENGTH * MEMORY_LENGTH * 4  # one L x L float32 matrix: 256 MiB

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import importlib.util, resource, sys
    import torch

    # Load the operator module by path: importing the lion_bert package would also import transformers,
    # which costs seconds per process and measures nothing of interest here.
    try:
        spec = importlib.util.spec_from_file_location("lion_attention_under_test", sys.argv[3])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        lion_attention = module.lion_attention
    except ImportError:  # the module grew package-relative imports
        from lion_bert.lion_attention import lion_attention

    mode, length = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)

    def peak_rss_bytes():
        # VmHWM: this process's own peak RSS. On Linux ru_maxrss also keeps the peak of the process that
        # forked us (it survives fork + exec), so a big pytest process would mask the measurement.
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss if sys.platform == "darwin" else maxrss * 1024

    def inputs(n):
        g = torch.Generator().manual_seed(0)
        q = torch.nn.functional.elu(torch.randn(1, 1, n, 16, generator=g)) + 1
        k = torch.nn.functional.elu(torch.randn(1, 1, n, 16, generator=g)) + 1
        v = torch.randn(1, 1, n, 16, generator=g)
        log_lambda = torch.nn.functional.logsigmoid(torch.randn(1, 1, n, generator=g) + 3)
        return q, k, v, log_lambda

    with torch.inference_mode():
        # Warm-up on a tiny input (every process, baseline included): loads kernels and allocator pools.
        small = inputs(64)
        for m in ("parallel", "chunk", "recurrent"):
            lion_attention(*small, mode=m, chunk_size=16)
        big = inputs(length)
        if mode != "none":
            out = lion_attention(*big, mode=mode, chunk_size=64)
            assert bool(torch.isfinite(out).all())
    print(peak_rss_bytes())
    """
)


@pytest.fixture(scope="module")
def peak_rss_bytes():
    """Peak RSS (bytes) of one subprocess per form and of a baseline that builds the inputs only.

    torch's CPU allocations are invisible to tracemalloc, so the operating system's peak resident set size
    is compared between a process that runs one form at L = 8192 and one that only builds the inputs.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = "1"
    script_args = [str(MEMORY_LENGTH), os.path.join(REPO_ROOT, "lion_bert", "lion_attention.py")]

    def measure(name):
        proc = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, name, *script_args], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"memory subprocess {name!r} failed:\n{proc.stderr}"
        return int(proc.stdout.strip().splitlines()[-1])

    # Two at a time (2 cores), the slow parallel form first; each process measures only itself.
    names = ("parallel", "none", "chunk", "recurrent")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(names, pool.map(measure, names)))
    return results


def test_memory_parallel_positive_control(peak_rss_bytes):
    """The measurement can fail: the parallel form's extra peak is at least one L x L float32 matrix."""
    extra = peak_rss_bytes["parallel"] - peak_rss_bytes["none"]
    assert extra >= LL_BYTES, f"parallel form extra peak {extra / 2**20:.1f} MiB < {LL_BYTES / 2**20:.0f} MiB"


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_memory_far_below_one_attention_matrix(mode, peak_rss_bytes):
    extra = peak_rss_bytes[mode] - peak_rss_bytes["none"]
    limit = LL_BYTES // 8  # 32 MiB at L = 8192
    assert extra < limit, (
        f"{mode} form extra peak {extra / 2**20:.1f} MiB >= {limit / 2**20:.0f} MiB "
        f"(one L x L float32 matrix is {LL_BYTES / 2**20:.0f} MiB)")


# ----------------------------------------------------------------------------------------------------------
# 8. Argument checking: ValueError naming the argument
# ----------------------------------------------------------------------------------------------------------

_B, _H, _L, _D = 2, 3, 6, 4


def _good():
    return make_inputs("lion_s", _B, _H, _L, head_dim=_D, value_dim=_D, seed=99)


def _error_cases():
    randn = torch.randn
    cases = {
        # wrong rank
        "q-rank3": (dict(q=randn(_B, _L, _D)), r"\bq\b"),
        "q-rank5": (dict(q=randn(1, _B, _H, _L, _D)), r"\bq\b"),
        "k-rank3": (dict(k=randn(_B, _L, _D)), r"\bk\b"),
        "v-rank3": (dict(v=randn(_B, _L, _D)), r"\bv\b"),
        "v-rank5": (dict(v=randn(1, _B, _H, _L, _D)), r"\bv\b"),
        # mismatched shapes
        "k-head-dim": (dict(k=randn(_B, _H, _L, _D + 1)), r"\bk\b"),
        "k-length": (dict(k=randn(_B, _H, _L + 1, _D)), r"\bk\b"),
        "k-batch": (dict(k=randn(_B + 1, _H, _L, _D)), r"\bk\b"),
        "v-length": (dict(v=randn(_B, _H, _L - 1, _D)), r"\bv\b"),
        "v-heads": (dict(v=randn(_B, _H + 1, _L, _D)), r"\bv\b"),
        "v-batch": (dict(v=randn(_B + 1, _H, _L, _D)), r"\bv\b"),
        # mode and chunk_size
        "mode-unknown": (dict(mode="fast"), r"\bmode\b"),
        "mode-case": (dict(mode="Chunk"), r"\bmode\b"),
        "chunk_size-0": (dict(mode="chunk", chunk_size=0), "chunk_size"),
        "chunk_size-negative": (dict(mode="chunk", chunk_size=-3), "chunk_size"),
        "chunk_size-float": (dict(mode="chunk", chunk_size=2.5), "chunk_size"),
        "chunk_size-str": (dict(mode="chunk", chunk_size="8"), "chunk_size"),
        # log_lambda values (read only on request: validate=True) and shapes
        "log_lambda-positive-S": (dict(log_lambda=torch.full((_B, _H, _L), -0.1).index_put_(
            (torch.tensor(1), torch.tensor(2), torch.tensor(3)), torch.tensor(0.01)), validate=True), "log_lambda"),
        "log_lambda-positive-D": (dict(log_lambda=torch.tensor([-0.1, 0.2, -0.3]), validate=True), "log_lambda"),
        "log_lambda-heads": (dict(log_lambda=torch.full((_H + 1,), -0.1)), "log_lambda"),
        "log_lambda-length": (dict(log_lambda=torch.full((_B, _H, _L + 1), -0.1)), "log_lambda"),
        "log_lambda-batch": (dict(log_lambda=torch.full((_B + 1, _H, _L), -0.1)), "log_lambda"),
        "log_lambda-rank2": (dict(log_lambda=torch.full((_B, _H), -0.1)), "log_lambda"),
        "log_lambda-rank4": (dict(log_lambda=torch.full((_B, _H, _L, 1), -0.1)), "log_lambda"),
        # attention_mask shapes
        "attention_mask-length": (dict(attention_mask=torch.ones(_B, _L + 1)), "attention_mask"),
        "attention_mask-batch": (dict(attention_mask=torch.ones(_B + 1, _L)), "attention_mask"),
        "attention_mask-rank1": (dict(attention_mask=torch.ones(_L)), "attention_mask"),
        "attention_mask-rank3": (dict(attention_mask=torch.ones(_B, _H, _L)), "attention_mask"),
    }
    return [pytest.param(overrides, match, id=name) for name, (overrides, match) in cases.items()]


@pytest.mark.parametrize("overrides,match", _error_cases())
def test_bad_arguments_raise_value_error(overrides, match):
    q, k, v, log_lambda = _good()
    args = {"q": q, "k": k, "v": v, "log_lambda": log_lambda, "attention_mask": None}
    kwargs = {}
    for name, value in overrides.items():
        (args if name in args else kwargs)[name] = value
    with pytest.raises(ValueError, match=match):
        lion_attention(args["q"], args["k"], args["v"], args["log_lambda"], args["attention_mask"], **kwargs)


@pytest.mark.parametrize("overrides,match", [
    pytest.param(dict(q=torch.randn(_B, _L, _D)), r"\bq\b", id="q-rank3"),
    pytest.param(dict(k=torch.randn(_B, _H, _L, _D + 1)), r"\bk\b", id="k-head-dim"),
    pytest.param(dict(log_lambda=torch.full((_H,), 0.5), validate=True), "log_lambda", id="log_lambda-positive"),
    pytest.param(dict(log_lambda=torch.full((_B, _H, _L + 2), -0.5)), "log_lambda", id="log_lambda-length"),
    pytest.param(dict(attention_mask=torch.ones(_B, _L - 1)), "attention_mask", id="attention_mask-length"),
])
def test_attention_weights_bad_arguments(overrides, match):
    q, k, _, log_lambda = _good()
    args = {"q": q, "k": k, "log_lambda": log_lambda, "attention_mask": None, **overrides}
    validate = args.pop("validate", False)
    with pytest.raises(ValueError, match=match):
        lion_attention_weights(args["q"], args["k"], args["log_lambda"], args["attention_mask"], validate=validate)


@pytest.fixture
def no_value_reads(monkeypatch):
    """Fails the test when a tensor value is read into Python (``bool(t)``, ``t.item()``, ...): on a GPU each such
    read waits for the device, and under torch.compile it breaks the graph."""

    def refuse(*args, **kwargs):
        raise AssertionError("a tensor value was read into Python")

    for name in ("__bool__", "__int__", "__float__", "item", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, refuse)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_forward_and_backward_read_no_tensor_values(no_value_reads, mode, variant):
    """No host synchronisation in the operator, padding and decays included; checks on values need validate=True."""
    q, k, v, log_lambda = _leaves(*make_inputs(variant, 3, 2, PAD_LENGTH, seed=_seed("sync", mode, variant)))
    attention_mask = torch.tensor(PAD_LAYOUTS["middle"])
    out = lion_attention(q, k, v, log_lambda, attention_mask, mode=mode, chunk_size=PAD_CHUNK_SIZE)
    out.backward(torch.ones_like(out))
    weights = lion_attention_weights(q, k, log_lambda, attention_mask)
    assert out.shape == (3, 2, PAD_LENGTH, VALUE_DIM) and weights.shape == (3, 2, PAD_LENGTH, PAD_LENGTH)
    if log_lambda is not None:  # the fixture does catch a value check
        with pytest.raises(AssertionError, match="read into Python"):
            lion_attention(q, k, v, log_lambda, attention_mask, mode=mode, validate=True)


def test_positive_log_lambda_is_not_looked_for_without_validate():
    q, k, v, _ = _good()
    positive = torch.full((_H,), 0.5, dtype=q.dtype)
    out = lion_attention(q, k, v, positive)  # computed as given: the caller vouches for the values
    assert_rel_close(out, naive_lion_attention(q, k, v, positive), 1e-10, "log_lambda > 0 without validate")
    with pytest.raises(ValueError, match="log_lambda must be <= 0"):
        lion_attention(q, k, v, positive, validate=True)


def test_valid_edge_arguments_accepted():
    """log_lambda == 0 (lambda = 1) is allowed; boolean masks and chunk sizes larger than L work."""
    q, k, v, _ = _good()
    zero = torch.zeros(_H, dtype=q.dtype)
    out = lion_attention(q, k, v, zero, torch.ones(_B, _L, dtype=torch.bool), mode="chunk", chunk_size=1000)
    assert_rel_close(out, naive_lion_attention(q, k, v, None), 1e-10, "log_lambda = 0 is LION-LIT")


# ----------------------------------------------------------------------------------------------------------
# 9. Public constants and feature maps
# ----------------------------------------------------------------------------------------------------------


def test_attention_modes_constant():
    assert ATTENTION_MODES == ("parallel", "chunk", "recurrent")


def test_feature_maps():
    assert set(FEATURE_MAPS) == {"elu_plus_one", "silu_norm", "identity", "hedgehog"}
    assert LEARNED_FEATURE_MAPS == ("hedgehog",)
    assert FEATURE_MAPS["hedgehog"] is hedgehog
    assert FEATURE_MAPS["elu_plus_one"] is elu_plus_one
    assert FEATURE_MAPS["silu_norm"] is silu_norm
    assert FEATURE_MAPS["identity"] is identity
    x = 3.0 * torch.randn(2, 3, 17, 8, dtype=torch.float64)
    assert_rel_close(elu_plus_one(x), _spec_elu_plus_one(x), 1e-12, "elu_plus_one")
    assert torch.all(elu_plus_one(x) > 0)
    s = silu_norm(x)
    assert_rel_close(s, _spec_silu_norm(x), 1e-12, "silu_norm")
    assert torch.all(s > 0)
    assert_rel_close(torch.linalg.vector_norm(s, dim=-1), torch.ones(2, 3, 17, dtype=torch.float64), 1e-12,
                     "silu_norm has unit norm")
    assert torch.equal(identity(x), x)


@pytest.mark.parametrize("name", ["elu_plus_one", "silu_norm"])
def test_feature_map_gradients_match_autograd_of_the_spec(name):
    """The feature maps have hand-written or in-place backward paths: their gradients must equal autograd's
    through the spec's formula, and a float32 call must not touch its input."""
    spec = {"elu_plus_one": _spec_elu_plus_one, "silu_norm": _spec_silu_norm}[name]
    x = (3.0 * torch.randn(2, 3, 17, 8, dtype=torch.float64)).requires_grad_()
    grad = torch.randn(2, 3, 17, 8, dtype=torch.float64)
    (ours,) = torch.autograd.grad(FEATURE_MAPS[name](x), x, grad)
    (expected,) = torch.autograd.grad(spec(x), x, grad)
    assert_rel_close(ours, expected, 1e-12, f"{name} gradient")
    assert torch.autograd.gradcheck(FEATURE_MAPS[name], (x[:1, :1, :3].detach().requires_grad_(),))
    x32 = torch.randn(4, 8)
    before = x32.clone()
    with torch.inference_mode():
        FEATURE_MAPS[name](x32)
    assert torch.equal(x32, before)


def _spec_hedgehog(x, weight, bias):
    """Hedgehog's map from its definition, one head at a time: z = x W_h + b_h, [softmax(z), softmax(-z)]."""
    heads = []
    for h in range(x.shape[1]):
        z = x[:, h] @ weight[h] + bias[h]
        heads.append(torch.cat([torch.exp(z) / torch.exp(z).sum(-1, keepdim=True),
                                torch.exp(-z) / torch.exp(-z).sum(-1, keepdim=True)], dim=-1))
    return torch.stack(heads, dim=1)


@pytest.mark.parametrize("size", [3, 8, 11], ids=lambda s: f"F{s}")
def test_hedgehog_matches_its_definition_and_is_a_valid_feature_map(size):
    gen = torch.Generator().manual_seed(size)
    x = 3.0 * torch.randn(2, 3, 17, 8, generator=gen, dtype=torch.float64)
    weight = torch.randn(3, 8, size, generator=gen, dtype=torch.float64)
    bias = torch.randn(3, size, generator=gen, dtype=torch.float64)
    features = hedgehog(x, weight, bias)
    assert features.shape == (2, 3, 17, 2 * size)
    assert_rel_close(features, _spec_hedgehog(x, weight, bias), 1e-12, "hedgehog")
    assert torch.all(features > 0)
    halves = features.unflatten(-1, (2, size)).sum(-1)
    assert_rel_close(halves, torch.ones_like(halves), 1e-12, "each half of the features sums to 1")
    # scores q . k lie in (0, 2]: no denominator of LION can vanish, whatever the parameters
    scores = features @ features.transpose(-1, -2)
    assert torch.all(scores > 0) and torch.all(scores <= 2 + 1e-12)
    # no overflow for huge logits (softmax subtracts the maximum)
    huge = hedgehog(1e4 * x.float(), weight.float(), bias.float())
    assert torch.isfinite(huge).all()
    args = (x[:1, :, :4].clone().requires_grad_(), weight.clone().requires_grad_(), bias.clone().requires_grad_())
    assert torch.autograd.gradcheck(hedgehog, args)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_hedgehog_features_in_every_form_match_reference(variant, mode):
    """The learned map changes the feature size (2 * size, != head_dim and != value_dim): every form must take it,
    and agree with the reference, outputs and gradients."""
    gen = torch.Generator().manual_seed(_seed(variant, mode))
    batch, heads, length, head_dim = 2, 3, 37, HEAD_DIM
    x_q, x_k = (torch.randn(batch, heads, length, head_dim, generator=gen, dtype=torch.float64) for _ in "qk")
    weight = torch.randn(heads, head_dim, 7, generator=gen, dtype=torch.float64).requires_grad_()
    bias = torch.zeros(heads, 7, dtype=torch.float64, requires_grad=True)
    _, _, v, log_lambda = make_inputs(variant, batch, heads, length, seed=_seed(variant, mode, "v"))
    v.requires_grad_()
    out = lion_attention(hedgehog(x_q, weight, bias), hedgehog(x_k, weight, bias), v, log_lambda, mode=mode,
                         chunk_size=8)
    expected = naive_lion_attention(_spec_hedgehog(x_q, weight, bias), _spec_hedgehog(x_k, weight, bias), v,
                                    log_lambda)
    assert_rel_close(out, expected, TOLERANCE[torch.float64], f"{variant}-{mode} output")
    grad = torch.randn_like(out)
    ours = torch.autograd.grad(out, (weight, bias, v), grad)
    reference = torch.autograd.grad(expected, (weight, bias, v), grad)
    for name, a, b in zip(("weight", "bias", "v"), ours, reference):
        assert_rel_close(a, b, TOLERANCE[torch.float64], f"{variant}-{mode} d{name}")


# ----------------------------------------------------------------------------------------------------------
# 10. Property-based: random shapes, chunk sizes and padding, all forms against the reference
# ----------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    variant=st.sampled_from(VARIANTS),
    mode=st.sampled_from(MODES),
    batch=st.integers(1, 3),
    heads=st.integers(1, 3),
    length=st.integers(1, 24),
    chunk_size=st.integers(1, 9),
    scaled=st.booleans(),
    data=st.data(),
)
def test_random_configurations_match_reference(variant, mode, batch, heads, length, chunk_size, scaled, data):
    rows = [data.draw(st.lists(st.booleans(), min_size=length, max_size=length)) for _ in range(batch)]
    rows[0][data.draw(st.integers(0, length - 1))] = True  # at least one real token somewhere
    attention_mask = torch.tensor(rows, dtype=torch.bool)
    q, k, v, log_lambda = make_inputs(variant, batch, heads, length, scaled=scaled,
                                      seed=_seed("hyp", variant, batch, heads, length, scaled, rows))
    out = lion_attention(q, k, v, log_lambda, attention_mask, mode=mode, chunk_size=chunk_size, scaled=scaled)
    assert torch.isfinite(out).all()
    for b in range(batch):
        real = attention_mask[b]
        if not real.any():
            continue
        ll = log_lambda[b:b + 1, :, real] if variant == "lion_s" else log_lambda
        ref = naive_lion_attention(q[b:b + 1, :, real], k[b:b + 1, :, real], v[b:b + 1, :, real], ll,
                                   scaled=scaled)
        assert_rel_close(out[b:b + 1, :, real], ref, 1e-10, f"row {b}")


# ----------------------------------------------------------------------------------------------------------
# 11. The reference itself
# ----------------------------------------------------------------------------------------------------------


def test_reference_mask_by_explicit_products():
    """The indicator construction equals the spec's products, written as Python loops over lambda."""
    length = 7
    gen = torch.Generator().manual_seed(1)
    log_lambda = F.logsigmoid(torch.randn(1, 1, length, generator=gen, dtype=torch.float64))
    lam = log_lambda.exp()[0, 0].tolist()
    expected = torch.empty(length, length, dtype=torch.float64)
    for i in range(length):
        for j in range(length):
            prod = 1.0
            if i > j:
                for kk in range(j + 1, i + 1):
                    prod *= lam[kk]
            elif i < j:
                for kk in range(i, j):
                    prod *= lam[kk]
            expected[i, j] = prod
    mask = naive_lion_decay_mask(log_lambda, 1, 1, length)[0, 0]
    assert_rel_close(mask, expected, 1e-13, "reference mask vs explicit products")
    assert torch.all(mask.diagonal() == 1)


def test_reference_lion_d_mask_is_power():
    heads, length = 3, 20
    log_lambda = F.logsigmoid(torch.tensor([-1.0, 0.5, 3.0], dtype=torch.float64))
    mask = naive_lion_decay_mask(log_lambda, 2, heads, length)
    idx = torch.arange(length, dtype=torch.float64)
    power = (idx[:, None] - idx[None, :]).abs()
    expected = log_lambda.exp()[:, None, None] ** power
    assert_rel_close(mask, expected.expand(2, heads, length, length), 1e-13, "lambda^|i-j|")
    assert_rel_close(mask, mask.transpose(-1, -2), 1e-13, "LION-D mask is symmetric")
    assert torch.equal(naive_log_decay_mask(None, 2, heads, length), torch.zeros(2, heads, length, length,
                                                                                 dtype=torch.float64))


@pytest.mark.parametrize("zero_decay", ["none", "zeros_h", "zeros_bhl"])
def test_reference_without_decay_is_linear_attention(zero_decay):
    q, k, v, _ = make_inputs("lion_lit", 2, 3, 11, seed=5)
    log_lambda = {"none": None, "zeros_h": torch.zeros(3, dtype=torch.float64),
                  "zeros_bhl": torch.zeros(2, 3, 11, dtype=torch.float64)}[zero_decay]
    scores = q @ k.transpose(-1, -2)
    expected_unscaled = scores @ v
    expected_scaled = expected_unscaled / (scores.sum(-1, keepdim=True) + 1e-6)
    assert_rel_close(naive_lion_attention(q, k, v, log_lambda), expected_scaled, 1e-13, "scaled")
    assert_rel_close(naive_lion_attention(q, k, v, log_lambda, scaled=False), expected_unscaled, 1e-13,
                     "unscaled")


def test_reference_reversal_and_dtype():
    q, k, v, log_lambda = make_inputs("lion_s", 2, 2, 9, dtype=torch.float32, seed=8)
    out = naive_lion_attention(q, k, v, log_lambda)
    assert out.dtype == torch.float64
    flipped = naive_lion_attention(q.flip(2), k.flip(2), v.flip(2), log_lambda.flip(-1))
    assert_rel_close(flipped, out.flip(2), 1e-13, "reference reversal")


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_gradcheck(variant):
    q, k, v, log_lambda = make_inputs(variant, 1, 2, 5, head_dim=3, value_dim=2, seed=_seed("gc", variant))
    inputs = _leaves(q, k, v, log_lambda)
    if log_lambda is None:
        assert torch.autograd.gradcheck(lambda a, b, c: naive_lion_attention(a, b, c), inputs[:3])
    else:
        assert torch.autograd.gradcheck(naive_lion_attention, inputs)
