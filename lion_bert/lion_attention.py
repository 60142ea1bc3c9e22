"""LION bidirectional linear attention: pure functions over tensors (no modules, no config).

One function, three forms that compute the same thing to float rounding (see LION_SPEC.md):

* ``parallel``: the masked attention matrix ``(Q K^T) * M``, row-normalised; O(L^2) memory. The only form
  that can return attention weights (``lion_attention_weights``) or apply attention dropout.
* ``chunk``: the parallel form inside chunks of ``chunk_size`` tokens, a forward and a backward state carried
  between chunks; decay cumsums local to each chunk; never allocates an L x L tensor.
* ``recurrent``: the bidirectional RNN of the paper (Theorem 3.1), one token at a time in each direction,
  keeping only the per-token numerator and denominator: O(L * d) memory, in the backward pass too.

Shapes: ``q``, ``k`` are ``(batch, heads, length, head_dim)`` and already went through the feature map;
``v`` is ``(batch, heads, length, value_dim)``. ``log_lambda`` (natural log of the decay, <= 0) is None
(LION-LIT), ``(heads,)`` (LION-D) or ``(batch, heads, length)`` (LION-S). ``attention_mask`` is
``(batch, length)`` with 1 for real tokens and 0 for padding.
"""

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

ATTENTION_MODES = ("parallel", "chunk", "recurrent")


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    """elu(x) + 1 (Katharopoulos et al. 2020): positive features, the LION-LIT default."""
    return F.elu(x) + 1.0


def silu_norm(x: torch.Tensor) -> torch.Tensor:
    """silu(x) + 0.5, L2-normalised over the last (head) dim: positive features of unit norm, the LION-D/S default."""
    s = F.silu(x) + 0.5  # silu >= -0.279, so s > 0.22 and the norm never vanishes
    return s / s.norm(dim=-1, keepdim=True)


def identity(x: torch.Tensor) -> torch.Tensor:
    """No feature map; only sensible with ``scaled=False``, where no denominator can vanish."""
    return x


FEATURE_MAPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "elu_plus_one": elu_plus_one,
    "silu_norm": silu_norm,
    "identity": identity,
}


# ----------------------------------------------------------------------------------------------------------
# Argument checks and preparation
# ----------------------------------------------------------------------------------------------------------


def _check_arguments(q, k, v, log_lambda, attention_mask, mode="parallel", chunk_size=1):
    if q.dim() != 4:
        raise ValueError(f"q must have shape (batch, heads, length, head_dim), got shape {tuple(q.shape)}")
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q {tuple(q.shape)}, got {tuple(k.shape)}")
    if v is not None and (v.dim() != 4 or v.shape[:3] != q.shape[:3]):
        raise ValueError(
            f"v must have shape (batch, heads, length, value_dim) = {tuple(q.shape[:3])} + (value_dim,), "
            f"got {tuple(v.shape)}"
        )
    batch, heads, length, _ = q.shape
    if log_lambda is not None:
        if tuple(log_lambda.shape) not in ((heads,), (batch, heads, length)):
            raise ValueError(
                f"log_lambda must be None, shape (heads,) = ({heads},) or (batch, heads, length) = "
                f"({batch}, {heads}, {length}), got {tuple(log_lambda.shape)}"
            )
        if bool((log_lambda > 0).any()):
            raise ValueError("log_lambda must be <= 0 everywhere (it is the log of a decay in (0, 1])")
    if attention_mask is not None and tuple(attention_mask.shape) != (batch, length):
        raise ValueError(
            f"attention_mask must have shape (batch, length) = ({batch}, {length}), got {tuple(attention_mask.shape)}"
        )
    if mode not in ATTENTION_MODES:
        raise ValueError(f"mode must be one of {ATTENTION_MODES}, got {mode!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")


def _prepare(q, k, v, log_lambda, attention_mask):
    """Cast to the compute dtype (float32 for half types, else the inputs' own) and apply the padding rule.

    Padded keys are zeroed after the feature map, padded queries too (their outputs come out as zeros), and
    the decay at a pad becomes 1 (log 0), so pads are transparent to every real token.
    """
    dtype = torch.promote_types(torch.promote_types(q.dtype, v.dtype if v is not None else q.dtype), torch.float32)
    q, k = q.to(dtype), k.to(dtype)
    v = v.to(dtype) if v is not None else None
    if log_lambda is not None:
        log_lambda = log_lambda.to(dtype)
    if attention_mask is not None and not bool(attention_mask.all()):
        keep = attention_mask.to(dtype)
        q = q * keep[:, None, :, None]
        k = k * keep[:, None, :, None]
        if log_lambda is not None:
            # a pad in the middle of a sequence must not decay: a fixed per-head decay becomes per-token here
            per_token = log_lambda[None, :, None] if log_lambda.dim() == 1 else log_lambda
            log_lambda = per_token * keep[:, None, :]
    return q, k, v, log_lambda


# ----------------------------------------------------------------------------------------------------------
# The decay mask
# ----------------------------------------------------------------------------------------------------------


def _segment_log_decay(inclusive: torch.Tensor, exclusive: torch.Tensor) -> torch.Tensor:
    """log M from the cumsums of log_lambda along the last dim: (..., L) -> (..., L, L).

    i >= j: c_i - c_j with c the inclusive cumsum (forward part, the sum over (j, i]);
    i <  j: e_j - e_i with e the exclusive cumsum (backward part, the sum over [i, j)).
    """
    length = inclusive.shape[-1]
    lower = torch.ones(length, length, dtype=torch.bool, device=inclusive.device).tril()
    forward = inclusive[..., :, None] - inclusive[..., None, :]
    backward = exclusive[..., None, :] - exclusive[..., :, None]
    return torch.where(lower, forward, backward)


def _pairwise_log_decay(log_lambda: torch.Tensor) -> torch.Tensor:
    """log M for a per-token decay over a whole sequence: (..., L) -> (..., L, L).

    The cumsums run in float64 and are split into a head in the compute dtype plus the tail it rounds off,
    so each entry's error stays relative to the entry, not to the running sum over a long sequence.
    """
    inclusive = torch.cumsum(log_lambda.double(), dim=-1)
    exclusive = inclusive - log_lambda.double()
    if log_lambda.dtype == torch.float64:
        return _segment_log_decay(inclusive, exclusive)
    heads = inclusive.to(log_lambda.dtype), exclusive.to(log_lambda.dtype)
    tails = (inclusive - heads[0].double()).to(log_lambda.dtype), (exclusive - heads[1].double()).to(log_lambda.dtype)
    return _segment_log_decay(*heads) + _segment_log_decay(*tails)


def lion_decay_mask(log_lambda: torch.Tensor, length: int) -> torch.Tensor:
    """The LION mask M (query-inclusive convention).

    Args:
        log_lambda: ``(heads,)`` fixed decay (LION-D) or ``(batch, heads, length)`` selective decay (LION-S).
        length: sequence length L.

    Returns:
        ``(1, heads, L, L)`` for a fixed decay (``lambda_h ** |i - j|``), ``(batch, heads, L, L)`` otherwise.
    """
    if log_lambda.dim() == 1:
        position = torch.arange(length, device=log_lambda.device, dtype=log_lambda.dtype)
        distance = (position[:, None] - position[None, :]).abs()
        return torch.exp(log_lambda[:, None, None] * distance)[None]
    return torch.exp(_pairwise_log_decay(log_lambda))


def _masked_scores(q, k, log_lambda):
    """(Q K^T) * M: (batch, heads, L, L)."""
    scores = q @ k.transpose(-1, -2)
    if log_lambda is not None:
        scores = scores * lion_decay_mask(log_lambda, q.shape[-2])
    return scores


# ----------------------------------------------------------------------------------------------------------
# The three forms. Each takes prepared tensors (compute dtype, padding applied) and returns the numerator
# (batch, heads, L, dv) and, when scaled, the denominator (batch, heads, L) (else None).
# ----------------------------------------------------------------------------------------------------------


def _parallel_form(q, k, v, log_lambda, chunk_size, scaled):
    scores = _masked_scores(q, k, log_lambda)
    return scores @ v, scores.sum(-1) if scaled else None


def _scan_chunk_states(updates: torch.Tensor, decay: torch.Tensor, reverse: bool) -> torch.Tensor:
    """In place, no autograd: S_0 = 0, S_{n+1} = decay_n S_n + updates_n (reverse: from the last chunk).

    updates: (chunks, batch, heads, d, dv); decay: (chunks, batch|1, heads|1, 1, 1). Returns the state
    entering each chunk, in the updates' shape.
    """
    states = torch.empty_like(updates)
    order = range(updates.shape[0] - 1, -1, -1) if reverse else range(updates.shape[0])
    previous = None
    for n in order:
        if previous is None:
            states[n].zero_()
        else:
            torch.addcmul(updates[previous], decay[previous], states[previous], out=states[n])
        previous = n
    return states


class _ChunkStates(torch.autograd.Function):
    """Differentiable ``_scan_chunk_states``. The gradient of the updates is the same scan run the other
    way over the states' gradient, and the decay's gradient pairs it with the states:
    dupdates = scan(grad, decay, not reverse), ddecay_n = <dupdates_n, S_n>.
    """

    @staticmethod
    def forward(ctx, updates, decay, reverse):
        states = _scan_chunk_states(updates, decay, reverse)
        ctx.save_for_backward(decay, states)
        ctx.reverse = reverse
        return states

    @staticmethod
    def backward(ctx, grad):
        decay, states = ctx.saved_tensors
        dupdates = _scan_chunk_states(grad.contiguous(), decay, not ctx.reverse)
        ddecay = (dupdates * states).sum((-1, -2), keepdim=True).sum_to_size(decay.shape)
        return dupdates, ddecay, None


def _chunk_log_decays(log_lambda, heads, chunks, chunk, tail):
    """The decays the chunk form needs, as logs: the intra-chunk mask (..., C, C) and, per position (..., C),
    the decay from a key to its chunk's end (forward) and start (backward) and from a chunk's start (forward)
    or end (backward) to a query; finally the whole chunk's decay (..., 1). Leading dims broadcast against
    (batch, heads, chunks). None everywhere for LION-LIT, which has no decay.
    """
    if log_lambda is None:
        return None, None, None, None, None, None
    if log_lambda.dim() == 1:
        # a fixed decay in closed form, the same in every chunk (tail padding sits after every real token)
        rate = log_lambda[None, :, None, None]
        position = torch.arange(chunk, device=log_lambda.device, dtype=log_lambda.dtype)
        mask = rate[..., None] * (position[:, None] - position[None, :]).abs()
        inclusive, exclusive, total = rate * (position + 1), rate * position, rate * chunk
        return mask, total - inclusive, inclusive, exclusive, total - exclusive, total
    per_token = F.pad(log_lambda, (0, tail)).unflatten(2, (chunks, chunk))
    inclusive = torch.cumsum(per_token.double(), dim=-1)  # local to each chunk, in float64: cheap, O(L)
    exclusive = inclusive - per_token.double()
    total = inclusive[..., -1:]
    logs = (total - inclusive, inclusive, exclusive, total - exclusive, total)
    return (_pairwise_log_decay(per_token),) + tuple(t.to(log_lambda.dtype) for t in logs)


def _decayed(x, log_decay):
    return x if log_decay is None else x * torch.exp(log_decay)[..., None]


def _chunk_form(q, k, v, log_lambda, chunk_size, scaled):
    batch, heads, length, _ = q.shape
    chunk = min(chunk_size, length)
    chunks = math.ceil(length / chunk)
    tail = chunks * chunk - length
    if tail:  # right-padding to whole chunks is transparent: zero queries, keys and values after the last token
        q, k, v = (F.pad(t, (0, 0, 0, tail)) for t in (q, k, v))
    q, k, v = (t.unflatten(2, (chunks, chunk)) for t in (q, k, v))
    log_mask, *position_decays, total = _chunk_log_decays(log_lambda, heads, chunks, chunk, tail)

    scores = q @ k.transpose(-1, -2)
    if log_mask is not None:
        scores = scores * torch.exp(log_mask)
    numerator = scores @ v
    denominator = scores.sum(-1) if scaled else None

    if total is None:
        chunk_decay = q.new_ones(chunks, 1, 1, 1, 1)
    else:
        chunk_decay = torch.exp(total[..., 0]).movedim(2, 0)[..., None, None].expand(chunks, -1, -1, 1, 1)
    chunk_decay = chunk_decay.contiguous()
    # forward, then backward: each chunk's keys decayed to its end (start) sum into one state update; the
    # states run from the first (last) chunk on; each query reads the state decayed from its chunk's start (end)
    forward_decays, backward_decays = position_decays[:2], position_decays[2:]
    for (key_decay, query_decay), reverse in ((forward_decays, False), (backward_decays, True)):
        decayed_keys = _decayed(k, key_decay)
        updates = decayed_keys.transpose(-1, -2) @ v
        if scaled:
            updates = torch.cat([updates, decayed_keys.sum(-2)[..., None]], dim=-1)
        states = _ChunkStates.apply(updates.movedim(2, 0).contiguous(), chunk_decay, reverse).movedim(0, 2)
        read = _decayed(q, query_decay) @ states
        if scaled:
            numerator = numerator + read[..., :-1]
            denominator = denominator + read[..., -1]
        else:
            numerator = numerator + read

    def merge(t):
        return t.flatten(2, 3)[:, :, :length]

    return merge(numerator), merge(denominator) if scaled else None


def _causal_scan(q, k, v, log_lambda):
    """o_i = q_i^T S_i, S_i = lambda_i S_{i-1} + k_i v_i^T, one token at a time, never storing the S_i.

    q, k: (batch, heads, L, d); v: (batch, heads, L, dv); log_lambda: (batch, heads, L). Returns (batch,
    heads, L, dv). Memory: one (d x dv) state per batch and head plus the outputs.
    """
    batch, heads, length, dim = q.shape
    q, k, v = (t.reshape(batch * heads, length, t.shape[-1]) for t in (q, k, v))
    decay = torch.exp(log_lambda).reshape(batch * heads, length, 1, 1)
    state = q.new_zeros(batch * heads, dim, v.shape[-1])
    out = q.new_empty(batch * heads, length, v.shape[-1])
    for i in range(length):
        state.mul_(decay[:, i]).baddbmm_(k[:, i, :, None], v[:, i, None, :])
        out[:, i] = torch.bmm(q[:, i, None, :], state)[:, 0]
    return out.reshape(batch, heads, length, -1)


class _CausalScan(torch.autograd.Function):
    """Differentiable ``_causal_scan`` whose backward pass is three more scans, so training memory stays
    O(L * d) as well. With M_ij the forward-part mask and g the output gradient:

        dq_i = sum_{j<=i} M_ij (g_i . v_j) k_j     a causal scan with (query, key, value) = (g, v, k)
        dk_i = sum_{t>=i} M_ti (v_i . g_t) q_t     an anti-causal scan with (v, g, q), decay shifted by one
        dv_i = sum_{t>=i} M_ti (k_i . q_t) g_t     an anti-causal scan with (k, q, g), decay shifted by one
        dlog_lambda_i = sum_{t>=i} (q_t . dq_t - k_t . dk_t)
    """

    @staticmethod
    def forward(ctx, q, k, v, log_lambda):
        ctx.save_for_backward(q, k, v, log_lambda)
        return _causal_scan(q, k, v, log_lambda)

    @staticmethod
    def backward(ctx, grad):
        q, k, v, log_lambda = ctx.saved_tensors
        dtype = q.dtype
        need_log_lambda = ctx.needs_input_grad[3]
        if need_log_lambda:
            # dlog_lambda is a small difference of two long running sums of dq and dk terms: float32 scans
            # would lose it to rounding, so these scans run in float64 (they are bound by per-step overhead)
            q, k, v, log_lambda, grad = (t.double() for t in (q, k, v, log_lambda, grad))
        grad = grad.contiguous()
        # the anti-causal mask M_ti covers (i, t]: the decay of the token after each position
        next_log_lambda = F.pad(log_lambda[..., 1:], (0, 1))

        def anti_causal(a, b, c):
            return _causal_scan(a.flip(2), b.flip(2), c.flip(2), next_log_lambda.flip(2)).flip(2)

        dq = _causal_scan(grad, v, k, log_lambda) if ctx.needs_input_grad[0] or need_log_lambda else None
        dk = anti_causal(v, grad, q) if ctx.needs_input_grad[1] or need_log_lambda else None
        dv = anti_causal(k, q, grad) if ctx.needs_input_grad[2] else None
        dlog_lambda = None
        if need_log_lambda:
            per_token = (q * dq).sum(-1) - (k * dk).sum(-1)
            dlog_lambda = per_token.flip(-1).cumsum(-1).flip(-1).to(dtype)
        return tuple(None if g is None else g.to(dtype) for g in (dq, dk, dv)) + (dlog_lambda,)


def _recurrent_form(q, k, v, log_lambda, chunk_size, scaled):
    batch, heads, length, dv = v.shape
    if log_lambda is None:
        log_lambda = q.new_zeros(batch, heads, length)
    elif log_lambda.dim() == 1:
        log_lambda = log_lambda[None, :, None].expand(batch, heads, length)
    if scaled:  # a column of ones turns the value sums into the denominator too
        v = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    forward = _CausalScan.apply(q, k, v, log_lambda)
    backward = _CausalScan.apply(q.flip(2), k.flip(2), v.flip(2), log_lambda.flip(2)).flip(2)
    # both directions count the diagonal term (q_i . k_i) v_i: remove one
    out = forward + backward - (q * k).sum(-1, keepdim=True) * v
    return (out[..., :dv], out[..., dv]) if scaled else (out, None)


_FORMS = {"parallel": _parallel_form, "chunk": _chunk_form, "recurrent": _recurrent_form}


# ----------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------


def lion_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_lambda: Optional[torch.Tensor] = None,
    attention_mask: Optional[torch.Tensor] = None,
    *,
    mode: str = "parallel",
    chunk_size: int = 64,
    scaled: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """LION bidirectional linear attention.

    ``y_i = sum_j M_ij (q_i . k_j) v_j / (sum_j M_ij (q_i . k_j) + eps)`` (denominator dropped when
    ``scaled=False``), with ``M_ij`` the product of the decays strictly after the key up to and including the
    query (``i > j``), from the query up to the key excluded (``i < j``), and 1 on the diagonal.

    Args:
        q, k: ``(batch, heads, length, head_dim)``, already through the feature map.
        v: ``(batch, heads, length, value_dim)``.
        log_lambda: None (no decay, LION-LIT), ``(heads,)`` (LION-D) or ``(batch, heads, length)`` (LION-S);
            natural log of the decay, every value <= 0.
        attention_mask: ``(batch, length)``, 1/True for real tokens, 0/False for padding; pads are
            transparent to real tokens and their own outputs are zeros.
        mode: ``"parallel"``, ``"chunk"`` or ``"recurrent"``; all compute the same function.
        chunk_size: tokens per chunk in the chunk form (any positive int; L need not be a multiple).
        scaled: divide by the attention mass (the paper's SCALE); False gives the RetNet-style sum.
        eps: added to the denominator.

    Returns:
        ``(batch, heads, length, value_dim)`` in ``v``'s dtype. Half-precision inputs are computed in float32.
    """
    _check_arguments(q, k, v, log_lambda, attention_mask, mode, chunk_size)
    with torch.autocast(device_type=q.device.type, enabled=False):
        q_, k_, v_, log_lambda_ = _prepare(q, k, v, log_lambda, attention_mask)
        numerator, denominator = _FORMS[mode](q_, k_, v_, log_lambda_, chunk_size, scaled)
        out = numerator / (denominator[..., None] + eps) if scaled else numerator
    return out.to(v.dtype)


def lion_attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    log_lambda: Optional[torch.Tensor] = None,
    attention_mask: Optional[torch.Tensor] = None,
    *,
    scaled: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """The L x L attention weights of the parallel form: ``(batch, heads, L, L)``.

    Rows are normalised (each sums to ``mass / (mass + eps)``) when ``scaled``; otherwise the raw masked
    scores ``(Q K^T) * M``. ``lion_attention_weights(...) @ v`` equals ``lion_attention(..., mode="parallel")``.
    Arguments as in :func:`lion_attention`; returned in q's dtype (float32 for half-precision inputs).
    """
    _check_arguments(q, k, None, log_lambda, attention_mask)
    with torch.autocast(device_type=q.device.type, enabled=False):
        q_, k_, _, log_lambda_ = _prepare(q, k, None, log_lambda, attention_mask)
        weights = _masked_scores(q_, k_, log_lambda_)
        if scaled:
            weights = weights / (weights.sum(-1, keepdim=True) + eps)
    return weights
