"""Layers the heads share."""
from __future__ import annotations

from torch import nn


def fresh_linear(in_dim: int, out_dim: int, like: nn.Module | None = None) -> nn.Linear:
    """A classifier ``Linear(in_dim, out_dim)``: weights N(0, 0.02) truncated, zero bias.

    ``like``, a Linear it replaces, gives its device and dtype (the model may have been moved).
    """
    fc = nn.Linear(in_dim, out_dim)
    nn.init.trunc_normal_(fc.weight, std=0.02)
    nn.init.zeros_(fc.bias)
    if isinstance(like, nn.Linear):
        fc = fc.to(device=like.weight.device, dtype=like.weight.dtype)
    return fc
