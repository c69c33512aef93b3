"""Sequence pooling: tokens [B, N, D] -> one vector [B, D] for classification heads."""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn


class TokenPool(nn.Module):
    """``"token"`` takes the first (class) token; ``"avg"`` averages the tokens after the prefix."""

    def __init__(self, mode: Literal["token", "avg"] = "token", num_prefix_tokens: int = 1) -> None:
        super().__init__()
        if mode not in ("token", "avg"):
            raise ValueError(f"pool mode must be 'token' or 'avg', got {mode!r}")
        self.mode, self.num_prefix_tokens = mode, num_prefix_tokens

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        # x: [B, N, D]; attention_mask: [B, N - prefix] (1 = real) for padded sequences
        if self.mode == "token":
            return x[:, 0]  # [B, D]
        x = x[:, self.num_prefix_tokens :]
        if attention_mask is None:
            return x.mean(dim=1)  # [B, D]
        weights = attention_mask[..., None].to(x.dtype)  # [B, N, 1]
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # [B, D]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, num_prefix_tokens={self.num_prefix_tokens}"


class LastTokenPool(nn.Module):
    """The last real token of each sequence (decoders: it has seen the whole input).

    With an ``attention_mask`` [B, N] the last position holding a 1 is taken, so right
    padding works; with left padding (or none) that is the final position.
    """

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if attention_mask is None:
            return x[:, -1]  # [B, D]
        positions = torch.arange(x.shape[1], device=x.device)
        last = (positions * (attention_mask != 0)).argmax(dim=1)  # [B]
        return x[torch.arange(x.shape[0], device=x.device), last]  # [B, D]
