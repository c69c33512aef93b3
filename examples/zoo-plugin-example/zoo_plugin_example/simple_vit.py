"""Simple ViT (Beyer et al., 2022, "Better plain ViT baselines"): no class token, fixed 2-D
sin-cos positions, average pooling. Built only from ``zoo.nn`` blocks."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

import zoo
from zoo import nn as znn
from zoo.models.spec import check


@dataclass(frozen=True)
class SimpleViTSpec:
    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    num_classes: int = 1000
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "in_chans", "depth", "num_heads"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.embed_dim >= 8 and self.embed_dim % 4 == 0,
              f"embed_dim must be a multiple of 4 and at least 8 (2-D sin-cos positions), got {self.embed_dim}")
        check(self.embed_dim % self.num_heads == 0,
              f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.img_size % self.patch_size == 0,
              f"img_size ({self.img_size}) must be a multiple of patch_size ({self.patch_size})")
        check(self.mlp_ratio > 0, f"mlp_ratio must be positive, got {self.mlp_ratio}")
        check(self.num_classes >= 0, f"num_classes must be >= 0 (0 = no classifier), got {self.num_classes}")
        check(0.0 <= self.drop_path_rate < 1.0, f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}")


def sincos_2d(grid: tuple[int, int], dim: int) -> Tensor:
    """Fixed positions [h*w, dim] = [sin x, cos x, sin y, cos y] (big_vision's posemb_sincos_2d)."""
    h, w = grid
    table = znn.sinusoid_table(max(h, w), dim // 2, interleaved=False, endpoint=True)  # [L, D/2]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat([table[xs.flatten()], table[ys.flatten()]], dim=1)  # [h*w, D]


class SimpleViT(nn.Module):
    """Images [B, C, H, W] -> patch tokens [B, N, D]."""

    modality = "image"
    architecture = "encoder"
    num_prefix_tokens = 0

    def __init__(self, spec: SimpleViTSpec) -> None:
        super().__init__()
        self.spec = spec
        dim = self.num_features = spec.embed_dim
        self.patch_embed = znn.PatchEmbed(spec.img_size, spec.patch_size, spec.in_chans, dim)
        self.register_buffer("pos_embed", sincos_2d(self.patch_embed.grid_size, dim), persistent=False)
        norm = partial(nn.LayerNorm, dim, eps=1e-6)
        drop_path = [spec.drop_path_rate * i / max(spec.depth - 1, 1) for i in range(spec.depth)]  # linear decay
        self.stack = znn.Stack(
            [
                znn.Block(znn.Attention(dim, spec.num_heads), znn.MLP(dim, int(dim * spec.mlp_ratio)),
                          norm(), norm(), drop_path=drop_path[i])
                for i in range(spec.depth)
            ],
            norm=norm(),
        )
        self.apply(znn.init_trunc_normal)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        return znn.TokenPool("avg", num_prefix_tokens=0)

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images)  # [B, N, D]
        return self.stack(x + self.pos_embed.to(x.dtype))  # [B, N, D]


def example_inputs(spec: SimpleViTSpec, batch_size: int) -> tuple[tuple, dict]:
    return (torch.randn(batch_size, spec.in_chans, spec.img_size, spec.img_size),), {}


FAMILY = zoo.Family(
    name="simple-vit",
    spec=SimpleViTSpec,
    build=SimpleViT,
    example_inputs=example_inputs,
    smoke_overrides={"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "num_classes": 5},
)
