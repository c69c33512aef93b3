"""Sequence pooling: tokens [B, N, D] -> one vector [B, D] for classification heads."""
from __future__ import annotations

from typing import Literal

from torch import Tensor, nn


class TokenPool(nn.Module):
    """``"token"`` takes the first (class) token; ``"avg"`` averages the tokens after the prefix."""

    def __init__(self, mode: Literal["token", "avg"] = "token", num_prefix_tokens: int = 1) -> None:
        super().__init__()
        if mode not in ("token", "avg"):
            raise ValueError(f"pool mode must be 'token' or 'avg', got {mode!r}")
        self.mode, self.num_prefix_tokens = mode, num_prefix_tokens

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "token":
            return x[:, 0]  # [B, D]
        return x[:, self.num_prefix_tokens :].mean(dim=1)  # [B, D]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, num_prefix_tokens={self.num_prefix_tokens}"
