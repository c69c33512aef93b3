"""Audio Spectrogram Transformer (Gong et al., 2021): overlapping 16x16 fbank patches, cls + distillation tokens."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import nn as znn
from ..data.audio import KaldiFbank
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .audio import DEFAULT_VOCABULARY, AudioEncoder, check_vocabulary
from .family import Family, KeyMap
from .spec import check

NUM_PREFIX = 2  # cls and distillation tokens


@dataclass(frozen=True)
class ASTSpec:
    n_mels: int = 128
    num_frames: int = 1024  # fbank frames (10 ms each) the positions cover; shorter clips are zero-padded
    sample_rate: int = 16000
    patch_size: int = 16
    patch_stride: int = 10  # on both axes; < patch_size overlaps the patches
    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    num_classes: int = 527  # AudioSet
    vocabulary: str = DEFAULT_VOCABULARY  # ctc: characters of logits 1..len (0 is the blank)
    dropout: float = 0.0
    attn_dropout: float = 0.0
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        for name in ("n_mels", "num_frames", "sample_rate", "patch_size", "patch_stride", "dim", "depth",
                     "num_heads", "mlp_dim"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.n_mels >= self.patch_size and self.num_frames >= self.patch_size,
              f"n_mels ({self.n_mels}) and num_frames ({self.num_frames}) must be >= patch_size ({self.patch_size})")
        check(self.num_classes >= 0, f"num_classes must be >= 0 (0 = no classifier), got {self.num_classes}")
        check(self.layer_norm_eps > 0, f"layer_norm_eps must be positive, got {self.layer_norm_eps}")
        check_vocabulary(self.vocabulary)
        for name in ("dropout", "attn_dropout"):
            check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def grid_size(self) -> tuple[int, int]:
        """(frequency, time) patches."""
        return tuple((size - self.patch_size) // self.patch_stride + 1 for size in (self.n_mels, self.num_frames))


class AST(AudioEncoder):
    """Waveform [B, samples] (<= num_frames fbank frames) or fbank [B, n_mels, num_frames] -> tokens [B, 2 + F*T, D].

    Tokens: cls, distillation, then the patches in (frequency, time) row-major order.
    """

    def __init__(self, spec: ASTSpec) -> None:
        super().__init__()
        self.spec = spec
        dim = self.num_features = spec.dim
        self.num_prefix_tokens = NUM_PREFIX
        self.frontend = KaldiFbank(spec.n_mels, spec.num_frames, sample_rate=spec.sample_rate)
        self.patch_embed = znn.PatchEmbed((spec.n_mels, spec.num_frames), spec.patch_size, 1, dim,
                                          stride=spec.patch_stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = znn.LearnedPositions(NUM_PREFIX + self.patch_embed.num_patches, dim)
        self.drop = nn.Dropout(spec.dropout)
        norm = partial(nn.LayerNorm, dim, eps=spec.layer_norm_eps)
        self.stack = znn.Stack([
            znn.Block(
                znn.Attention(dim, spec.num_heads, dropout=spec.attn_dropout),
                znn.MLP(dim, spec.mlp_dim, activation=nn.GELU),
                norm(), norm(), dropout=spec.dropout,
            )
            for _ in range(spec.depth)
        ], norm=norm())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.apply(znn.init_trunc_normal)
        for param in (self.cls_token, self.dist_token, self.pos_embed.weight):
            nn.init.trunc_normal_(param, std=0.02)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        """Mean of the cls and distillation tokens, then LayerNorm (AST's classifier input)."""
        return znn.TokenPool("prefix", NUM_PREFIX, norm=nn.LayerNorm(self.spec.dim, eps=self.spec.layer_norm_eps))

    def make_frame_pool(self) -> nn.Module:
        return znn.GridAxisPool(self.patch_embed.grid_size, NUM_PREFIX)  # mean over frequency: [B, T, D]

    def time_lengths(self, frame_lengths: Tensor, num_frames: int) -> tuple[Tensor, int]:
        # a column of patches is real when its first frame is
        stride, steps = self.spec.patch_stride, self.patch_embed.grid_size[1]
        return torch.div(frame_lengths + stride - 1, stride, rounding_mode="floor").clamp(max=steps), steps

    def encode(self, spectrogram: Tensor, frame_lengths: Tensor | None) -> Tensor:
        if spectrogram.shape[-1] != self.spec.num_frames:
            raise ValueError(f"spectrogram must have {self.spec.num_frames} frames (AST's positions cover exactly "
                             f"that many; zoo.data.audio.KaldiFbank pads shorter clips), got "
                             f"{spectrogram.shape[-1]}")
        x = self.patch_embed(spectrogram.to(self.cls_token.dtype)[:, None])  # [B, F*T, D]
        prefix = torch.cat([self.cls_token, self.dist_token], dim=1).expand(x.shape[0], -1, -1)  # [B, 2, D]
        x = torch.cat([prefix, x], dim=1)  # [B, 2 + F*T, D]
        x = self.drop(x + self.pos_embed(x.shape[1]))
        bias = None
        if frame_lengths is not None:
            lengths, steps = self.time_lengths(frame_lengths, spectrogram.shape[-1])
            columns = torch.arange(steps, device=x.device)[None] < lengths[:, None]  # [B, T]
            keep = columns[:, None, :].expand(-1, self.patch_embed.grid_size[0], -1).flatten(1)  # [B, F*T]
            keep = torch.cat([keep.new_ones(keep.shape[0], NUM_PREFIX), keep], dim=1)  # [B, 2 + F*T]
            bias = znn.padding_bias(keep, x.dtype)
        return self.stack(x, attn_bias=bias)  # [B, 2 + F*T, D]


def example_inputs(spec: ASTSpec, batch_size: int) -> tuple[tuple, dict]:
    """Smoke inputs: noise filling about 90% of the spec's frames, the last clip right-padded."""
    frontend = KaldiFbank(spec.n_mels, spec.num_frames, sample_rate=spec.sample_rate)
    samples = frontend.window + frontend.shift * (spec.num_frames * 9 // 10 - 1)
    waveform = 0.1 * torch.randn(batch_size, samples)
    mask = torch.ones(batch_size, samples, dtype=torch.long)
    mask[-1, samples * 5 // 8 :] = 0
    return (waveform,), {"attention_mask": mask}


# --- Hugging Face layout (ASTModel / ASTForAudioClassification; hub and transformers-5 names) ----------
_HF_LEGACY = [  # the hub checkpoints' ViT-style names -> transformers 5 names
    (r"^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.",
     lambda m: f"layers.{m.group(1)}.attention.{m.group(2)[0]}_proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attention.o_proj."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.mlp.fc2."),
    (r"^encoder\.layer\.(\d+)\.(layernorm_before|layernorm_after)\.", r"layers.\1.\2."),
]
_HF_RULES = [
    (r"^embeddings\.cls_token$", "backbone.cls_token"),
    (r"^embeddings\.distillation_token$", "backbone.dist_token"),
    (r"^embeddings\.patch_embeddings\.projection\.", "backbone.patch_embed.proj."),
    (r"^layers\.(\d+)\.attention\.o_proj\.", r"backbone.stack.blocks.\1.attn.proj."),
    (r"^layers\.(\d+)\.layernorm_before\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^layers\.(\d+)\.layernorm_after\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^layers\.(\d+)\.mlp\.(fc1|fc2)\.", r"backbone.stack.blocks.\1.mlp.\2."),
    (r"^layernorm\.", "backbone.stack.norm."),
    (r"^classifier\.layernorm\.", "head.pool.norm."),
    (r"^classifier\.dense\.", "head.fc."),
]
_PREFIX = "audio_spectrogram_transformer."


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k.endswith("embeddings.distillation_token") for k in state)


def _from_hf(state: Mapping[str, Tensor], spec: ASTSpec) -> dict[str, Tensor]:
    state = {k[len(_PREFIX):] if k.startswith(_PREFIX) else k: v for k, v in state.items()}
    state = rename_keys(state, _HF_LEGACY)
    out = {}
    pos = state.pop("embeddings.position_embeddings", None)
    if pos is not None:
        out["backbone.pos_embed.weight"] = pos.reshape(-1, pos.shape[-1])  # HF: [1, 2 + N, D]
    for layer in range(spec.depth):
        prefix = f"layers.{layer}.attention."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{prefix}{p}_proj.{kind}", None) for p in ("q", "k", "v")]
            if all(p is not None for p in parts):
                out[f"backbone.stack.blocks.{layer}.attn.qkv.{kind}"] = torch.cat(parts, dim=0)
    return {**rename_keys(state, _HF_RULES), **out}


_HF_FIELDS = {"num_mel_bins": "n_mels", "max_length": "num_frames", "patch_size": "patch_size",
              "frequency_stride": "patch_stride", "time_stride": "patch_stride", "hidden_size": "dim",
              "num_hidden_layers": "depth", "num_attention_heads": "num_heads", "intermediate_size": "mlp_dim",
              "layer_norm_eps": "layer_norm_eps"}


def _check_hf(config: Mapping[str, Any], spec: ASTSpec) -> None:
    check_hf_config(config, spec, _HF_FIELDS, {"model_type": "audio-spectrogram-transformer", "hidden_act": "gelu",
                                               "qkv_bias": True}, "ast")


# --- ImageNet ViT in timm layout: AST's cross-modal initialisation ------------------------------------
_TIMM_RULES = [
    (r"^blocks\.(\d+)\.norm1\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^blocks\.(\d+)\.norm2\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^blocks\.(\d+)\.attn\.(qkv|proj)\.", r"backbone.stack.blocks.\1.attn.\2."),
    (r"^blocks\.(\d+)\.mlp\.(fc1|fc2)\.", r"backbone.stack.blocks.\1.mlp.\2."),
    (r"^norm\.", "backbone.stack.norm."),
]
_IMAGENET_HEADS = ("head.", "head_dist.")


def _is_timm_vit(state: Mapping[str, Tensor]) -> bool:
    return "patch_embed.proj.weight" in state and "blocks.0.attn.qkv.weight" in state


def crop_or_interpolate(grid: Tensor, size: tuple[int, int]) -> Tensor:
    """AST's position adaptation of a [D, h, w] grid: each axis is centre-cropped when the target
    is not longer, else bilinearly interpolated (time first, then frequency, as AST does)."""
    for axis, target in ((2, size[1]), (1, size[0])):
        source = grid.shape[axis]
        if target <= source:
            start = source // 2 - target // 2
            grid = grid.narrow(axis, start, target)
        else:
            new = (grid.shape[1], target) if axis == 2 else (target, grid.shape[2])
            grid = F.interpolate(grid[None].float(), size=new, mode="bilinear", align_corners=False)[0].to(grid.dtype)
    return grid


def vit_to_ast(state: Mapping[str, Tensor], spec: ASTSpec, *,
               channels: Literal["sum", "mean"] = "sum") -> dict[str, Tensor]:
    """An ImageNet ViT/DeiT state dict in timm layout -> AST backbone weights (zoo layout).

    Patch weights [D, 3, p, p] become [D, 1, p, p] by summing the colour channels (``"sum"``:
    AST's and timm's ``adapt_input_conv`` rule, so a grey image gives the same response) or
    averaging them (``"mean"``). Patch positions are centre-cropped or bilinearly interpolated
    per axis to the spectrogram grid, as AST does. The distillation token (and its position)
    come from a DeiT-distilled checkpoint, or copy the class token's from a plain ViT. The
    ImageNet classifier is dropped: AST's head starts fresh.
    """
    if channels not in ("sum", "mean"):
        raise ValueError(f"channels must be 'sum' or 'mean', got {channels!r}")
    state = dict(state)
    dropped = [k for k in state if k.startswith(_IMAGENET_HEADS)]
    for key in dropped:
        del state[key]
    if dropped:
        warnings.warn(f"ImageNet ViT checkpoint: its classifier ({', '.join(dropped)}) is not used; "
                      "AST's audio classifier starts fresh", stacklevel=4)
    patch = state.pop("patch_embed.proj.weight")  # [D, C, p, p]
    if patch.shape[-1] != spec.patch_size:
        raise ValueError(f"the ViT's patches are {patch.shape[-1]}x{patch.shape[-1]} but this AST uses "
                         f"{spec.patch_size}x{spec.patch_size}")
    reduced = patch.float().sum(dim=1, keepdim=True) if channels == "sum" else patch.float().mean(dim=1, keepdim=True)
    cls = state.pop("cls_token")  # [1, 1, D]
    dist = state.pop("dist_token", None)
    pos = state.pop("pos_embed")[0]  # [prefix + h*w, D]
    prefix = 2 if dist is not None else 1
    side = int(round((pos.shape[0] - prefix) ** 0.5))
    if side * side != pos.shape[0] - prefix:
        raise ValueError(f"cannot adapt {pos.shape[0] - prefix} ViT position embeddings: not a square grid")
    grid = pos[prefix:].T.reshape(-1, side, side)  # [D, h, w]
    grid = crop_or_interpolate(grid, spec.grid_size).flatten(1).T  # [F*T, D]
    prefix_pos = pos[:2] if dist is not None else pos[:1].expand(2, -1)
    out = {
        "backbone.patch_embed.proj.weight": reduced.to(patch.dtype),
        "backbone.patch_embed.proj.bias": state.pop("patch_embed.proj.bias"),
        "backbone.cls_token": cls,
        "backbone.dist_token": dist if dist is not None else cls.clone(),
        "backbone.pos_embed.weight": torch.cat([prefix_pos, grid], dim=0),
    }
    return {**rename_keys(state, _TIMM_RULES), **out}


FAMILY = Family(
    name="ast",
    spec=ASTSpec,
    build=AST,
    example_inputs=example_inputs,
    key_maps=(KeyMap("huggingface", _is_hf, _from_hf, _check_hf), KeyMap("timm-vit", _is_timm_vit, vit_to_ast)),
    smoke_overrides={"n_mels": 24, "num_frames": 40, "patch_size": 8, "patch_stride": 6, "dim": 32, "depth": 2,
                     "num_heads": 2, "mlp_dim": 64, "num_classes": 3},
)
