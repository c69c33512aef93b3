"""GPT-2 (Radford et al., 2019): pre-norm causal decoder with learned positions and a tied LM head."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping, Sequence

from torch import Tensor, nn

from .. import nn as znn
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .family import Family, KeyMap
from .spec import check
from .backbones import DecoderOnly
from .text import check_ids, decoder_padding_bias, example_token_inputs, positions_from_mask


@dataclass(frozen=True)
class GPT2Spec:
    vocab_size: int = 50257
    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int | None = None  # None: 4 * dim, as GPT-2's n_inner
    max_positions: int = 1024
    num_classes: int = 2
    dropout: float = 0.1  # embeddings and residual branches
    attn_dropout: float = 0.1
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "depth", "num_heads", "max_positions"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.mlp_dim is None or self.mlp_dim > 0, f"mlp_dim must be positive (or unset), got {self.mlp_dim}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        for name in ("dropout", "attn_dropout"):
            check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def hidden_dim(self) -> int:
        return self.mlp_dim or 4 * self.dim


class GPT2(DecoderOnly):
    """Token ids [B, T] (+ attention_mask, KV caches) -> token features [B, T, D], causal."""

    modality = "text"
    architecture = "decoder"
    tie_embeddings = True  # the LM head reuses the token embedding
    lm_bias = False

    def __init__(self, spec: GPT2Spec) -> None:
        super().__init__()
        self.spec = spec
        dim = self.num_features = spec.dim
        norm = partial(nn.LayerNorm, dim, eps=spec.layer_norm_eps)
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, dim)
        self.positions = znn.LearnedPositions(spec.max_positions, dim)
        self.embed_drop = nn.Dropout(spec.dropout)
        self.stack = znn.Stack([
            znn.Block(
                znn.Attention(dim, spec.num_heads, dropout=spec.attn_dropout),
                znn.MLP(dim, spec.hidden_dim, activation=partial(nn.GELU, approximate="tanh")),
                norm(), norm(), dropout=spec.dropout,
            )
            for _ in range(spec.depth)
        ], norm=norm())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 0.02) everywhere; residual output projections scaled by 1/sqrt(2 * depth), as in GPT-2."""
        self.apply(znn.init_trunc_normal)
        nn.init.trunc_normal_(self.positions.weight, std=0.02)
        self.scale_residual_init()

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                caches: Sequence[znn.LayerCache] | None = None) -> Tensor:
        """``attention_mask`` covers the cached and the new tokens ([B, past + T], 1 = token, 0 = padding)."""
        check_ids(input_ids)
        past = caches[0].self_attn.length if caches else 0
        seq_len = input_ids.shape[1]
        x = self.token_embedding(input_ids)  # [B, T, D]
        bias = decoder_padding_bias(attention_mask, input_ids, past, x.dtype)  # [B, 1, 1, past + T] or None
        if attention_mask is None:
            x = x + self.positions(seq_len, past)  # [T, D]
        else:  # count real tokens only, so left-padded prompts get their unpadded positions
            self.check_length(past + seq_len)
            x = x + self.positions.lookup(positions_from_mask(attention_mask, seq_len, past, x.device))
        x = self.embed_drop(x)
        return self.stack(x, attn_bias=bias, is_causal=True, caches=caches)  # [B, T, D]



# --- Hugging Face layout ------------------------------------------------------------------
_HF_RULES = [
    (r"^wte\.", "backbone.token_embedding."),
    (r"^wpe\.", "backbone.positions."),
    (r"^h\.(\d+)\.ln_1\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^h\.(\d+)\.attn\.c_attn\.", r"backbone.stack.blocks.\1.attn.qkv."),
    (r"^h\.(\d+)\.attn\.c_proj\.", r"backbone.stack.blocks.\1.attn.proj."),
    (r"^h\.(\d+)\.ln_2\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^h\.(\d+)\.mlp\.c_fc\.", r"backbone.stack.blocks.\1.mlp.fc1."),
    (r"^h\.(\d+)\.mlp\.c_proj\.", r"backbone.stack.blocks.\1.mlp.fc2."),
    (r"^ln_f\.", "backbone.stack.norm."),
    (r"^lm_head\.weight$", "head.decoder.weight"),  # tied: loaded through the embedding
    (r"^score\.", "head.fc."),  # GPT2ForSequenceClassification
    (r"^classifier\.", "head.fc."),  # GPT2ForTokenClassification
]
_CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
_BUFFERS = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers of older checkpoints


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k.endswith("attn.c_attn.weight") for k in state)


def _from_hf(state: Mapping[str, Tensor], spec: GPT2Spec) -> dict[str, Tensor]:
    state = {k.removeprefix("transformer."): v for k, v in state.items() if not k.endswith(_BUFFERS)}
    state = {k: v.t() if k.endswith(_CONV1D) else v for k, v in state.items()}  # Conv1D is [in, out]
    if "score.weight" in state and "score.bias" not in state:  # HF's score has no bias: ours is zero
        state["score.bias"] = state["score.weight"].new_zeros(state["score.weight"].shape[0])
    return rename_keys(state, _HF_RULES)


_HF_FIELDS = {  # Hugging Face config key -> spec field
    "vocab_size": "vocab_size", "n_embd": "dim", "n_layer": "depth", "n_head": "num_heads",
    "n_inner": "mlp_dim", "n_positions": "max_positions", "layer_norm_epsilon": "layer_norm_eps",
}
_HF_FIXED = {"model_type": "gpt2", "activation_function": "gelu_new", "scale_attn_weights": True,
             "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False}


def _check_hf(config: Mapping[str, Any], spec: GPT2Spec) -> None:
    config = {**config, "n_inner": config.get("n_inner") or 4 * config.get("n_embd", spec.dim)}
    check_hf_config(config, dataclasses.replace(spec, mlp_dim=spec.hidden_dim), _HF_FIELDS, _HF_FIXED, "gpt2")


FAMILY = Family(
    name="gpt2",
    spec=GPT2Spec,
    build=GPT2,
    example_inputs=example_token_inputs,
    key_maps=(KeyMap("huggingface", _is_hf, _from_hf, _check_hf),),
    smoke_overrides={"vocab_size": 97, "dim": 32, "depth": 2, "num_heads": 2, "max_positions": 32, "num_classes": 3},
)
