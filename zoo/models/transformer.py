"""The original Transformer (Vaswani et al., 2017): post-norm encoder-decoder, sinusoidal positions.

Source, target and output share one embedding matrix (the paper's shared BPE vocabulary);
token embeddings are scaled by sqrt(dim) before the positions are added.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

import torch
from torch import Tensor, nn

from .. import nn as znn
from .backbones import EncoderDecoder
from .family import Family
from .spec import check
from .text import check_ids, padding_bias, target_padding_bias, positions_from_mask


@dataclass(frozen=True)
class TransformerSpec:
    vocab_size: int = 37000
    dim: int = 512
    depth: int = 6
    decoder_depth: int | None = None  # None: same as depth
    num_heads: int = 8
    mlp_dim: int = 2048
    max_len: int = 1024  # longest source or target sequence the sinusoid table covers
    dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 0
    decoder_start_token_id: int = 1  # the tokenizer's BOS
    num_classes: int = 2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "depth", "num_heads", "mlp_dim", "max_len"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.decoder_depth is None or self.decoder_depth > 0,
              f"decoder_depth must be positive (or None for depth), got {self.decoder_depth}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.dim % 2 == 0, f"dim must be even for sinusoidal positions, got {self.dim}")
        for name in ("pad_token_id", "decoder_start_token_id"):
            check(0 <= getattr(self, name) < self.vocab_size,
                  f"{name} must be in [0, vocab_size={self.vocab_size}), got {getattr(self, name)}")
        check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def decoder_layers(self) -> int:
        return self.decoder_depth if self.decoder_depth is not None else self.depth


def _block(spec: TransformerSpec, *, cross: bool) -> znn.Block:
    """One post-norm layer: norm(x + dropout(f(x))) around self-, cross-attention and a ReLU FFN."""
    attn = partial(znn.Attention, spec.dim, spec.num_heads, dropout=spec.dropout)
    norm = partial(nn.LayerNorm, spec.dim, eps=spec.layer_norm_eps)
    mlp = znn.MLP(spec.dim, spec.mlp_dim, activation=nn.ReLU, dropout=spec.dropout)
    return znn.Block(attn(), mlp, norm(), norm(), cross_attn=attn(cross=True) if cross else None,
                     norm_cross=norm() if cross else None, post_norm=True, dropout=spec.dropout)


class Transformer(EncoderDecoder):
    """Source ids [B, S] (+ target ids [B, T]) -> decoder states [B, T, D].

    Same protocol as T5: ``encode``, ``decode`` with a KV cache, ``decoder_start_token_id``.
    No final norm on either stack (post-norm blocks end in one).
    """

    tie_embeddings = True  # the output projection is the shared embedding

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.num_features = spec.dim
        self.pad_token_id, self.decoder_start_token_id = spec.pad_token_id, spec.decoder_start_token_id
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, spec.dim, padding_idx=spec.pad_token_id)
        self.embed_scale = spec.dim**0.5
        self.positions = znn.SinusoidalPositions(spec.max_len, spec.dim)  # interleaved sin/cos, as in the paper
        self.drop = nn.Dropout(spec.dropout)
        self.encoder = znn.Stack([_block(spec, cross=False) for _ in range(spec.depth)])
        self.decoder = znn.Stack([_block(spec, cross=True) for _ in range(spec.decoder_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections (as tensor2tensor and torch.nn.Transformer), embeddings N(0, dim**-0.5)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.token_embedding.weight, std=self.spec.dim**-0.5)  # scaled by sqrt(dim): unit variance
        with torch.no_grad():
            self.token_embedding.weight[self.spec.pad_token_id].zero_()

    def _embed(self, ids: Tensor, positions: Tensor) -> Tensor:
        # ids: [B, T]; positions: [B, T, D] or [T, D]
        return self.drop(self.token_embedding(ids) * self.embed_scale + positions)  # [B, T, D]

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Source ids [B, S] (+ keep-mask [B, S]) -> encoder states [B, S, D].

        Positions count real tokens only, so a left-padded source reads like the unpadded one.
        """
        check_ids(input_ids)
        length = input_ids.shape[1]
        bias = padding_bias(attention_mask, input_ids, self.token_embedding.weight.dtype)  # [B, 1, 1, S]
        table = self.positions(length)  # [S, D], with a clear error past max_len
        if attention_mask is not None:
            table = table[positions_from_mask(attention_mask, length, 0, input_ids.device)]  # [B, S, D]
        return self.encoder(self._embed(input_ids, table), attn_bias=bias)  # [B, S, D]

    def decode(self, decoder_input_ids: Tensor, memory: Tensor, *, memory_mask: Tensor | None = None,
               attention_mask: Tensor | None = None, caches: Sequence[znn.LayerCache] | None = None) -> Tensor:
        """Target ids [B, T] attending to ``memory`` [B, S, D] -> decoder states [B, T, D].

        With ``caches`` the ids are the new positions only and ``attention_mask`` (if any)
        covers every target position so far.
        """
        check_ids(decoder_input_ids, "decoder_input_ids")
        batch, new = decoder_input_ids.shape
        if memory.dim() != 3 or memory.shape[0] != batch:
            raise ValueError(f"memory must be encoder states [batch={batch}, source_len, dim], "
                             f"got {list(memory.shape)}")
        past = caches[0].self_attn.length if caches else 0
        x = self._embed(decoder_input_ids, self.positions(new, offset=past))  # [B, T, D]
        bias = target_padding_bias(attention_mask, batch, past, new, x.dtype)  # [B, 1, 1, past + T]
        context_bias = padding_bias(memory_mask, memory[..., 0], x.dtype)  # [B, 1, 1, S]
        return self.decoder(x, attn_bias=bias, is_causal=True, context=memory, context_bias=context_bias,
                            caches=caches)  # [B, T, D]

def example_inputs(spec: TransformerSpec, batch_size: int) -> tuple[tuple, dict]:
    ids = torch.randint(2, spec.vocab_size, (batch_size, 12))
    mask = torch.ones_like(ids)
    mask[-1, 9:] = 0  # the last row is padded
    decoder_ids = torch.randint(2, spec.vocab_size, (batch_size, 7))
    decoder_ids[:, 0] = spec.decoder_start_token_id
    return (ids,), {"attention_mask": mask, "decoder_input_ids": decoder_ids}


FAMILY = Family(
    name="transformer",
    spec=TransformerSpec,
    build=Transformer,
    example_inputs=example_inputs,
    smoke_overrides={"vocab_size": 97, "dim": 32, "depth": 2, "num_heads": 2, "mlp_dim": 64, "max_len": 32,
                     "num_classes": 3},
)
