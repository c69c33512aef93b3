"""The residual transformer layer, composed from modules passed in."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .attention import Attention
from .cache import KVCache
from .drop import DropPath


@dataclass
class LayerCache:
    """Caches for one decoder layer: its self-attention and (for encoder-decoders) cross-attention."""

    self_attn: KVCache
    cross_attn: KVCache | None = None


class Block(nn.Module):
    """Self-attention, optional cross-attention, then an MLP, each in a residual branch.

    Pre-norm (default): ``x + f(norm(x))`` (GPT-2, ViT, T5, Whisper, LLaMA).
    Post-norm (``post_norm=True``): ``norm(x + f(x))`` (BERT, the original Transformer).
    """

    def __init__(
        self,
        attn: Attention,
        mlp: nn.Module,
        norm_attn: nn.Module,
        norm_mlp: nn.Module,
        *,
        cross_attn: Attention | None = None,
        norm_cross: nn.Module | None = None,
        post_norm: bool = False,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if (cross_attn is None) != (norm_cross is None):
            raise ValueError("cross_attn and norm_cross go together")
        self.norm_attn, self.attn = norm_attn, attn
        self.norm_cross, self.cross_attn = norm_cross, cross_attn
        self.norm_mlp, self.mlp = norm_mlp, mlp
        self.post_norm = post_norm
        self.drop = nn.Dropout(dropout)  # on each branch output, before the residual sum
        self.drop_path = DropPath(drop_path)

    def _drop(self, h: Tensor) -> Tensor:
        """Branch dropout and stochastic depth; not even called when inactive (saves dispatch)."""
        if self.training and (self.drop.p > 0 or self.drop_path.p > 0):
            return self.drop_path(self.drop(h))
        return h

    def _residual(self, x: Tensor, norm: nn.Module, branch) -> Tensor:
        if self.post_norm:
            return norm(x + self._drop(branch(x)))
        return x + self._drop(branch(norm(x)))

    def forward(
        self,
        x: Tensor,
        *,
        attn_bias: Tensor | None = None,
        is_causal: bool = False,
        rotary: tuple[Tensor, Tensor] | None = None,
        context: Tensor | None = None,
        context_bias: Tensor | None = None,
        cache: LayerCache | None = None,
    ) -> Tensor:
        # x: [B, T, D]; context: [B, T_c, D_c] (encoder output) for cross-attention
        self_cache = cache.self_attn if cache is not None else None
        x = self._residual(x, self.norm_attn, lambda h: self.attn(
            h, bias=attn_bias, is_causal=is_causal, rotary=rotary, cache=self_cache))
        if self.cross_attn is not None:
            cross_cache = cache.cross_attn if cache is not None else None
            x = self._residual(x, self.norm_cross, lambda h: self.cross_attn(
                h, context, bias=context_bias, cache=cross_cache))
        return self._residual(x, self.norm_mlp, self.mlp)  # [B, T, D]
