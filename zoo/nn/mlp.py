"""Feed-forward layers: plain two-layer MLP and gated (GLU-family) MLP."""
from __future__ import annotations

from typing import Callable

from torch import Tensor, nn


class MLP(nn.Module):
    """fc1 -> activation -> dropout -> fc2 (ViT, BERT, GPT-2, Whisper; ReLU for T5 and Vaswani)."""

    def __init__(self, dim: int, hidden_dim: int, *, activation: Callable[[], nn.Module] = nn.GELU,
                 bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim, bias=bias)
        self.act = activation()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.act(self.fc1(x))  # [B, T, hidden]
        if self.training and self.drop.p > 0:
            hidden = self.drop(hidden)
        return self.fc2(hidden)  # [B, T, D]


class GatedMLP(nn.Module):
    """act(x W_gate) * (x W_up) -> W_down: SwiGLU with SiLU, GEGLU with GELU (T5 v1.1, LLaMA).

    Gate and up projections are one fused matrix ``fc1`` [2*hidden, dim] (gate rows first).
    """

    def __init__(self, dim: int, hidden_dim: int, *, activation: Callable[[], nn.Module] = nn.SiLU,
                 bias: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 2 * hidden_dim, bias=bias)
        self.act = activation()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.fc1(x).chunk(2, dim=-1)  # [B, T, hidden] each
        return self.fc2(self.drop(self.act(gate) * up))  # [B, T, D]
