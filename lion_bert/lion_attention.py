"""LION bidirectional linear attention: pure functions over tensors (no modules, no config).

One function, three forms that compute the same thing to float rounding (see docs/lion_attention.md):

* ``parallel``: the masked attention matrix ``(Q K^T) * M``, row-normalised; O(L^2) memory. The only form
  that can return attention weights (``lion_attention_weights``) or apply attention dropout.
* ``chunk``: the parallel form inside chunks of ``chunk_size`` tokens, a forward and a backward state carried
  between chunks; decay cumsums local to each chunk; never allocates an L x L tensor.
* ``recurrent``: the bidirectional RNN of the paper (Theorem 3.1), advanced a block of ``chunk_size`` tokens at a
  time: a forward and a backward state carried from block to block, so that besides the output only one block's
  scores and one state are alive (the chunk form keeps every chunk's state). A Python loop over blocks, not tokens.

Shapes: ``q``, ``k`` are ``(batch, heads, length, head_dim)`` and already went through the feature map;
``v`` is ``(batch, heads, length, value_dim)``. ``log_lambda`` (natural log of the decay, <= 0) is None
(LION-LIT), ``(heads,)`` (LION-D) or ``(batch, heads, length)`` (LION-S). ``attention_mask`` is
``(batch, length)`` with 1 for real tokens and 0 for padding.
"""

import math
from typing import Callable, Literal, Optional, get_args

import torch
import torch.nn.functional as F

AttentionMode = Literal["parallel", "chunk", "recurrent"]
ATTENTION_MODES: tuple[str, ...] = get_args(AttentionMode)


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    """elu(x) + 1 (Katharopoulos et al. 2020): positive features, the LION-LIT default."""
    return F.elu(x).add_(1.0)  # in place is safe: elu's backward reads its input, not its output


class _SiluNorm(torch.autograd.Function):
    """y = s / ||s|| with s = silu(x) + 0.5; backward dx = silu'(x) (dy - y (dy . y)) / ||s||. Written out so that
    forward and backward each allocate one (..., head_dim) tensor (autograd's chain keeps and makes several)."""

    @staticmethod
    def forward(ctx, x):
        features = F.silu(x).add_(0.5)  # silu >= -0.279, so s > 0.22 and the norm never vanishes
        norm = torch.linalg.vector_norm(features, dim=-1, keepdim=True)
        features.div_(norm)
        ctx.save_for_backward(x, features, norm)
        return features

    @staticmethod
    def backward(ctx, grad):
        x, features, norm = ctx.saved_tensors
        projection = (grad * features).sum(-1, keepdim=True)
        dfeatures = torch.addcmul(grad, features, projection, value=-1.0).div_(norm)
        return torch.ops.aten.silu_backward(dfeatures, x)


def silu_norm(x: torch.Tensor) -> torch.Tensor:
    """silu(x) + 0.5, L2-normalised over the last (head) dim: positive features of unit norm, the LION-D/S default."""
    return _SiluNorm.apply(x)


def identity(x: torch.Tensor) -> torch.Tensor:
    """No feature map; only sensible with ``scaled=False``, where no denominator can vanish."""
    return x


def hedgehog(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Hedgehog's learned feature map (Zhang et al. 2024): per head, z = x W + b, then softmax(z) and softmax(-z) over
    the features, side by side.

    Args:
        x: ``(batch, heads, length, head_dim)``.
        weight: ``(heads, head_dim, size)``; the identity (with zero ``bias``) starts from exp-like features of x itself.
        bias: ``(heads, size)``.

    Returns:
        ``(batch, heads, length, 2 * size)``: positive features, each half summing to 1, so every score q . k lies in
        (0, 2] and no denominator can vanish. Each half is exp(z), or exp(-z), up to a per-token factor of its own.
        LION's normalisation cancels only a factor common to both halves, so for queries the ratio of the two
        factors weighs the halves against each other; for keys both factors are part of what the map learns.
    """
    # one product makes [z, -z]: x with a ones column against [[W, -W], [b, -b]] (heads, head_dim + 1, 2 size), so
    # neither the bias, the negation nor the concatenation takes a pass of its own over the (..., 2 size) features,
    # forward or backward (with 256 logits these are 16 times as large as x)
    weight_and_bias = torch.cat([weight, bias[:, None, :]], dim=-2)
    signed = torch.cat([weight_and_bias, -weight_and_bias], dim=-1)
    x_and_one = torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)
    return torch.matmul(x_and_one, signed).unflatten(-1, (2, -1)).softmax(-1).flatten(-2)


FeatureMapName = Literal["elu_plus_one", "silu_norm", "identity", "hedgehog"]  # the keys of FEATURE_MAPS
FEATURE_MAPS: dict[str, Callable[..., torch.Tensor]] = {
    "elu_plus_one": elu_plus_one,
    "silu_norm": silu_norm,
    "identity": identity,
    "hedgehog": hedgehog,
}
# feature maps with trained parameters: FEATURE_MAPS[name](x, weight, bias), shapes as in `hedgehog`
LEARNED_FEATURE_MAPS = ("hedgehog",)


# ----------------------------------------------------------------------------------------------------------
# Argument checks and preparation
# ----------------------------------------------------------------------------------------------------------


def _check_arguments(q, k, v, log_lambda, attention_mask, mode="parallel", chunk_size=1):
    """Shapes and Python arguments only: nothing here reads a tensor's values (no host synchronisation)."""
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
    if log_lambda is not None and tuple(log_lambda.shape) not in ((heads,), (batch, heads, length)):
        raise ValueError(
            f"log_lambda must be None, shape (heads,) = ({heads},) or (batch, heads, length) = "
            f"({batch}, {heads}, {length}), got {tuple(log_lambda.shape)}"
        )
    if attention_mask is not None and tuple(attention_mask.shape) != (batch, length):
        raise ValueError(
            f"attention_mask must have shape (batch, length) = ({batch}, {length}), got {tuple(attention_mask.shape)}"
        )
    if mode not in ATTENTION_MODES:
        raise ValueError(f"mode must be one of {ATTENTION_MODES}, got {mode!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")


def _check_values(log_lambda):
    """The check that reads tensor values, run only with ``validate=True``: it waits for the device (a host
    synchronisation, which stalls a GPU and breaks graph capture), so the forward pass of a model never runs it."""
    if log_lambda is not None and bool((log_lambda > 0).any()):
        raise ValueError("log_lambda must be <= 0 everywhere (it is the log of a decay in (0, 1])")


def _prepare(q, k, v, log_lambda, attention_mask):
    """Cast to the compute dtype (float32 for half types, else the inputs' own) and apply the padding rule.

    Padded keys are zeroed after the feature map, padded queries too (their outputs come out as zeros), and
    the decay at a pad becomes 1 (log 0), so pads are transparent to every real token. A mask is applied as given,
    without looking for pads (that would read its values): pass None when there is no padding.
    """
    dtype = torch.promote_types(torch.promote_types(q.dtype, v.dtype if v is not None else q.dtype), torch.float32)
    q, k = q.to(dtype), k.to(dtype)
    v = v.to(dtype) if v is not None else None
    if log_lambda is not None:
        log_lambda = log_lambda.to(dtype)
    if attention_mask is not None:
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
# The three forms. Each takes prepared tensors (compute dtype, padding applied) and returns the output
# (batch, heads, L, dv): the numerator over (denominator + eps) when scaled, the numerator alone otherwise.
# ----------------------------------------------------------------------------------------------------------


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _with_ones_column(v, scaled):
    """(..., L, dv) -> (..., L, dv + 1) when scaled: one product then gives the numerator and the denominator."""
    return torch.cat([v, torch.ones_like(v[..., :1])], dim=-1) if scaled else v


def _denominator(mass: torch.Tensor, eps: float) -> torch.Tensor:
    """``mass + eps`` (batch, heads, L, 1) with an exact 0 replaced by 1. A query without attention mass, such as a
    padded query (its features are zeroed), has a zero numerator as well: it gets the zero vector for any eps, where
    0 / 0 would be NaN at ``eps=0``. Every other row is divided as before."""
    denominator = mass + eps
    return denominator.masked_fill_(denominator == 0, 1.0)


def _normalise(out, scaled, eps):
    """Output of a product with ``_with_ones_column(v)``: numerator / (denominator + eps), in place at inference."""
    if not scaled:
        return out
    numerator, denominator = out[..., :-1], _denominator(out[..., -1:], eps)
    return numerator / denominator if _needs_grad(out) else numerator.div_(denominator)


def _normalised_gradients(grad, out, denominator):
    """For out = numerator / denominator (denominator (..., L, 1), eps included): the gradient of the numerator,
    grad / denominator, and of the denominator, -(grad . out) / denominator, per row."""
    dnumerator = grad / denominator
    return dnumerator, -(dnumerator * out).sum(-1, keepdim=True)


class _LinearAttention(torch.autograd.Function):
    """Without decay the mask is all ones and ``(Q K^T) V = Q (K^T V)``: the same sums in another order, with a
    (d x dv) state instead of the L x L scores. Hand-written backward: autograd would keep several more
    (batch, heads, L, d) tensors for the normalisation.
    """

    @staticmethod
    def forward(ctx, q, k, v, scaled, eps):
        state = k.transpose(-1, -2) @ v  # (batch, heads, d, dv)
        out = q @ state
        key_sum = denominator = None
        if scaled:
            key_sum = k.sum(-2)[..., None]  # (batch, heads, d, 1)
            denominator = _denominator(q @ key_sum, eps)
            out.div_(denominator)
        ctx.save_for_backward(q, k, v, state, key_sum, denominator, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, state, key_sum, denominator, out = ctx.saved_tensors
        dnumerator, ddenominator = grad, None
        if denominator is not None:
            dnumerator, ddenominator = _normalised_gradients(grad, out, denominator)
        dstate = q.transpose(-1, -2) @ dnumerator
        dq = dnumerator @ state.transpose(-1, -2)
        dk = v @ dstate.transpose(-1, -2)
        if ddenominator is not None:
            dq.add_(ddenominator * key_sum.transpose(-1, -2))
            dk.add_((q.transpose(-1, -2) @ ddenominator).transpose(-1, -2))
        return dq, dk, k @ dstate, None, None


def _log_decay_gradient(dlog_mask: torch.Tensor, log_lambda: torch.Tensor) -> torch.Tensor:
    """Gradient of log_lambda from the gradient of log M, ``dlog_mask`` (batch, heads, L, L).

    Per-head decay: log M_ij = log_lambda_h |i - j|. Per-token decay: log M_ij = c_i - c_j below the diagonal and
    e_j - e_i above it (c, e: the inclusive and exclusive cumsums), so dc is the lower triangle's row sums minus its
    column sums, de the upper triangle's column sums minus its row sums, and with e = c - log_lambda,
    dlog_lambda = reverse_cumsum(dc + de) - de.
    """
    length = dlog_mask.shape[-1]
    if log_lambda.dim() == 1:
        position = torch.arange(length, device=dlog_mask.device, dtype=dlog_mask.dtype)
        distance = (position[:, None] - position[None, :]).abs()
        return (dlog_mask.sum(0) * distance).sum((-1, -2))
    lower = dlog_mask.tril()
    lower_rows, lower_columns = lower.sum(-1), lower.sum(-2)
    upper_rows, upper_columns = dlog_mask.sum(-1) - lower_rows, dlog_mask.sum(-2) - lower_columns
    dinclusive = (lower_rows - lower_columns).double()
    dexclusive = (upper_columns - upper_rows).double()
    total = dinclusive + dexclusive
    return (total.flip(-1).cumsum(-1).flip(-1) - dexclusive).to(log_lambda.dtype)


class _MaskedAttention(torch.autograd.Function):
    """``((Q K^T) * M) @ V``, normalised by the row sums when scaled, M the decay mask of log_lambda, with a
    hand-written backward pass.

    Autograd through the mask construction would keep and revisit about ten (batch, heads, L, L) tensors; here the
    forward keeps two (the masked scores A and the mask M) and the backward makes two more passes over them,
    using d(log M) = dA * A (since A = (Q K^T) * M).
    """

    @staticmethod
    def forward(ctx, q, k, v, log_lambda, scaled, eps):
        mask = lion_decay_mask(log_lambda.detach(), q.shape[-2])
        scores = (q @ k.transpose(-1, -2)).mul_(mask)
        out = scores @ v
        denominator = None
        if scaled:
            denominator = _denominator(scores.sum(-1, keepdim=True), eps)
            out.div_(denominator)
        ctx.save_for_backward(q, k, v, log_lambda, scores, mask, denominator, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, log_lambda, scores, mask, denominator, out = ctx.saved_tensors
        dnumerator, ddenominator = grad, None
        if denominator is not None:
            dnumerator, ddenominator = _normalised_gradients(grad, out, denominator)
        dv = scores.transpose(-1, -2) @ dnumerator if ctx.needs_input_grad[2] else None
        dscores = dnumerator @ v.transpose(-1, -2)
        if ddenominator is not None:
            dscores.add_(ddenominator)
        dlog_lambda = None
        if ctx.needs_input_grad[3]:
            dlog_lambda = _log_decay_gradient(dscores * scores, log_lambda)
        dscores.mul_(mask)
        dq = dscores @ k if ctx.needs_input_grad[0] else None
        dk = dscores.transpose(-1, -2) @ q if ctx.needs_input_grad[1] else None
        return dq, dk, dv, dlog_lambda, None, None


def _parallel_form(q, k, v, log_lambda, chunk_size, scaled, eps):
    if log_lambda is None:
        return _LinearAttention.apply(q, k, v, scaled, eps)
    return _MaskedAttention.apply(q, k, v, log_lambda, scaled, eps)


def _scan_chunk_states(updates: torch.Tensor, decay: torch.Tensor, reverse: bool) -> torch.Tensor:
    """In place, no autograd: the states entering each chunk, in the updates' shape, both directions at once.

    updates: (batch, heads, chunks, 2 d, dv), the first d rows for the forward direction, the last d for the
    backward one; decay: (batch|1, heads, chunks, 1, 1), the decay across each chunk. Forward: S_0 = 0,
    S_{n+1} = decay_n S_n + updates_n; backward: from the last chunk down. ``reverse`` swaps the two directions
    (the backward pass of the scan runs it the other way).
    """
    states = torch.empty_like(updates)
    chunks, half = updates.shape[2], updates.shape[-2] // 2
    rows = (slice(None, half), slice(half, None))
    up, down = rows[::-1] if reverse else rows  # the rows scanned from the first chunk, from the last chunk
    states[:, :, 0, up].zero_()
    states[:, :, -1, down].zero_()
    for n in range(1, chunks):  # assignments, not out= into strided views, which torch.compile cannot capture
        m = chunks - 1 - n
        states[:, :, n, up] = torch.addcmul(updates[:, :, n - 1, up], decay[:, :, n - 1], states[:, :, n - 1, up])
        states[:, :, m, down] = torch.addcmul(updates[:, :, m + 1, down], decay[:, :, m + 1], states[:, :, m + 1, down])
    return states


class _ChunkStates(torch.autograd.Function):
    """Differentiable ``_scan_chunk_states``. The gradient of the updates is the same scan run the other
    way over the states' gradient, and the decay's gradient pairs it with the states:
    dupdates = scan(grad, decay, reversed), ddecay_n = <dupdates_n, S_n>.
    """

    @staticmethod
    def forward(ctx, updates, decay):
        states = _scan_chunk_states(updates, decay, reverse=False)
        ctx.save_for_backward(decay, states)
        return states

    @staticmethod
    def backward(ctx, grad):
        decay, states = ctx.saved_tensors
        dupdates = _scan_chunk_states(grad.contiguous(), decay, reverse=True)
        ddecay = (dupdates * states).sum((-1, -2), keepdim=True).sum_to_size(decay.shape)
        return dupdates, ddecay


def _chunk_log_decays(log_lambda, chunks, chunk, tail):
    """The decays the chunk form needs, as logs: the intra-chunk mask (batch|1, heads, chunks|1, C, C); per
    position (batch|1, heads, chunks|1, C, 2), the decay from a key to its chunk's end (forward) and start
    (backward), and from a chunk's start (forward) and end (backward) to a query; and the whole chunk's decay
    (batch|1, heads, chunks|1, 1, 1).
    """
    if log_lambda.dim() == 1:
        # a fixed decay in closed form, the same in every chunk (tail padding sits after every real token)
        rate = log_lambda[None, :, None, None]
        position = torch.arange(chunk, device=log_lambda.device, dtype=log_lambda.dtype)
        mask = rate[..., None] * (position[:, None] - position[None, :]).abs()
        inclusive, exclusive, total = rate * (position + 1), rate * position, rate * chunk
        keys = torch.stack([total - inclusive, exclusive], dim=-1)
        queries = torch.stack([inclusive, total - exclusive], dim=-1)
        return mask, keys, queries, total[..., None]
    per_token = F.pad(log_lambda, (0, tail)).unflatten(2, (chunks, chunk))
    inclusive = torch.cumsum(per_token.double(), dim=-1)  # local to each chunk, in float64: cheap, O(L)
    exclusive = inclusive - per_token.double()
    total = inclusive[..., -1:]
    keys = torch.stack([total - inclusive, exclusive], dim=-1).to(log_lambda.dtype)
    queries = torch.stack([inclusive, total - exclusive], dim=-1).to(log_lambda.dtype)
    return _pairwise_log_decay(per_token), keys, queries, total[..., None].to(log_lambda.dtype)


def _both_directions(x, log_decay):
    """x (..., C, d) decayed for the forward and the backward direction, side by side: (..., C, 2 d)."""
    return (x[..., None, :] * torch.exp(log_decay)[..., None]).flatten(-2)


def _chunk_form(q, k, v, log_lambda, chunk_size, scaled, eps):
    if log_lambda is None:
        # without decay the state is the same sum for every chunk: the chunk form is Q (K^T V) as in the
        # parallel form, with no chunk loop at all
        return _LinearAttention.apply(q, k, v, scaled, eps)
    batch, heads, length, _ = q.shape
    chunk = min(chunk_size, length)
    chunks = math.ceil(length / chunk)
    tail = chunks * chunk - length
    v = _with_ones_column(v, scaled)
    if tail:  # right-padding to whole chunks is transparent: zero queries, keys and values after the last token
        q, k, v = (F.pad(t, (0, 0, 0, tail)) for t in (q, k, v))
    q, k, v = (t.unflatten(2, (chunks, chunk)) for t in (q, k, v))  # (batch, heads, chunks, C, dim)
    log_mask, key_decays, query_decays, log_total = _chunk_log_decays(log_lambda, chunks, chunk, tail)

    in_place = not _needs_grad(q, k, v, log_lambda)
    scores = q @ k.transpose(-1, -2)
    scores = scores.mul_(torch.exp(log_mask)) if in_place else scores * torch.exp(log_mask)
    out = scores @ v
    # each chunk's keys, decayed to its end (forward) and start (backward), sum into one state update per
    # direction; the states run from the first (last) chunk on; each query reads both states, decayed from its
    # chunk's start (end), with one product over the two directions side by side
    updates = _both_directions(k, key_decays).transpose(-1, -2) @ v
    chunk_decay = torch.exp(log_total).expand(-1, heads, chunks, 1, 1)
    states = _ChunkStates.apply(updates, chunk_decay)
    read = _both_directions(q, query_decays)
    batched = (out.flatten(0, 2), read.flatten(0, 2), states.flatten(0, 2))
    out = (out.flatten(0, 2).baddbmm_(*batched[1:]) if in_place else torch.baddbmm(*batched)).view_as(out)
    return _normalise(out.flatten(2, 3)[:, :, :length], scaled, eps)


def _block_read_and_update(q, k, v, key_decays, query_decays, log_total, direction, state):
    """One block's read of the state carried into it and the state it carries on, for one direction (0: forward,
    1: backward). q, k: (batch, heads, 1, c, d); v: (batch, heads, 1, c, dv); key_decays, query_decays, log_total:
    the block's ``_chunk_log_decays`` beside its mask; state: (batch, heads, 1, d, dv) or None before the first
    block. Returns the read (batch, heads, 1, c, dv) (None without a state) and the next state."""
    read = None if state is None else (q * torch.exp(query_decays[..., direction, None])) @ state
    update = (k * torch.exp(key_decays[..., direction, None])).transpose(-1, -2) @ v
    state = update if state is None else torch.exp(log_total) * state + update
    return read, state


def _recurrent_form(q, k, v, log_lambda, chunk_size, scaled, eps):
    # the chunk form's arithmetic, one block of chunk_size tokens at a time: a Python loop over L / C blocks (not
    # over tokens) carries one state per direction, so beyond the output only one block's C x C scores and mask and
    # one state are ever alive (the backward pass keeps each block's O(C) decays only); the blocks run forward, then
    # backward, each adding the read of its direction
    batch, heads, length, _ = q.shape
    if log_lambda is None:
        log_lambda = q.new_zeros(heads)
    block = min(chunk_size, length)
    v = _with_ones_column(v, scaled)
    pieces, decays, parts, state = [], [], [], None
    for start in range(0, length, block):
        q_block, k_block, v_block = (t[:, :, None, start:start + block] for t in (q, k, v))
        block_lambda = log_lambda if log_lambda.dim() == 1 else log_lambda[..., start:start + block]
        log_mask, *block_decays = _chunk_log_decays(block_lambda, 1, q_block.shape[-2], 0)
        read, state = _block_read_and_update(q_block, k_block, v_block, *block_decays, 0, state)
        out = ((q_block @ k_block.transpose(-1, -2)) * torch.exp(log_mask)) @ v_block
        parts.append(out if read is None else out + read)
        pieces.append((q_block, k_block, v_block))
        decays.append(block_decays)
    state = None
    for index in reversed(range(len(pieces))):
        read, state = _block_read_and_update(*pieces[index], *decays[index], 1, state)
        if read is not None:
            parts[index] = parts[index] + read
    return _normalise(torch.cat(parts, dim=-2).flatten(2, 3), scaled, eps)


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
    mode: AttentionMode = "parallel",
    chunk_size: int = 64,
    scaled: bool = True,
    eps: float = 1e-6,
    validate: bool = False,
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
            transparent to real tokens and their own outputs are zeros. None when there is no padding (cheaper: a
            given mask is applied without looking at its values).
        mode: ``"parallel"``, ``"chunk"`` or ``"recurrent"``; all compute the same function.
        chunk_size: tokens per chunk in the chunk form (any positive int; L need not be a multiple).
        scaled: divide by the attention mass (the paper's SCALE); False gives the RetNet-style sum.
        eps: added to the denominator. A denominator of exactly 0 (a query without attention mass: a padded one)
            divides by 1 instead, so such a query outputs zeros for any eps, 0 included.
        validate: also check that ``log_lambda <= 0``. This reads tensor values, a host synchronisation, so it is
            off by default; shapes and arguments are always checked.

    Returns:
        ``(batch, heads, length, value_dim)`` in ``v``'s dtype. Half-precision inputs are computed in float32.
    """
    _check_arguments(q, k, v, log_lambda, attention_mask, mode, chunk_size)
    if validate:
        _check_values(log_lambda)
    with torch.autocast(device_type=q.device.type, enabled=False):
        q_, k_, v_, log_lambda_ = _prepare(q, k, v, log_lambda, attention_mask)
        out = _FORMS[mode](q_, k_, v_, log_lambda_, chunk_size, scaled, eps)
    return out.to(v.dtype)


def lion_attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    log_lambda: Optional[torch.Tensor] = None,
    attention_mask: Optional[torch.Tensor] = None,
    *,
    scaled: bool = True,
    eps: float = 1e-6,
    validate: bool = False,
) -> torch.Tensor:
    """The L x L attention weights of the parallel form: ``(batch, heads, L, L)``.

    Rows are normalised (each sums to ``mass / (mass + eps)``; a row without mass, a padded query's, is zero) when
    ``scaled``; otherwise the raw masked scores ``(Q K^T) * M``. ``lion_attention_weights(...) @ v`` equals
    ``lion_attention(..., mode="parallel")``. Arguments as in :func:`lion_attention`; returned in q's dtype (float32
    for half-precision inputs).
    """
    _check_arguments(q, k, None, log_lambda, attention_mask)
    if validate:
        _check_values(log_lambda)
    with torch.autocast(device_type=q.device.type, enabled=False):
        q_, k_, _, log_lambda_ = _prepare(q, k, None, log_lambda, attention_mask)
        weights = _masked_scores(q_, k_, log_lambda_)
        if scaled:
            weights = weights / _denominator(weights.sum(-1, keepdim=True), eps)
    return weights
