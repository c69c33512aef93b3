"""Rotary position embedding (RoFormer), in the half-split layout used by LLaMA and GPT-NeoX."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (x[i], x[i + hd/2]) of x [..., T, hd] by the angles behind cos, sin [T, hd]."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Produces (cos, sin) [T, head_dim] for positions ``offset .. offset + T``.

    Computed once per stack and handed to every attention layer.
    """

    def __init__(self, head_dim: int, *, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head_dim, got {head_dim}")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # [hd/2]
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, seq_len: int, offset: int = 0) -> tuple[Tensor, Tensor]:
        positions = torch.arange(offset, offset + seq_len, device=self.inv_freq.device, dtype=torch.float32)
        return self.at(positions)  # [T, hd] each

    def at(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """(cos, sin) [..., T, hd] for explicit position ids [..., T] (per-row positions of padded batches)."""
        angles = positions.float()[..., None] * self.inv_freq  # [..., T, hd/2]
        angles = torch.cat((angles, angles), dim=-1)  # [..., T, hd]
        return angles.cos(), angles.sin()
