"""Absolute positions: learned tables and fixed sinusoids. Both add to token embeddings."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def position_rows(table: Tensor, seq_len: int, offset: int = 0) -> Tensor:
    """Rows offset..offset+seq_len of a position table [max_len, D], with a clear error past its end."""
    if offset + seq_len > table.shape[0]:
        raise ValueError(f"sequence of {offset + seq_len} positions is longer than the {table.shape[0]} "
                         "this model allows")
    return table[offset : offset + seq_len]


class LearnedPositions(nn.Module):
    """A trainable table [max_len, dim]; ``forward(T, offset)`` returns rows offset..offset+T."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    @property
    def max_len(self) -> int:
        return self.weight.shape[0]

    def forward(self, seq_len: int, offset: int = 0) -> Tensor:
        return position_rows(self.weight, seq_len, offset)  # [T, D]


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
    """Fixed sinusoids (not trained, not saved); same call shape as `LearnedPositions`."""

    def __init__(self, max_len: int, dim: int, **table_options) -> None:
        super().__init__()
        self.register_buffer("table", sinusoid_table(max_len, dim, **table_options), persistent=False)

    @property
    def max_len(self) -> int:
        return self.table.shape[0]

    def forward(self, seq_len: int, offset: int = 0) -> Tensor:
        return position_rows(self.table, seq_len, offset)  # [T, D]
