"""Input checks and helpers shared by the text families."""
from __future__ import annotations

import torch
from torch import Tensor

from .. import nn as znn


def check_ids(input_ids: Tensor, name: str = "input_ids") -> None:
    if input_ids.dim() != 2:
        raise ValueError(f"{name} must be [batch, seq_len], got shape {list(input_ids.shape)}")


def padding_bias(attention_mask: Tensor | None, input_ids: Tensor, dtype: torch.dtype,
                 name: str = "attention_mask") -> Tensor | None:
    """[B, T] keep-mask -> additive bias [B, 1, 1, T]; the mask must match the ids' shape."""
    if attention_mask is None:
        return None
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"{name} must have the shape of the token ids {list(input_ids.shape)} "
                         f"(1 = token, 0 = padding), got {list(attention_mask.shape)}")
    return znn.padding_bias(attention_mask, dtype)


def positions_from_mask(attention_mask: Tensor | None, seq_len: int, offset: int, device) -> Tensor:
    """Position ids [B or 1, seq_len] for the last ``seq_len`` tokens.

    With a mask, positions count real tokens only, so a left-padded prompt gets the same
    positions as the unpadded one; without, they are ``offset .. offset + seq_len``.
    """
    if attention_mask is None:
        return torch.arange(offset, offset + seq_len, device=device)[None]  # [1, T]
    positions = attention_mask.long().cumsum(dim=-1) - 1  # [B, past + T]
    return positions[:, -seq_len:].clamp(min=0)  # [B, T]
