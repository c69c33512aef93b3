"""BERT (Devlin et al., 2019): post-norm encoder over token + position + segment embeddings."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from .. import nn as znn
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .family import Family, KeyMap
from .spec import check
from .text import check_ids, example_token_inputs, padding_bias


@dataclass(frozen=True)
class BertSpec:
    vocab_size: int = 30522
    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2
    num_classes: int = 2
    dropout: float = 0.1
    attn_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "depth", "num_heads", "mlp_dim", "max_positions", "type_vocab_size"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.dim % self.num_heads == 0, f"dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        check(0 <= self.pad_token_id < self.vocab_size, f"pad_token_id must be in [0, vocab_size), got {self.pad_token_id}")
        for name in ("dropout", "attn_dropout"):
            check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): BERT's sentence vector for classification."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return torch.tanh(self.dense(x[:, 0]))  # [B, D]


class Bert(nn.Module):
    """Token ids [B, T] (+ attention_mask, token_type_ids) -> token features [B, T, D]."""

    modality = "text"
    architecture = "encoder"
    tie_embeddings = True  # the masked-LM decoder shares the word embedding
    lm_bias = True

    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        self.spec = spec
        dim = self.num_features = spec.dim
        norm = partial(nn.LayerNorm, dim, eps=spec.layer_norm_eps)
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, dim, padding_idx=spec.pad_token_id)
        self.positions = znn.LearnedPositions(spec.max_positions, dim)
        self.token_types = znn.TokenEmbedding(spec.type_vocab_size, dim, name="token_type_ids")
        self.embed_norm = norm()
        self.embed_drop = nn.Dropout(spec.dropout)
        self.stack = znn.Stack([
            znn.Block(
                znn.Attention(dim, spec.num_heads, dropout=spec.attn_dropout),
                znn.MLP(dim, spec.mlp_dim, activation=nn.GELU),
                norm(), norm(), post_norm=True, dropout=spec.dropout,
            )
            for _ in range(spec.depth)
        ])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.apply(znn.init_trunc_normal)
        with torch.no_grad():
            self.token_embedding.weight[self.spec.pad_token_id].zero_()

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        return BertPooler(self.spec.dim)

    def make_lm_transform(self) -> nn.Module:
        """dense -> GELU -> LayerNorm before the tied vocabulary projection."""
        return nn.Sequential(nn.Linear(self.spec.dim, self.spec.dim), nn.GELU(),
                             nn.LayerNorm(self.spec.dim, eps=self.spec.layer_norm_eps))

    def _token_types(self, token_type_ids: Tensor | None, input_ids: Tensor) -> Tensor:
        """Segment embeddings [B, T, D], or [D] for segment 0 everywhere (no ids to look up or check)."""
        if token_type_ids is None:
            return self.token_types.weight[0]  # [D]
        check_ids(token_type_ids, "token_type_ids")
        if token_type_ids.shape != input_ids.shape:
            raise ValueError(f"token_type_ids must have the shape of input_ids {list(input_ids.shape)}, "
                             f"got {list(token_type_ids.shape)}")
        return self.token_types(token_type_ids)  # [B, T, D]

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> Tensor:
        check_ids(input_ids)
        x = self.token_embedding(input_ids) + self._token_types(token_type_ids, input_ids)  # [B, T, D]
        x = x + self.positions(input_ids.shape[1])
        x = self.embed_drop(self.embed_norm(x))
        bias = padding_bias(attention_mask, input_ids, x.dtype)
        return self.stack(x, attn_bias=bias)  # [B, T, D]



# --- Hugging Face layout ------------------------------------------------------------------
_HF_RULES = [
    (r"^embeddings\.word_embeddings\.", "backbone.token_embedding."),
    (r"^embeddings\.position_embeddings\.", "backbone.positions."),
    (r"^embeddings\.token_type_embeddings\.", "backbone.token_types."),
    (r"^embeddings\.LayerNorm\.", "backbone.embed_norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"backbone.stack.blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"backbone.stack.blocks.\1.norm_attn."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"backbone.stack.blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"backbone.stack.blocks.\1.mlp.fc2."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"backbone.stack.blocks.\1.norm_mlp."),
    (r"^pooler\.dense\.", "head.pool.dense."),
    (r"^cls\.predictions\.transform\.dense\.", "head.transform.0."),
    (r"^cls\.predictions\.transform\.LayerNorm\.", "head.transform.2."),
    (r"^cls\.predictions\.decoder\.weight$", "head.decoder.weight"),
    (r"^cls\.predictions\.bias$", "head.decoder.bias"),
    (r"^cls\.seq_relationship\.", "head.next_sentence."),  # pre-training's NSP head: no zoo task uses it
    (r"^classifier\.", "head.fc."),  # For{Sequence,Token}Classification; ForMultipleChoice: Linear(dim, 1)
]
_DROPPED = ("embeddings.position_ids", "cls.predictions.decoder.bias")  # a buffer; an alias of predictions.bias


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k.endswith("attention.self.query.weight") for k in state)


def _from_hf(state: Mapping[str, Tensor], spec: BertSpec) -> dict[str, Tensor]:
    state = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in state.items()
             if not k.endswith(_DROPPED)}
    state = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
             for k, v in state.items()}  # checkpoints converted from TensorFlow
    fused = {}
    for layer in range(spec.depth):
        prefix = f"encoder.layer.{layer}.attention.self."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{prefix}{name}.{kind}", None) for name in ("query", "key", "value")]
            if all(p is not None for p in parts):
                fused[f"backbone.stack.blocks.{layer}.attn.qkv.{kind}"] = torch.cat(parts, dim=0)
    return {**rename_keys(state, _HF_RULES), **fused}


_HF_FIELDS = {  # Hugging Face config key -> spec field
    "vocab_size": "vocab_size", "hidden_size": "dim", "num_hidden_layers": "depth",
    "num_attention_heads": "num_heads", "intermediate_size": "mlp_dim",
    "max_position_embeddings": "max_positions", "type_vocab_size": "type_vocab_size",
    "layer_norm_eps": "layer_norm_eps",
}


def _check_hf(config: Mapping[str, Any], spec: BertSpec) -> None:
    check_hf_config(config, spec, _HF_FIELDS, {"model_type": "bert", "hidden_act": "gelu",
                                               "position_embedding_type": "absolute"}, "bert")


FAMILY = Family(
    name="bert",
    spec=BertSpec,
    build=Bert,
    example_inputs=example_token_inputs,
    key_maps=(KeyMap("huggingface", _is_hf, _from_hf, _check_hf),),
    smoke_overrides={"vocab_size": 97, "dim": 32, "depth": 2, "num_heads": 2, "mlp_dim": 64, "max_positions": 32,
                     "num_classes": 3},
)
