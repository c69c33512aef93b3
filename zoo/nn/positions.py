"""Absolute positions: learned tables and fixed sinusoids. Both add to token embeddings."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def position_rows(table: Tensor, seq_len: int, offset: int = 0) -> Tensor:
    """Rows offset..offset+seq_len of a position table [max_len, D], with a clear error past its end."""
    if offset + seq_len > table.shape[0]:
        raise ValueError(f"sequence of {offset + seq_len} positions is longer than the {table.shape[0]} "
                         "this model allows")
    return table[offset : offset + seq_len]


def position_lookup(table: Tensor, position_ids: Tensor) -> Tensor:
    """Rows of a position table [max_len, D] for explicit position ids [B, T] -> [B, T, D].

    For positions that are not 0..T-1: counted from a padding mask (left-padded prompts),
    offset (RoBERTa starts at padding_idx + 1), or packed sequences restarting at 0.
    """
    if position_ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"position ids must be an integer tensor, got {position_ids.dtype}")
    if not torch.compiler.is_compiling() and position_ids.numel():
        low, high = (int(v) for v in torch.aminmax(position_ids))
        if low < 0 or high >= table.shape[0]:
            raise ValueError(f"position ids must be in [0, {table.shape[0]}) for this model; got values in "
                             f"[{low}, {high}]")
    return F.embedding(position_ids, table)  # [B, T, D]


class LearnedPositions(nn.Module):
    """A trainable table [max_len, dim]; ``forward(T, offset)`` returns rows offset..offset+T, and
    ``lookup(position_ids)`` the rows of explicit ids [B, T] -> [B, T, D]."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    @property
    def max_len(self) -> int:
        return self.weight.shape[0]

    def forward(self, seq_len: int, offset: int = 0) -> Tensor:
        return position_rows(self.weight, seq_len, offset)  # [T, D]

    def lookup(self, position_ids: Tensor) -> Tensor:
        return position_lookup(self.weight, position_ids)  # [B, T, D]


def sinusoid_table(max_len: int, dim: int, *, base: float = 10000.0, interleaved: bool = True,
                   endpoint: bool = False) -> Tensor:
    """Fixed sinusoidal positions [max_len, dim].

    ``interleaved=True, endpoint=False`` is "Attention Is All You Need" (sin on even, cos on
    odd channels, frequencies base^(-2i/dim)); ``interleaved=False, endpoint=True`` is
    Whisper's (all sines then all cosines, frequencies spaced so the last is exactly 1/base).
    """
    if dim % 2:
        raise ValueError(f"sinusoidal positions need an even dim, got {dim}")
    half = dim // 2
    if endpoint and half < 2:
        raise ValueError(f"endpoint=True spaces at least two frequencies, so dim must be >= 4; got {dim}")
    step = math.log(base) / ((half - 1) if endpoint else half)
    inv_freq = torch.exp(-step * torch.arange(half, dtype=torch.float32))  # [D/2]
    angles = torch.arange(max_len, dtype=torch.float32)[:, None] * inv_freq[None, :]  # [L, D/2]
    if interleaved:
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)  # [L, D]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)  # [L, D]


class SinusoidalPositions(nn.Module):
    """Fixed sinusoids (not trained, not saved); same calls as `LearnedPositions` (``forward``, ``lookup``)."""

    def __init__(self, max_len: int, dim: int, **table_options) -> None:
        super().__init__()
        self.register_buffer("table", sinusoid_table(max_len, dim, **table_options), persistent=False)

    @property
    def max_len(self) -> int:
        return self.table.shape[0]

    def forward(self, seq_len: int, offset: int = 0) -> Tensor:
        return position_rows(self.table, seq_len, offset)  # [T, D]

    def lookup(self, position_ids: Tensor) -> Tensor:
        return position_lookup(self.table, position_ids)  # [B, T, D]
