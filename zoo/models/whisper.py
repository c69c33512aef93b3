"""Whisper's audio encoder (Radford et al., 2022): log-mel, two-conv GELU stem, sinusoids, pre-norm blocks."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from .. import nn as znn
from ..data.audio import WhisperLogMel
from ..weights.errors import WeightsError
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .audio import DEFAULT_VOCABULARY, AudioEncoder, check_vocabulary
from .family import Family, KeyMap
from .spec import check

HOP_LENGTH = 160  # samples per log-mel frame at 16 kHz; the stem halves the frame rate again


@dataclass(frozen=True)
class WhisperSpec:
    n_mels: int = 80
    sample_rate: int = 16000
    max_positions: int = 1500  # encoder time steps: 30 s = 3000 frames = 1500 positions
    dim: int = 384
    depth: int = 4
    num_heads: int = 6
    mlp_dim: int = 1536
    num_classes: int = 0  # audio-classification: 0 = pooled features, pass num_classes=N for a classifier
    vocabulary: str = DEFAULT_VOCABULARY  # ctc: characters of logits 1..len (0 is the blank)
    dropout: float = 0.0
    attn_dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_mels", "sample_rate", "max_positions", "dim", "depth", "num_heads", "mlp_dim"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.dim % 2 == 0 and self.dim >= 4, f"dim must be even and >= 4 for sinusoids, got {self.dim}")
        check(self.num_classes >= 0, f"num_classes must be >= 0 (0 = no classifier), got {self.num_classes}")
        check_vocabulary(self.vocabulary)
        for name in ("dropout", "attn_dropout"):
            check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")


class Whisper(AudioEncoder):
    """Waveform [B, samples] (<= 30 s) or log-mel [B, n_mels, frames] (<= 3000) -> features [B, frames / 2, D].

    Shorter inputs than Whisper's fixed 30 s are accepted: the positions are sliced to the
    sequence (OpenAI's and Hugging Face's encoders insist on exactly 3000 frames; pad with
    zeros to 30 s to reproduce them exactly).
    """

    def __init__(self, spec: WhisperSpec) -> None:
        super().__init__()
        self.spec = spec
        dim = self.num_features = spec.dim
        self.frontend = WhisperLogMel(spec.n_mels, sample_rate=spec.sample_rate, hop_length=HOP_LENGTH,
                                      max_samples=2 * spec.max_positions * HOP_LENGTH)
        self.stem = znn.ConvStem(spec.n_mels, dim, strides=(1, 2), kernel_size=3, activation=nn.GELU)
        self.positions = znn.SinusoidalPositions(spec.max_positions, dim, interleaved=False, endpoint=True)
        self.drop = nn.Dropout(spec.dropout)
        norm = partial(nn.LayerNorm, dim)
        self.stack = znn.Stack([
            znn.Block(
                znn.Attention(dim, spec.num_heads, key_bias=False, dropout=spec.attn_dropout),
                znn.MLP(dim, spec.mlp_dim, activation=nn.GELU),
                norm(), norm(), dropout=spec.dropout,
            )
            for _ in range(spec.depth)
        ], norm=norm())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.apply(znn.init_trunc_normal)  # Linear layers; the convs keep PyTorch's default init

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        return znn.TokenPool("avg", num_prefix_tokens=0)  # mean over the real time steps

    def make_frame_pool(self) -> nn.Module:
        return nn.Identity()  # tokens already are time steps (20 ms each)

    def time_lengths(self, frame_lengths: Tensor, num_frames: int) -> tuple[Tensor, int]:
        steps = int(self.stem.output_lengths(torch.tensor(num_frames)))
        return self.stem.output_lengths(frame_lengths), steps

    def encode(self, spectrogram: Tensor, frame_lengths: Tensor | None) -> Tensor:
        max_frames = 2 * self.spec.max_positions
        if spectrogram.shape[-1] > max_frames:
            raise ValueError(f"{spectrogram.shape[-1]} frames are more than this encoder takes ({max_frames}, "
                             f"{max_frames * HOP_LENGTH / self.spec.sample_rate:g} s); crop or split the audio")
        x = self.stem(spectrogram.to(self.stem.convs[0].weight.dtype), frame_lengths)  # [B, T, D]
        x = self.drop(x + self.positions(x.shape[1]).to(x.dtype))
        bias = None
        if frame_lengths is not None:
            keep = torch.arange(x.shape[1], device=x.device)[None] < self.stem.output_lengths(frame_lengths)[:, None]
            bias = znn.padding_bias(keep, x.dtype)  # [B, 1, 1, T]
        return self.stack(x, attn_bias=bias)  # [B, T, D]


def example_inputs(spec: WhisperSpec, batch_size: int) -> tuple[tuple, dict]:
    """Smoke inputs: 40 frames of noise per clip (<= the spec's maximum), the last clip right-padded."""
    samples = HOP_LENGTH * min(40, 2 * spec.max_positions)
    waveform = 0.1 * torch.randn(batch_size, samples)
    mask = torch.ones(batch_size, samples, dtype=torch.long)
    mask[-1, samples * 5 // 8 :] = 0
    return (waveform,), {"attention_mask": mask}


# --- Hugging Face layout (WhisperModel / WhisperForConditionalGeneration: the encoder) ---------------
_HF_RULES = [
    (r"^encoder\.conv([12])\.", lambda m: f"backbone.stem.convs.{int(m.group(1)) - 1}."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"backbone.stack.blocks.\1.attn.proj."),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^encoder\.layers\.(\d+)\.final_layer_norm\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^encoder\.layers\.(\d+)\.(fc1|fc2)\.", r"backbone.stack.blocks.\1.mlp.\2."),
    (r"^encoder\.layer_norm\.", "backbone.stack.norm."),
]
_NOT_ENCODER = ("decoder.", "proj_out.")  # the text decoder and its output projection: not this model's


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k in state for k in ("encoder.conv1.weight", "model.encoder.conv1.weight"))


def _from_hf(state: Mapping[str, Tensor], spec: WhisperSpec) -> dict[str, Tensor]:
    state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items()}
    dropped = [k for k in state if k.startswith(_NOT_ENCODER)]
    if dropped:
        warnings.warn(f"Whisper checkpoint: only its audio encoder is used; {len(dropped)} decoder tensors "
                      "were not loaded", stacklevel=4)
    state = {k: v for k, v in state.items() if not k.startswith(_NOT_ENCODER)}
    positions = state.pop("encoder.embed_positions.weight", None)
    if positions is not None:  # Whisper's are fixed sinusoids: ours are computed, so check they agree
        table = znn.sinusoid_table(positions.shape[0], positions.shape[1], interleaved=False, endpoint=True)
        if positions.shape != (spec.max_positions, spec.dim) or not torch.allclose(
                positions.float(), table, atol=1e-3):
            raise WeightsError("the checkpoint's encoder.embed_positions are not Whisper's sinusoids "
                               f"[{spec.max_positions}, {spec.dim}] (shape {list(positions.shape)}); this "
                               "family computes them and cannot load learned ones")
    out = {}
    for layer in range(spec.depth):
        prefix = f"encoder.layers.{layer}.self_attn."
        weights = [state.pop(f"{prefix}{p}_proj.weight", None) for p in ("q", "k", "v")]
        if all(w is not None for w in weights):
            out[f"backbone.stack.blocks.{layer}.attn.qkv.weight"] = torch.cat(weights, dim=0)
        for name in ("q", "v"):
            if f"{prefix}{name}_proj.bias" in state:
                out[f"backbone.stack.blocks.{layer}.attn.{name}_bias"] = state.pop(f"{prefix}{name}_proj.bias")
    return {**rename_keys(state, _HF_RULES), **out}


_HF_FIELDS = {"num_mel_bins": "n_mels", "max_source_positions": "max_positions", "d_model": "dim",
              "encoder_layers": "depth", "encoder_attention_heads": "num_heads", "encoder_ffn_dim": "mlp_dim"}


def _check_hf(config: Mapping[str, Any], spec: WhisperSpec) -> None:
    check_hf_config(config, spec, _HF_FIELDS, {"model_type": "whisper", "activation_function": "gelu",
                                               "scale_embedding": False}, "whisper")


FAMILY = Family(
    name="whisper",
    spec=WhisperSpec,
    build=Whisper,
    example_inputs=example_inputs,
    key_maps=(KeyMap("huggingface", _is_hf, _from_hf, _check_hf),),
    smoke_overrides={"n_mels": 16, "max_positions": 32, "dim": 32, "depth": 2, "num_heads": 2, "mlp_dim": 64,
                     "num_classes": 3},
)
