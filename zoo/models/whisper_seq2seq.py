"""Whisper's speech-to-text model: the audio encoder that exists (`Whisper`) and a text decoder.

The decoder is the shared pre-norm `Block` with cross-attention (the one T5 and the 2017
Transformer use): learned positions, causal self-attention, cross-attention to the encoder
states, GELU MLP, a final LayerNorm, and the LM head tied to the token embedding. Like
OpenAI's and Hugging Face's models it sees every clip zero-padded to the encoder's full window
(30 s) and attends to all of it: that is how Whisper was trained.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import nn as znn
from .backbones import EncoderDecoder
from .text import check_decoder_length, check_ids, shift_right, target_padding_bias


def decoder_block(spec: Any) -> znn.Block:
    """One pre-norm decoder layer; as in the encoder, the key projections have no bias."""
    attn = partial(znn.Attention, spec.dim, spec.num_heads, key_bias=False, dropout=spec.attn_dropout)
    norm = partial(nn.LayerNorm, spec.dim)
    return znn.Block(attn(), znn.MLP(spec.dim, spec.mlp_dim, activation=nn.GELU), norm(), norm(),
                     cross_attn=attn(cross=True), norm_cross=norm(), dropout=spec.dropout)


class WhisperSeq2Seq(EncoderDecoder):
    """Waveform [B, samples] (<= the window) or log-mel [B, n_mels, frames] + decoder ids [B, T] ->
    decoder states [B, T, D].

    ``encode`` pads each clip with zeros to the window (its ``attention_mask`` marks the real
    samples) and returns encoder states [B, max_positions, D]; ``decode`` runs the decoder on
    them with a KV cache, for `zoo.generation`.
    """

    modality = "audio"
    tie_embeddings = True  # the LM head is the token embedding (Whisper's proj_out)

    def __init__(self, spec: Any) -> None:
        super().__init__()
        from .whisper import Whisper  # the family module imports this one

        self.spec = spec
        self.num_features = spec.dim
        tokens = spec.tokens
        self.pad_token_id, self.decoder_start_token_id = tokens.eot, tokens.sot
        self.encoder = Whisper(dataclasses.replace(spec, decoder_depth=0))
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, spec.dim, name="decoder_input_ids")
        self.positions = znn.LearnedPositions(spec.text_positions, spec.dim)
        self.drop = nn.Dropout(spec.dropout)
        self.decoder = znn.Stack([decoder_block(spec) for _ in range(spec.decoder_depth)], norm=nn.LayerNorm(spec.dim))
        self.decoder.apply(znn.init_trunc_normal)
        znn.init_trunc_normal(self.token_embedding)

    @property
    def frontend(self) -> nn.Module:
        return self.encoder.frontend

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.encoder.set_grad_checkpointing(enable)
        self.decoder.grad_checkpointing = enable

    def check_length(self, total_len: int) -> None:
        check_decoder_length(total_len, self.spec.text_positions)

    def encode(self, waveform: Tensor | None = None, *, spectrogram: Tensor | None = None,
               attention_mask: Tensor | None = None, sample_rate: int | None = None) -> Tensor:
        """Audio -> encoder states [B, N, D]: N = max_positions for waveforms (padded to the window).

        A spectrogram is used as given (Whisper's feature extractor makes 3000 frames for any clip
        up to 30 s); its attention_mask would have no effect, so passing one is an error.
        """
        audio = self.encoder
        _, _, sample_lengths = audio._lengths(waveform, spectrogram, attention_mask, sample_rate)
        if spectrogram is not None:
            if attention_mask is not None:
                raise ValueError("speech-to-text attends to the whole window, so an attention_mask over spectrogram "
                                 "frames has no effect; pass waveforms with their attention_mask (the padding "
                                 "becomes silence, as in Whisper's training) or the spectrograms alone")
        else:
            spectrogram = audio.frontend(self.pad_to_window(waveform, sample_lengths))  # [B, n_mels, frames]
        return audio.encode(spectrogram, None)  # [B, N, D]

    def encode_inputs(self, waveform: Tensor | None = None, **audio: Any) -> tuple[Tensor, None]:
        """The audio part of `forward`'s inputs -> (encoder states, None: the decoder sees the whole window)."""
        return self.encode(waveform, **audio), None

    def pad_to_window(self, waveform: Tensor, sample_lengths: Tensor | None) -> Tensor:
        """[B, samples] -> [B, window]: samples past each clip's length silenced, zeros appended."""
        window = self.spec.window_samples
        if waveform.shape[1] > window:
            raise ValueError(f"a clip of {waveform.shape[1]} samples is longer than this model's window ({window} "
                             f"samples, {window / self.spec.sample_rate:g} s); model.transcribe cuts long audio "
                             "into windows, or split it yourself")
        if sample_lengths is not None:
            keep = torch.arange(waveform.shape[1], device=waveform.device)[None] < sample_lengths[:, None]
            waveform = waveform * keep  # [B, samples]
        return F.pad(waveform, (0, window - waveform.shape[1]))  # [B, window]

    def decode(self, decoder_input_ids: Tensor, memory: Tensor, *, memory_mask: Tensor | None = None,
               attention_mask: Tensor | None = None, caches: Sequence[znn.LayerCache] | None = None) -> Tensor:
        """Token ids [B, T] attending to encoder states ``memory`` [B, N, D] -> decoder states [B, T, D].

        With ``caches`` the ids are the new positions only; ``attention_mask`` (if any) covers every
        target position so far. ``memory_mask`` must be None: Whisper attends to its whole window.
        """
        check_ids(decoder_input_ids, "decoder_input_ids")
        batch, new = decoder_input_ids.shape
        if memory.dim() != 3 or memory.shape[0] != batch:
            raise ValueError(f"memory must be encoder states [batch={batch}, time, dim], got {list(memory.shape)}")
        if memory_mask is not None:
            raise ValueError("Whisper's decoder attends to the whole encoder window; memory_mask must be None")
        past = caches[0].self_attn.length if caches else 0
        self.check_length(past + new)
        x = self.drop(self.token_embedding(decoder_input_ids) + self.positions(new, offset=past))  # [B, T, D]
        bias = target_padding_bias(attention_mask, batch, past, new, x.dtype)  # [B, 1, 1, past + T]
        return self.decoder(x, attn_bias=bias, is_causal=True, context=memory, caches=caches)  # [B, T, D]

    def forward(self, waveform: Tensor | None = None, *, spectrogram: Tensor | None = None,
                attention_mask: Tensor | None = None, sample_rate: int | None = None,
                decoder_input_ids: Tensor | None = None, decoder_attention_mask: Tensor | None = None,
                labels: Tensor | None = None) -> Tensor:
        """Decoder states [B, T, D]; without ``decoder_input_ids`` they are ``labels`` shifted right
        (after <|startoftranscript|>), as transformers' WhisperForConditionalGeneration does."""
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("speech-to-text needs decoder_input_ids [batch, target_len], or labels to shift "
                                 f"right into them (decoding starts from token {self.decoder_start_token_id}, "
                                 "<|startoftranscript|>)")
            decoder_input_ids = shift_right(labels, self.decoder_start_token_id, self.pad_token_id)
        memory = self.encode(waveform, spectrogram=spectrogram, attention_mask=attention_mask, sample_rate=sample_rate)
        return self.decode(decoder_input_ids, memory, attention_mask=decoder_attention_mask)
