"""Behaviour shared by the text backbones of one architecture (not by one model).

`DecoderOnly` (GPT-2, LLaMA) and `EncoderDecoder` (T5, Transformer) hold the generation
protocol of `zoo.generation`, pooling and checkpointing, so each family file keeps only
its own embeddings, blocks and key maps.
"""
from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from .. import nn as znn
from .text import check_decoder_length, shift_right


class DecoderOnly(nn.Module):
    """A causal stack ``self.stack`` over ``self.spec`` (with ``depth`` and ``max_positions``)."""

    modality = "text"
    architecture = "decoder"

    def scale_residual_init(self, std: float = 0.02) -> None:
        """Residual output projections N(0, std / sqrt(2 * depth)), as GPT-2 initialises them."""
        residual_std = std / math.sqrt(2 * self.spec.depth)
        for block in self.stack.blocks:
            nn.init.trunc_normal_(block.attn.proj.weight, std=residual_std)
            nn.init.trunc_normal_(block.mlp.fc2.weight, std=residual_std)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        return znn.LastTokenPool()  # the last real token has seen the whole sequence

    def check_length(self, total_len: int) -> None:
        check_decoder_length(total_len, self.spec.max_positions)

    def make_caches(self, batch_size: int, max_len: int, **tensor_kwargs: Any) -> list[znn.LayerCache]:
        """Empty per-layer KV caches for generating up to ``max_len`` positions."""
        self.check_length(max_len)
        return self.stack.make_caches(batch_size, max_len, **tensor_kwargs)


class EncoderDecoder(nn.Module):
    """``self.encoder`` and ``self.decoder`` stacks, with ``encode`` / ``decode`` defined by the family."""

    modality = "text"
    architecture = "encoder-decoder"
    pad_token_id: int
    decoder_start_token_id: int

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.encoder.grad_checkpointing = self.decoder.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        """Sequence classification reads the last real decoder token (it has seen source and target)."""
        return znn.LastTokenPool()

    def make_caches(self, batch_size: int, max_len: int, context_len: int | None = None,
                    **tensor_kwargs: Any) -> list[znn.LayerCache]:
        """Decoder caches for ``max_len`` target positions over a source of ``context_len`` tokens."""
        return self.decoder.make_caches(batch_size, max_len, context_len, **tensor_kwargs)

    def encode_inputs(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """The source part of `forward`'s inputs -> (encoder states [B, S, D], their keep-mask for ``decode``)."""
        return self.encode(input_ids, attention_mask), attention_mask

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                decoder_input_ids: Tensor | None = None, decoder_attention_mask: Tensor | None = None,
                labels: Tensor | None = None) -> Tensor:
        """Decoder states [B, T, D]; without ``decoder_input_ids`` they are ``labels`` shifted right."""
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError(f"{type(self).__name__} needs decoder_input_ids [batch, target_len], or labels to "
                                 f"shift right into them (decoding starts from token {self.decoder_start_token_id})")
            decoder_input_ids = shift_right(labels, self.decoder_start_token_id, self.pad_token_id)
        memory = self.encode(input_ids, attention_mask)
        return self.decode(decoder_input_ids, memory, memory_mask=attention_mask,
                           attention_mask=decoder_attention_mask)
