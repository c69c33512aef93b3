"""The weight layouts the Whisper family reads: Hugging Face's (``WhisperModel``,
``WhisperForConditionalGeneration``) and OpenAI's own checkpoints (``{"dims", "model_state_dict"}``).

Both name the same tensors differently; each layout is a table of names, and one converter maps
either to ours. The audio encoder's tensors land under ``backbone.`` for the encoder alone
(``decoder_depth=0``: the decoder's tensors are dropped with a warning) and under
``backbone.encoder.`` for speech-to-text, which adds the decoder's.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from .. import nn as znn
from ..weights.errors import WeightsError
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .family import KeyMap


@dataclass(frozen=True)
class _Layout:
    """How one source names Whisper's tensors (everything else about the model is the same)."""

    name: str
    layers: str  # the layer list under "encoder." and "decoder."
    self_attn: str
    cross_attn: str
    projections: tuple[str, str, str, str]  # query, key, value, output
    norms: tuple[str, str, str]  # before self-attention, cross-attention, MLP
    mlp: tuple[str, str]
    final_norm: str
    conv: str  # "conv{1,2}" under "encoder."
    encoder_positions: str  # fixed sinusoids: checked, never loaded
    token_embedding: str
    decoder_positions: str


HF = _Layout("huggingface", "layers", "self_attn", "encoder_attn", ("q_proj", "k_proj", "v_proj", "out_proj"),
             ("self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"), ("fc1", "fc2"), "layer_norm",
             "conv", "embed_positions.weight", "embed_tokens.weight", "embed_positions.weight")
OPENAI = _Layout("openai", "blocks", "attn", "cross_attn", ("query", "key", "value", "out"),
                 ("attn_ln", "cross_attn_ln", "mlp_ln"), ("mlp.0", "mlp.2"), "ln_post|ln",
                 "conv", "positional_embedding", "token_embedding.weight", "positional_embedding")


def _attention(state: dict[str, Tensor], source: str, target: str, layout: _Layout, cross: bool) -> dict[str, Tensor]:
    """One attention's separate projections -> our fused ones (the key has no bias, as in Whisper)."""
    q, k, v, o = (f"{source}.{name}" for name in layout.projections)
    out = {}
    weights = [state.pop(f"{name}.weight", None) for name in (q, k, v)]
    if all(w is not None for w in weights):
        if cross:
            out[f"{target}.q.weight"] = weights[0]
            out[f"{target}.kv.weight"] = torch.cat(weights[1:], dim=0)
        else:
            out[f"{target}.qkv.weight"] = torch.cat(weights, dim=0)
    for name, ours in ((q, "q.bias" if cross else "q_bias"), (v, "v_bias"), (o, "proj.bias")):
        if f"{name}.bias" in state:
            out[f"{target}.{ours}"] = state.pop(f"{name}.bias")
    if f"{o}.weight" in state:
        out[f"{target}.proj.weight"] = state.pop(f"{o}.weight")
    if f"{k}.bias" in state:
        raise WeightsError(f"{k}.bias: Whisper's key projections have no bias, this checkpoint has one")
    return out


def _layers(state: dict[str, Tensor], stack: str, depth: int, target: str, layout: _Layout) -> dict[str, Tensor]:
    """The blocks of one stack ("encoder" or "decoder") under ``target`` (e.g. "backbone.decoder")."""
    out = {}
    for i in range(depth):
        source, ours = f"{stack}.{layout.layers}.{i}", f"{target}.blocks.{i}"
        out.update(_attention(state, f"{source}.{layout.self_attn}", f"{ours}.attn", layout, cross=False))
        if stack == "decoder":
            out.update(_attention(state, f"{source}.{layout.cross_attn}", f"{ours}.cross_attn", layout, cross=True))
        norms = zip(layout.norms, ("norm_attn", "norm_cross", "norm_mlp"))
        renames = [(f"{source}.{theirs}.", f"{ours}.{mine}.") for theirs, mine in norms]
        renames += [(f"{source}.{theirs}.", f"{ours}.mlp.{mine}.") for theirs, mine in zip(layout.mlp, ("fc1", "fc2"))]
        for key in [k for k in state if k.startswith(f"{source}.")]:
            for theirs, mine in renames:
                if key.startswith(theirs):
                    out[mine + key[len(theirs):]] = state.pop(key)
                    break
    return out


def _check_sinusoids(positions: Tensor | None, spec: Any) -> None:
    """The encoder's positions are fixed sinusoids that we compute: a checkpoint's must be exactly those."""
    if positions is None:
        return
    table = znn.sinusoid_table(positions.shape[0], positions.shape[1], interleaved=False, endpoint=True)
    if positions.shape != (spec.max_positions, spec.dim) or not torch.allclose(positions.float(), table, atol=1e-3):
        raise WeightsError("the checkpoint's encoder positions are not Whisper's sinusoids "
                           f"[{spec.max_positions}, {spec.dim}] (shape {list(positions.shape)}); this family computes "
                           "them and cannot load learned ones")


def convert(state: Mapping[str, Tensor], spec: Any, layout: _Layout) -> dict[str, Tensor]:
    """A checkpoint in ``layout`` -> our names, for the encoder alone or the encoder-decoder ``spec`` builds."""
    state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items()}
    with_decoder = spec.decoder_depth > 0
    if not with_decoder:
        dropped = [k for k in state if k.startswith(("decoder.", "proj_out."))]
        if dropped:
            warnings.warn(f"Whisper checkpoint: only its audio encoder is used; {len(dropped)} decoder tensors "
                          "were not loaded", stacklevel=5)
        state = {k: v for k, v in state.items() if k not in dropped}
    encoder = "backbone.encoder" if with_decoder else "backbone"
    _check_sinusoids(state.pop(f"encoder.{layout.encoder_positions}", None), spec)
    out = _layers(state, "encoder", spec.depth, f"{encoder}.stack", layout)
    rules = [(rf"^encoder\.{layout.conv}([12])\.", lambda m: f"{encoder}.stem.convs.{int(m.group(1)) - 1}."),
             (rf"^encoder\.({layout.final_norm})\.", f"{encoder}.stack.norm.")]
    if with_decoder:
        out.update(_layers(state, "decoder", spec.decoder_depth, "backbone.decoder", layout))
        _untie(state, layout)
        rules += [(rf"^decoder\.{re.escape(layout.token_embedding)}$", "backbone.token_embedding.weight"),
                  (rf"^decoder\.{re.escape(layout.decoder_positions)}$", "backbone.positions.weight"),
                  (rf"^decoder\.({layout.final_norm})\.", "backbone.decoder.norm.")]
    return {**rename_keys(state, rules), **out}


def _untie(state: dict[str, Tensor], layout: _Layout) -> None:
    """Whisper's output projection is its token embedding: a separate copy must equal it, and is dropped."""
    head = state.pop("proj_out.weight", None)
    embedding = state.get(f"decoder.{layout.token_embedding}")
    if head is not None and embedding is not None and not torch.equal(head, embedding):
        raise WeightsError("the checkpoint's proj_out differs from its token embedding; Whisper ties them, and "
                           "this family cannot load an untied output projection")


# --- Hugging Face ------------------------------------------------------------------------------
_HF_ENCODER = {"num_mel_bins": "n_mels", "max_source_positions": "max_positions", "d_model": "dim",
               "encoder_layers": "depth", "encoder_attention_heads": "num_heads", "encoder_ffn_dim": "mlp_dim"}
_HF_DECODER = {"decoder_layers": "decoder_depth", "decoder_attention_heads": "num_heads",
               "decoder_ffn_dim": "mlp_dim", "vocab_size": "vocab_size", "max_target_positions": "text_positions"}


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k in state for k in ("encoder.conv1.weight", "model.encoder.conv1.weight")) and not _is_openai(state)


def _check_hf(config: Mapping[str, Any], spec: Any) -> None:
    fields = {**_HF_ENCODER, **(_HF_DECODER if spec.decoder_depth > 0 else {})}
    check_hf_config(config, spec, fields, {"model_type": "whisper", "activation_function": "gelu",
                                           "scale_embedding": False}, "whisper")
    if spec.decoder_depth > 0:
        tokens = spec.tokens
        wrong = [f"{key}={config[key]} but this model's is {ours}" for key, ours in
                 (("decoder_start_token_id", tokens.sot), ("eos_token_id", tokens.eot)) if key in config
                 and config[key] != ours]
        if wrong:
            raise WeightsError(f"the Hugging Face config's special tokens are not where this model's vocabulary "
                               f"({spec.vocab_size} tokens, {spec.num_languages} languages) has them: "
                               f"{'; '.join(wrong)}. Check vocab_size and num_languages.")


# --- OpenAI (openai-whisper's load_model files) --------------------------------------------------
_OPENAI_DIMS = {"n_mels": "n_mels", "n_audio_ctx": "max_positions", "n_audio_state": "dim",
                "n_audio_head": "num_heads", "n_audio_layer": "depth"}
_OPENAI_DECODER = {"n_vocab": "vocab_size", "n_text_ctx": "text_positions", "n_text_state": "dim",
                   "n_text_head": "num_heads", "n_text_layer": "decoder_depth"}


def _is_openai(state: Mapping[str, Tensor]) -> bool:
    return "encoder.positional_embedding" in state or "encoder.ln_post.weight" in state


def _check_openai(config: Mapping[str, Any], spec: Any) -> None:
    dims = config.get("dims", {})
    fields = {**_OPENAI_DIMS, **(_OPENAI_DECODER if spec.decoder_depth > 0 else {})}
    wrong = [f"{key}={dims[key]!r} but {field}={getattr(spec, field)!r}" for key, field in fields.items()
             if key in dims and dims[key] != getattr(spec, field)]
    if wrong:
        raise WeightsError(f"the OpenAI checkpoint's dims do not match this model: {'; '.join(wrong)}. "
                           "Pick the matching card or pass the matching overrides.")


KEY_MAPS = (
    KeyMap("huggingface", _is_hf, lambda state, spec: convert(state, spec, HF), _check_hf),
    KeyMap("openai", _is_openai, lambda state, spec: convert(state, spec, OPENAI), _check_openai),
)
