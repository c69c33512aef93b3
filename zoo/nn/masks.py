"""Attention masks as additive biases: the one way masks and positions reach attention."""
from __future__ import annotations

import torch
from torch import Tensor

from .checks import require_tensor


def causal_mask(q_len: int, k_len: int, device: torch.device | None = None) -> Tensor:
    """Boolean [q_len, k_len], True where a query may attend.

    Aligned bottom-right: query i sits at absolute position ``k_len - q_len + i``, so the
    same mask serves a full forward (q_len == k_len) and cached decoding (q_len < k_len).
    """
    offset = k_len - q_len
    q_pos = torch.arange(q_len, device=device)[:, None] + offset
    k_pos = torch.arange(k_len, device=device)[None, :]
    return k_pos <= q_pos


def check_binary_mask(mask: Tensor, name: str = "attention_mask") -> Tensor:
    """A keep-mask holds 1 (real) and 0 (padding) only: bool, or int/float 0 and 1.

    Any other value is an error, not a guess: positions count the mask's cumulative sum, so a 2
    or 0.5 would silently shift them. Bool masks need no look at the values; int and float masks
    cost one comparison and one host sync (about 15 us for [8, 128] on a CPU), skipped while
    compiling or exporting (a traced graph takes the mask as given). Returns ``mask``.
    """
    mask = require_tensor(mask, name, "keep-mask (1 = real token, 0 = padding)")
    if mask.dtype == torch.bool or torch.compiler.is_compiling() or mask.numel() == 0:
        return mask
    if not torch.equal(mask, (mask != 0).to(mask.dtype)):  # a 0/1 mask is its own binarisation
        values = mask[(mask != 0) & (mask != 1)].unique()[:5].tolist()
        raise ValueError(f"{name} must hold only 1 (real token) and 0 (padding), as a bool, int or float "
                         f"tensor; got values {values}")
    return mask


def padding_bias(attention_mask: Tensor, dtype: torch.dtype, name: str = "attention_mask") -> Tensor:
    """[B, T_k] keep-mask (1 = real token, 0 = padding) -> additive bias [B, 1, 1, T_k].

    Uses the dtype's most negative finite value rather than -inf, so a fully masked row
    (a padding query) yields a finite uniform softmax instead of NaN. The mask's values are
    checked here (`check_binary_mask`), the one place every text mask passes.
    """
    if require_tensor(attention_mask, name, "keep-mask [batch, seq_len]").dim() != 2:
        raise ValueError(
            f"{name} must be [batch, seq_len] of 0/1 values; got shape {tuple(attention_mask.shape)}"
        )
    check_binary_mask(attention_mask, name)
    blocked = attention_mask[:, None, None, :] == 0
    bias = torch.zeros(blocked.shape, dtype=dtype, device=attention_mask.device)
    return bias.masked_fill(blocked, torch.finfo(dtype).min)


def apply_causal(bias: Tensor | None, q_len: int, k_len: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Fold a bottom-right causal mask into an additive bias (any shape broadcastable to [B, H, q, k])."""
    allowed = causal_mask(q_len, k_len, device)  # [q, k]
    if bias is None:
        bias = torch.zeros(q_len, k_len, dtype=dtype, device=device)
    return bias.masked_fill(~allowed, torch.finfo(bias.dtype).min)
