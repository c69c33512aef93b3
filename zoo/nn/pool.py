"""Sequence pooling: tokens [B, N, D] -> one vector [B, D] for classification heads."""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .masks import padding_bias


class TokenPool(nn.Module):
    """``"token"`` takes the first (class) token; ``"avg"`` averages the tokens after the prefix;
    ``"prefix"`` averages the prefix tokens (class and distillation tokens, as AST pools).

    ``norm``, when given, normalises the pooled vector (timm's ``fc_norm``, AST's head norm).
    """

    def __init__(self, mode: Literal["token", "avg", "prefix"] = "token", num_prefix_tokens: int = 1,
                 norm: nn.Module | None = None) -> None:
        super().__init__()
        if mode not in ("token", "avg", "prefix"):
            raise ValueError(f"pool mode must be one of 'prefix', 'token' or 'avg', got {mode!r}")
        if mode in ("token", "prefix") and num_prefix_tokens < 1:
            raise ValueError(f"pool mode {mode!r} needs at least one prefix token, got {num_prefix_tokens}")
        self.mode, self.num_prefix_tokens = mode, num_prefix_tokens
        self.norm = norm if norm is not None else nn.Identity()

    def _pool(self, x: Tensor, attention_mask: Tensor | None) -> Tensor:
        # x: [B, N, D]; attention_mask: [B, N - prefix] (1 = real) for padded sequences
        if self.mode == "token":
            return x[:, 0]  # [B, D]
        if self.mode == "prefix":
            return x[:, : self.num_prefix_tokens].mean(dim=1)  # [B, D]
        x = x[:, self.num_prefix_tokens :]
        if attention_mask is None:
            return x.mean(dim=1)  # [B, D]
        weights = attention_mask[..., None].to(x.dtype)  # [B, N, 1]
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # [B, D]

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.norm(self._pool(x, attention_mask))  # [B, D]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, num_prefix_tokens={self.num_prefix_tokens}"


class GridAxisPool(nn.Module):
    """Patch tokens of a [rows, cols] grid -> one vector per column: the mean over the rows.

    [B, prefix + rows * cols, D] (row-major patches after ``num_prefix_tokens``) -> [B, cols, D].
    A spectrogram patched as [frequency, time] becomes a sequence over time (frame-level heads).
    """

    def __init__(self, grid_size: tuple[int, int], num_prefix_tokens: int = 0) -> None:
        super().__init__()
        self.grid_size, self.num_prefix_tokens = tuple(grid_size), num_prefix_tokens

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        patches = x[:, self.num_prefix_tokens :]  # [B, rows * cols, D]
        if patches.shape[1] != self.grid_size[0] * self.grid_size[1]:
            raise ValueError(f"expected {self.grid_size[0]} x {self.grid_size[1]} patch tokens after "
                             f"{self.num_prefix_tokens} prefix tokens, got {patches.shape[1]}")
        return patches.unflatten(1, self.grid_size).mean(dim=1)  # [B, cols, D]

    def extra_repr(self) -> str:
        return f"grid_size={self.grid_size}, num_prefix_tokens={self.num_prefix_tokens}"


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


class AttentionPool(nn.Module):
    """Multi-head attention pooling ("MAP"): a learned probe attends over the tokens, then a
    pre-norm residual MLP; [B, N, D] -> [B, D].

    ``attn`` is a cross-attention module (queries from the probe, keys and values from the
    tokens); padding tokens are skipped through ``attention_mask`` [B, N].
    """

    def __init__(self, attn: nn.Module, norm: nn.Module, mlp: nn.Module, dim: int) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.zeros(1, 1, dim))
        self.attn, self.norm, self.mlp = attn, norm, mlp

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        bias = padding_bias(attention_mask, x.dtype) if attention_mask is not None else None
        pooled = self.attn(self.probe.expand(x.shape[0], -1, -1), x, bias=bias)  # [B, 1, D]
        pooled = pooled + self.mlp(self.norm(pooled))
        return pooled[:, 0]  # [B, D]
