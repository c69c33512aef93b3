"""A stack of blocks with an optional final norm and activation checkpointing."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .block import Block, LayerCache


class Stack(nn.Module):
    """Runs ``blocks`` in order, handing each the same biases, positions and context."""

    def __init__(self, blocks: Sequence[Block], norm: nn.Module | None = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.norm = norm if norm is not None else nn.Identity()
        self.grad_checkpointing = False

    def forward(self, x: Tensor, *, caches: Sequence[LayerCache] | None = None, **block_kwargs) -> Tensor:
        # x: [B, T, D] -> [B, T, D]
        for i, block in enumerate(self.blocks):
            cache = caches[i] if caches is not None else None
            if self.grad_checkpointing and self.training and cache is None:
                x = checkpoint(block, x, use_reentrant=False, **block_kwargs)
            else:
                x = block(x, cache=cache, **block_kwargs)
        return self.norm(x)

    def make_caches(self, batch_size: int, max_len: int, context_len: int | None = None, **tensor_kwargs) -> list[LayerCache]:
        """Empty per-layer caches for incremental decoding of up to ``max_len`` positions."""
        return [
            LayerCache(
                block.attn.make_cache(batch_size, max_len, **tensor_kwargs),
                block.cross_attn.make_cache(batch_size, context_len, **tensor_kwargs)
                if block.cross_attn is not None and context_len is not None else None,
            )
            for block in self.blocks
        ]
