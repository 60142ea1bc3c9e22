"""Naive float64 reference for LION bidirectional linear attention.

This module is deliberately slow and obvious: it follows the formulas of ``docs/lion_attention.md`` term by term so
that the fast forms in :mod:`lion_bert.lion_attention` (parallel, chunk, recurrent) can be tested against
it. It is the "naive" partner of the kernels, in the style of flash-linear-attention, and it is not meant
to be used in a model.

Conventions (one head, one sequence; positions ``i, j = 0 .. L-1``)::

    M_ij = prod_{k in (j, i]} lambda_k     if i > j      (forward part)
    M_ij = prod_{k in [i, j)} lambda_k     if i < j      (backward part)
    M_ii = 1

    y_i = sum_j M_ij (q_i . k_j) v_j / (sum_j M_ij (q_i . k_j) + eps)      (scaled=True)
    y_i = sum_j M_ij (q_i . k_j) v_j                                        (scaled=False)

A denominator of exactly 0 (a query without attention mass, e.g. a zero query) is replaced by 1, so such a query
gets zero weights and the zero vector for any ``eps``, ``eps=0`` included.

``log M_ij`` is built directly from the definition as a sum of ``log_lambda`` over an explicit index set,
selected by an ``(L, L, L)`` 0/1 indicator tensor. No cumulative sums (and so no differences of cumulative
sums) are used anywhere, which keeps this implementation independent of the ones it checks. The cost is
``O(L^3)`` time and memory: keep ``L`` in the low hundreds.

Everything is computed in float64 and returned in float64. All functions are pure and differentiable with
torch autograd (with respect to ``q``, ``k``, ``v`` and ``log_lambda``). There is no ``attention_mask``:
padding is checked by comparing a padded batch with each sequence run alone.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "naive_log_decay_mask",
    "naive_lion_decay_mask",
    "naive_lion_attention_weights",
    "naive_lion_attention",
]


def _range_indicator(length: int, device: torch.device) -> Tensor:
    """0/1 tensor ``R`` of shape ``(L, L, L)`` (float64) with ``R[i, j, k] = 1`` iff the decay factor
    ``lambda_k`` belongs to the product that defines ``M_ij``.

    * ``i > j`` (forward part):  ``k in (j, i]``, i.e. ``j < k <= i``.
    * ``i < j`` (backward part): ``k in [i, j)``, i.e. ``i <= k < j``.
    * ``i == j``: empty set (``M_ii = 1``).
    """
    idx = torch.arange(length, device=device)
    i = idx.view(length, 1, 1)
    j = idx.view(1, length, 1)
    k = idx.view(1, 1, length)
    forward = (j < k) & (k <= i)  # only non-empty when i > j
    backward = (i <= k) & (k < j)  # only non-empty when i < j
    return (forward | backward).to(torch.float64)


def _per_token_log_lambda(log_lambda: Optional[Tensor], batch: int, heads: int, length: int,
                          device: torch.device) -> Tensor:
    """Broadcast ``log_lambda`` (None, ``(H,)`` or ``(B, H, L)``) to a float64 ``(B, H, L)`` tensor.

    ``None`` means lambda = 1 everywhere (LION-LIT), i.e. ``log_lambda = 0``. The broadcast keeps the
    autograd graph, so gradients flow back to an ``(H,)`` input.
    """
    if log_lambda is None:
        return torch.zeros(batch, heads, length, dtype=torch.float64, device=device)
    ll = log_lambda.to(torch.float64)
    if ll.dim() == 1:
        if ll.shape[0] != heads:
            raise ValueError(f"log_lambda of shape (H,) must have H={heads}, got {tuple(ll.shape)}")
        return ll.view(1, heads, 1).expand(batch, heads, length)
    if ll.dim() == 3:
        if tuple(ll.shape) != (batch, heads, length):
            raise ValueError(
                f"log_lambda of shape (B, H, L) must be {(batch, heads, length)}, got {tuple(ll.shape)}")
        return ll
    raise ValueError(f"log_lambda must be None, (H,) or (B, H, L); got shape {tuple(ll.shape)}")


def naive_log_decay_mask(log_lambda: Optional[Tensor], batch: int, heads: int, length: int,
                         device: Optional[torch.device] = None) -> Tensor:
    """``log M`` straight from the definition.

    Args:
        log_lambda: None (LION-LIT), ``(H,)`` (LION-D) or ``(B, H, L)`` (LION-S); values <= 0.
        batch, heads, length: ``B``, ``H``, ``L``.
    Returns:
        float64 tensor of shape ``(B, H, L, L)`` with
        ``out[b, h, i, j] = sum_k R[i, j, k] * log_lambda[b, h, k]`` where ``R`` is the range indicator
        of :func:`_range_indicator` (so the diagonal is exactly 0).
    """
    if device is None:
        device = log_lambda.device if log_lambda is not None else torch.device("cpu")
    ll = _per_token_log_lambda(log_lambda, batch, heads, length, device)  # (B, H, L)
    indicator = _range_indicator(length, device)  # (L, L, L)
    return torch.einsum("ijk,bhk->bhij", indicator, ll)


def naive_lion_decay_mask(log_lambda: Optional[Tensor], batch: int, heads: int, length: int,
                          device: Optional[torch.device] = None) -> Tensor:
    """The decay mask ``M = exp(log M)``: float64, shape ``(B, H, L, L)``, ``M_ii = 1``."""
    return torch.exp(naive_log_decay_mask(log_lambda, batch, heads, length, device))


def _check_qkv(q: Tensor, k: Tensor, v: Optional[Tensor]) -> None:
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError(f"q and k must be (B, H, L, d); got {tuple(q.shape)} and {tuple(k.shape)}")
    if q.shape != k.shape:
        raise ValueError(f"q and k must have the same shape; got {tuple(q.shape)} and {tuple(k.shape)}")
    if v is not None and (v.dim() != 4 or v.shape[:3] != q.shape[:3]):
        raise ValueError(f"v must be (B, H, L, dv) matching q's (B, H, L); got {tuple(v.shape)}")


def naive_lion_attention_weights(q: Tensor, k: Tensor, log_lambda: Optional[Tensor] = None, *,
                                 scaled: bool = True, eps: float = 1e-6) -> Tensor:
    """Attention weights of LION, naively.

    Args:
        q, k: ``(B, H, L, d)``, already through the feature map.
        log_lambda: None, ``(H,)`` or ``(B, H, L)``.
        scaled: if True divide each row by ``(row sum + eps)`` (by 1 where that is exactly 0: the row stays zero);
            if False return the raw masked scores ``M * (Q K^T)``.
    Returns:
        float64 ``(B, H, L, L)`` weights ``W`` with ``y = W @ v``.
    """
    _check_qkv(q, k, None)
    batch, heads, length, _ = q.shape
    q64 = q.to(torch.float64)
    k64 = k.to(torch.float64)
    mask = naive_lion_decay_mask(log_lambda, batch, heads, length, q.device)  # (B, H, L, L)
    # scores[b, h, i, j] = q_i . k_j, written out as an explicit sum over the head dimension.
    scores = torch.einsum("bhid,bhjd->bhij", q64, k64)
    weights = mask * scores
    if scaled:
        denominator = weights.sum(dim=-1, keepdim=True) + eps
        weights = weights / torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return weights


def naive_lion_attention(q: Tensor, k: Tensor, v: Tensor, log_lambda: Optional[Tensor] = None, *,
                         scaled: bool = True, eps: float = 1e-6) -> Tensor:
    """LION attention output, naively, in float64.

    Args:
        q, k: ``(B, H, L, d)``, already through the feature map.
        v: ``(B, H, L, dv)``.
        log_lambda: None (LIT), ``(H,)`` (D) or ``(B, H, L)`` (S); values <= 0.
        scaled: the paper's SCALE (divide by ``sum_j M_ij q_i.k_j + eps``); False drops the denominator.
        eps: added to the denominator when ``scaled``; a denominator of exactly 0 divides by 1 instead.
    Returns:
        float64 ``(B, H, L, dv)`` with
        ``y_i = sum_j M_ij (q_i . k_j) v_j / (sum_j M_ij (q_i . k_j) + eps)``.
    """
    _check_qkv(q, k, v)
    weights = naive_lion_attention_weights(q, k, log_lambda, scaled=scaled, eps=eps)
    return torch.einsum("bhij,bhje->bhie", weights, v.to(torch.float64))
