"""LLaMA-style decoder (Touvron et al., 2023): RMSNorm, rotary positions, SwiGLU, grouped-query attention."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from .. import nn as znn
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .family import Family, KeyMap
from .spec import check
from .backbones import DecoderOnly
from .text import check_ids, decoder_padding_bias, example_token_inputs, positions_from_mask


@dataclass(frozen=True)
class LlamaSpec:
    vocab_size: int = 32000
    dim: int = 4096
    depth: int = 32
    num_heads: int = 32
    num_kv_heads: int | None = None  # None: num_heads (multi-head); fewer: grouped-query attention
    mlp_dim: int = 11008
    max_positions: int = 2048
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    tie_embeddings: bool = False
    num_classes: int = 2
    dropout: float = 0.0  # attention probabilities

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "depth", "num_heads", "mlp_dim", "max_positions"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check((self.dim // self.num_heads) % 2 == 0, f"rotary positions need an even head dim, got "
                                                      f"{self.dim // self.num_heads}")
        check(self.num_kv_heads is None or self.num_kv_heads > 0,
              f"num_kv_heads must be positive (or unset: num_heads), got {self.num_kv_heads}")
        check(self.num_heads % self.kv_heads == 0,
              f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})")
        check(self.rope_base > 1.0, f"rope_base must be > 1, got {self.rope_base}")
        check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_heads


class Llama(DecoderOnly):
    """Token ids [B, T] (+ attention_mask, KV caches) -> token features [B, T, D], causal."""

    modality = "text"
    architecture = "decoder"
    lm_bias = False

    def __init__(self, spec: LlamaSpec) -> None:
        super().__init__()
        self.spec = spec
        self.tie_embeddings = spec.tie_embeddings
        dim = self.num_features = spec.dim
        norm = partial(znn.RMSNorm, dim, eps=spec.norm_eps)
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, dim)
        self.rotary = znn.RotaryEmbedding(dim // spec.num_heads, base=spec.rope_base)  # shared by every layer
        self.stack = znn.Stack([
            znn.Block(
                znn.Attention(dim, spec.num_heads, num_kv_heads=spec.kv_heads, bias=False, dropout=spec.dropout),
                znn.GatedMLP(dim, spec.mlp_dim, activation=nn.SiLU),
                norm(), norm(),
            )
            for _ in range(spec.depth)
        ], norm=norm())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 0.02) weights, unit norms; residual output projections scaled by 1/sqrt(2 * depth)."""
        self.apply(znn.init_trunc_normal)
        self.scale_residual_init()

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                caches: Sequence[znn.LayerCache] | None = None) -> Tensor:
        """``attention_mask`` covers the cached and the new tokens ([B, past + T], 1 = token, 0 = padding)."""
        check_ids(input_ids)
        past = caches[0].self_attn.length if caches else 0
        seq_len = input_ids.shape[1]
        self.check_length(past + seq_len)
        x = self.token_embedding(input_ids)  # [B, T, D]
        bias = decoder_padding_bias(attention_mask, input_ids, past, x.dtype)  # [B, 1, 1, past + T] or None
        if attention_mask is None:
            rotary = self.rotary(seq_len, past)  # cos, sin [T, hd]
        else:  # count real tokens only, so left-padded prompts rotate as their unpadded selves
            positions = positions_from_mask(attention_mask, seq_len, past, x.device)  # [B, T]
            rotary = self.rotary.at(positions[:, None])  # cos, sin [B, 1, T, hd]
        return self.stack(x, attn_bias=bias, is_causal=True, rotary=rotary, caches=caches)  # [B, T, D]



# --- Hugging Face layout ------------------------------------------------------------------
_HF_RULES = [
    (r"^embed_tokens\.", "backbone.token_embedding."),
    (r"^layers\.(\d+)\.self_attn\.o_proj\.", r"backbone.stack.blocks.\1.attn.proj."),
    (r"^layers\.(\d+)\.mlp\.down_proj\.", r"backbone.stack.blocks.\1.mlp.fc2."),
    (r"^layers\.(\d+)\.input_layernorm\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^layers\.(\d+)\.post_attention_layernorm\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^norm\.", "backbone.stack.norm."),
    (r"^lm_head\.weight$", "head.decoder.weight"),
    (r"^score\.", "head.fc."),  # LlamaForSequenceClassification
]
_DROPPED = ("rotary_emb.inv_freq",)  # a buffer in older checkpoints; ours is recomputed


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k.endswith("self_attn.q_proj.weight") for k in state)


def _fuse(state: dict[str, Tensor], parts: Sequence[str], target: str) -> dict[str, Tensor]:
    """Pop ``parts`` (all or none present) and concatenate them row-wise under ``target``."""
    found = [state.pop(p, None) for p in parts]
    return {target: torch.cat(found, dim=0)} if all(f is not None for f in found) else {}


def _from_hf(state: Mapping[str, Tensor], spec: LlamaSpec) -> dict[str, Tensor]:
    state = {k.removeprefix("model."): v for k, v in state.items() if not k.endswith(_DROPPED)}
    if "score.weight" in state and "score.bias" not in state:  # HF's score has no bias: ours is zero
        state["score.bias"] = state["score.weight"].new_zeros(state["score.weight"].shape[0])
    fused: dict[str, Tensor] = {}
    for i in range(spec.depth):
        attn, mlp, block = f"layers.{i}.self_attn.", f"layers.{i}.mlp.", f"backbone.stack.blocks.{i}."
        fused |= _fuse(state, [f"{attn}{p}_proj.weight" for p in "qkv"], f"{block}attn.qkv.weight")
        fused |= _fuse(state, [f"{mlp}{p}_proj.weight" for p in ("gate", "up")], f"{block}mlp.fc1.weight")  # gate first
    return {**rename_keys(state, _HF_RULES), **fused}


_HF_FIELDS = {  # Hugging Face config key -> spec field
    "vocab_size": "vocab_size", "hidden_size": "dim", "num_hidden_layers": "depth",
    "num_attention_heads": "num_heads", "num_key_value_heads": "kv_heads", "intermediate_size": "mlp_dim",
    "max_position_embeddings": "max_positions", "rms_norm_eps": "norm_eps", "rope_theta": "rope_base",
    "tie_word_embeddings": "tie_embeddings",
}


def _check_hf(config: Mapping[str, Any], spec: LlamaSpec) -> None:
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}  # transformers 5 / 4 layouts
    flat = {**config, "rope_type": rope.get("rope_type", rope.get("type", "default"))}
    if "rope_theta" in rope:
        flat["rope_theta"] = rope["rope_theta"]
    if flat.get("num_key_value_heads") is None:
        flat["num_key_value_heads"] = config.get("num_attention_heads", spec.num_heads)
    if flat.get("head_dim") is None:
        flat.pop("head_dim", None)
    check_hf_config(flat, spec, _HF_FIELDS, {
        "model_type": "llama", "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "rope_type": "default", "head_dim": spec.dim // spec.num_heads,
    }, "llama")


FAMILY = Family(
    name="llama",
    spec=LlamaSpec,
    build=Llama,
    example_inputs=example_token_inputs,
    key_maps=(KeyMap("huggingface", _is_hf, _from_hf, _check_hf),),
    smoke_overrides={"vocab_size": 97, "dim": 32, "depth": 2, "num_heads": 4, "num_kv_heads": 2, "mlp_dim": 48,
                     "max_positions": 32, "num_classes": 3},
)
