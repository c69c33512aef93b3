"""Attention masks as additive biases: the one way masks and positions reach attention."""
from __future__ import annotations

import torch
from torch import Tensor


def causal_mask(q_len: int, k_len: int, device: torch.device | None = None) -> Tensor:
    """Boolean [q_len, k_len], True where a query may attend.

    Aligned bottom-right: query i sits at absolute position ``k_len - q_len + i``, so the
    same mask serves a full forward (q_len == k_len) and cached decoding (q_len < k_len).
    """
    offset = k_len - q_len
    q_pos = torch.arange(q_len, device=device)[:, None] + offset
    k_pos = torch.arange(k_len, device=device)[None, :]
    return k_pos <= q_pos


def padding_bias(attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """[B, T_k] keep-mask (1 = real token, 0 = padding) -> additive bias [B, 1, 1, T_k].

    Uses the dtype's most negative finite value rather than -inf, so a fully masked row
    (a padding query) yields a finite uniform softmax instead of NaN.
    """
    if attention_mask.dim() != 2:
        raise ValueError(
            f"attention_mask must be [batch, seq_len] of 0/1 values; got shape {tuple(attention_mask.shape)}"
        )
    blocked = attention_mask[:, None, None, :] == 0
    bias = torch.zeros(blocked.shape, dtype=dtype, device=attention_mask.device)
    return bias.masked_fill(blocked, torch.finfo(dtype).min)


def apply_causal(bias: Tensor | None, q_len: int, k_len: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Fold a bottom-right causal mask into an additive bias (any shape broadcastable to [B, H, q, k])."""
    allowed = causal_mask(q_len, k_len, device)  # [q, k]
    if bias is None:
        bias = torch.zeros(q_len, k_len, dtype=dtype, device=device)
    return bias.masked_fill(~allowed, torch.finfo(bias.dtype).min)
