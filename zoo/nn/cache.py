"""Key/value cache for incremental decoding; owned by the caller, filled by `Attention`."""
from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    """Preallocated keys and values for one attention layer.

    ``keys``/``values`` are [B, H_kv, max_len, head_dim]; ``length`` counts the filled
    positions. Self-attention appends each step; cross-attention fills it once with the
    encoder's projections and then only reads.
    """

    def __init__(self, batch_size: int, num_kv_heads: int, max_len: int, head_dim: int,
                 *, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> None:
        shape = (batch_size, num_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.keys.shape[2]

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v [B, H_kv, T, hd] after the filled part; return all keys/values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache is full: {end} positions needed, {self.max_len} allocated")
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def filled(self) -> tuple[Tensor, Tensor]:
        """The keys/values stored so far, [B, H_kv, length, hd]."""
        return self.keys[:, :, : self.length], self.values[:, :, : self.length]

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (e.g. to drop finished sequences or for beam search)."""
        self.keys = self.keys.index_select(0, index)
        self.values = self.values.index_select(0, index)
