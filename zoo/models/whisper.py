"""Whisper (Radford et al., 2022): the audio encoder (log-mel, two-conv GELU stem, sinusoids, pre-norm
blocks) and, with ``decoder_depth > 0``, the text decoder that turns it into speech-to-text
(`zoo.models.whisper_seq2seq`). The weight layouts it reads are in `zoo.models.whisper_weights`."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from .. import nn as znn
from ..data.audio import WhisperLogMel
from ..data.text.whisper_tokens import WhisperTokens
from .audio import DEFAULT_VOCABULARY, AudioEncoder, check_vocabulary
from .family import Family
from .spec import check
from .whisper_seq2seq import WhisperSeq2Seq
from .whisper_weights import KEY_MAPS

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
    decoder_depth: int = 0  # text decoder layers; 0 = the audio encoder alone (encoder tasks)
    vocab_size: int = 51865  # decoder: text tokens, then Whisper's special tokens (zoo.data.text.whisper_tokens)
    text_positions: int = 448  # decoder: longest token sequence (prompt + transcript)
    num_languages: int = 99  # decoder: language tokens in the vocabulary (Whisper's order)
    multilingual: bool = True  # decoder: False for the English-only (.en) models (no language or task tokens)

    def __post_init__(self) -> None:
        for name in ("n_mels", "sample_rate", "max_positions", "dim", "depth", "num_heads", "mlp_dim"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.dim % 2 == 0 and self.dim >= 4, f"dim must be even and >= 4 for sinusoids, got {self.dim}")
        check(self.num_classes >= 0, f"num_classes must be >= 0 (0 = no classifier), got {self.num_classes}")
        check_vocabulary(self.vocabulary)
        for name in ("dropout", "attn_dropout"):
            check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")
        check(self.decoder_depth >= 0, f"decoder_depth must be >= 0 (0 = no decoder), got {self.decoder_depth}")
        check(self.text_positions > 0, f"text_positions must be positive, got {self.text_positions}")
        _ = self.tokens  # the vocabulary must hold Whisper's special tokens (a clear error if it cannot)

    @property
    def tokens(self) -> WhisperTokens:
        """Where the special tokens sit in this model's vocabulary."""
        return WhisperTokens(self.vocab_size, self.num_languages, self.multilingual)

    @property
    def window_samples(self) -> int:
        """Samples in the encoder's full window (30 s for OpenAI's models)."""
        return 2 * self.max_positions * HOP_LENGTH


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
                                      max_samples=spec.window_samples)
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


def build(spec: WhisperSpec) -> nn.Module:
    """The audio encoder alone (``decoder_depth=0``), or the speech-to-text encoder-decoder."""
    return Whisper(spec) if spec.decoder_depth == 0 else WhisperSeq2Seq(spec)


def example_inputs(spec: WhisperSpec, batch_size: int) -> tuple[tuple, dict]:
    """Smoke inputs: 40 frames of noise per clip (<= the spec's maximum), the last clip right-padded;
    with a decoder, also decoder ids [B, 6] starting with <|startoftranscript|> (no special tokens after)."""
    samples = HOP_LENGTH * min(40, 2 * spec.max_positions)
    waveform = 0.1 * torch.randn(batch_size, samples)
    mask = torch.ones(batch_size, samples, dtype=torch.long)
    mask[-1, samples * 5 // 8 :] = 0
    extras: dict[str, Any] = {"attention_mask": mask}
    if spec.decoder_depth > 0:
        tokens = spec.tokens
        ids = torch.randint(0, tokens.eot, (batch_size, min(6, spec.text_positions)))
        ids[:, 0] = tokens.sot
        extras["decoder_input_ids"] = ids
    return (waveform,), extras


FAMILY = Family(
    name="whisper",
    spec=WhisperSpec,
    build=build,
    example_inputs=example_inputs,
    key_maps=KEY_MAPS,
    smoke_overrides={"n_mels": 16, "max_positions": 32, "dim": 32, "depth": 2, "num_heads": 2, "mlp_dim": 64,
                     "num_classes": 3, "vocab_size": 1600, "num_languages": 3, "text_positions": 32,
                     "decoder_depth": lambda depth: min(depth, 2)},  # an encoder card keeps no decoder
)
