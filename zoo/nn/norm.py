"""Normalisation layers. LayerNorm is torch's; RMSNorm normalises in fp32 (as T5 and LLaMA do)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LayerNorm = nn.LayerNorm


class RMSNorm(nn.Module):
    """x / rms(x) * weight, no mean subtraction and no bias; statistics in fp32 for bf16 safety."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).type_as(x)
        return normed * self.weight

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"
