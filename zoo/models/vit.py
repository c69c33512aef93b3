"""Vision Transformer (Dosovitskiy et al., 2021): patch stem + pre-norm blocks, timm-compatible."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable, Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import nn as znn
from ..weights.keymap import rename_keys
from .family import Family, KeyMap
from .spec import check


@dataclass(frozen=True)
class ViTSpec:
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    class_token: bool = True
    global_pool: Literal["token", "avg"] = "token"
    num_classes: int = 1000
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.num_classes >= 0, f"num_classes must be >= 0 (0 = no classifier), got {self.num_classes}")
        check(self.embed_dim % self.num_heads == 0,
              f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.img_size >= self.patch_size,  # pixels past the last whole patch are unused, as in timm
              f"img_size ({self.img_size}) must be at least patch_size ({self.patch_size})")
        check(self.mlp_ratio > 0, f"mlp_ratio must be positive, got {self.mlp_ratio}")
        check(self.class_token or self.global_pool == "avg", "global_pool='token' needs class_token=true")
        for name in ("dropout", "attn_dropout", "drop_path_rate"):
            check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")


class ViT(nn.Module):
    """Images [B, C, H, W] -> tokens [B, prefix + N, D] (class token first).

    The keywords are the variants other image towers use (CLIP: a LayerNorm before the blocks,
    no patch bias, QuickGELU, eps 1e-5; SigLIP: no class token, tanh GELU, an explicit MLP
    width); their defaults are timm's ViT.
    """

    modality = "image"
    architecture = "encoder"

    def __init__(self, spec: ViTSpec, *, norm_pre: bool = False, patch_bias: bool = True,
                 activation: Callable[[], nn.Module] = nn.GELU, eps: float = 1e-6, mlp_dim: int | None = None) -> None:
        super().__init__()
        self.spec = spec
        dim = spec.embed_dim
        self.num_features = dim
        self.num_prefix_tokens = int(spec.class_token)
        self.patch_embed = znn.PatchEmbed(spec.img_size, spec.patch_size, spec.in_chans, dim, bias=patch_bias)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if spec.class_token else None
        self.pos_embed = znn.LearnedPositions(self.num_prefix_tokens + self.patch_embed.num_patches, dim)
        self.pos_drop = nn.Dropout(spec.dropout)
        norm = partial(nn.LayerNorm, dim, eps=eps)
        self.norm_pre = norm() if norm_pre else nn.Identity()
        hidden = mlp_dim or int(dim * spec.mlp_ratio)
        drop_path = [spec.drop_path_rate * i / max(spec.depth - 1, 1) for i in range(spec.depth)]  # linear decay rule
        self.stack = znn.Stack(
            [
                znn.Block(
                    znn.Attention(dim, spec.num_heads, bias=spec.qkv_bias, out_bias=True, dropout=spec.attn_dropout),
                    znn.MLP(dim, hidden, activation=activation, dropout=spec.dropout),
                    norm(), norm(), dropout=spec.dropout, drop_path=drop_path[i],
                )
                for i in range(spec.depth)
            ],
            norm=norm(),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.apply(znn.init_trunc_normal)
        nn.init.trunc_normal_(self.pos_embed.weight, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        return znn.TokenPool(self.spec.global_pool, self.num_prefix_tokens)

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images)  # [B, N, D]
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # [B, 1 + N, D]
        x = self.norm_pre(self.pos_drop(x + self.pos_embed(x.shape[1])))
        return self.stack(x)  # [B, 1 + N, D]


def example_inputs(spec: ViTSpec, batch_size: int) -> tuple[tuple, dict]:
    return (torch.randn(batch_size, spec.in_chans, spec.img_size, spec.img_size),), {}


# --- timm layout ------------------------------------------------------------------------
_TIMM_RULES = [
    (r"^patch_embed\.proj\.", "backbone.patch_embed.proj."),
    (r"^cls_token$", "backbone.cls_token"),
    (r"^pos_embed$", "backbone.pos_embed.weight"),
    (r"^blocks\.(\d+)\.norm1\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^blocks\.(\d+)\.norm2\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^blocks\.(\d+)\.attn\.(qkv|proj)\.", r"backbone.stack.blocks.\1.attn.\2."),
    (r"^blocks\.(\d+)\.mlp\.(fc1|fc2)\.", r"backbone.stack.blocks.\1.mlp.\2."),
    (r"^norm\.", "backbone.stack.norm."),
    (r"^head\.", "head.fc."),
]


def _is_timm(state: Mapping[str, Tensor]) -> bool:
    return "patch_embed.proj.weight" in state and "blocks.0.attn.qkv.weight" in state


def resample_positions(pos: Tensor, num_prefix: int, new_grid: tuple[int, int]) -> Tensor:
    """Bicubic-resample a square grid of learned positions [prefix + h*w, D] to ``new_grid``."""
    prefix, grid = pos[:num_prefix], pos[num_prefix:]
    side = math.isqrt(grid.shape[0])
    if side * side != grid.shape[0]:
        raise ValueError(f"cannot resample {grid.shape[0]} position embeddings: not a square grid")
    grid = grid.float().reshape(1, side, side, -1).permute(0, 3, 1, 2)  # [1, D, h, w]
    grid = F.interpolate(grid, size=new_grid, mode="bicubic", antialias=True, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(-1, pos.shape[-1]).to(pos.dtype)  # [h'*w', D]
    return torch.cat([prefix, grid], dim=0)


def _from_timm(state: Mapping[str, Tensor], spec: ViTSpec) -> dict[str, Tensor]:
    out = rename_keys(state, _TIMM_RULES)
    pos_key = "backbone.pos_embed.weight"
    if pos_key in out:
        pos = out[pos_key].reshape(-1, out[pos_key].shape[-1])  # timm: [1, prefix + N, D]
        grid = spec.img_size // spec.patch_size
        prefix = int(spec.class_token)
        if pos.shape[0] != prefix + grid * grid:  # another resolution: resample, as timm does
            pos = resample_positions(pos, prefix, (grid, grid))
        out[pos_key] = pos
    return out


FAMILY = Family(
    name="vit",
    spec=ViTSpec,
    build=ViT,
    example_inputs=example_inputs,
    key_maps=(KeyMap("timm", _is_timm, _from_timm),),
    smoke_overrides={"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "num_classes": 5},
)
