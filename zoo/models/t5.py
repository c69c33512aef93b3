"""T5 (Raffel et al., 2020): pre-norm RMSNorm encoder-decoder with relative position buckets.

v1.0 (``mlp="relu"``, ``tie_embeddings=True``) ties the LM head to the shared token embedding
and scales the decoder output by ``dim**-0.5``; v1.1 (``mlp="gated-gelu"``,
``tie_embeddings=False``) has its own unscaled LM head. Hugging Face checkpoints load through
the key map below.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Mapping, Sequence

import torch
from torch import Tensor, nn

from .. import nn as znn
from ..weights.errors import WeightsError
from ..weights.huggingface import check_hf_config
from ..weights.keymap import rename_keys
from .backbones import EncoderDecoder
from .family import Family, KeyMap
from .spec import check
from .text import check_ids, padding_bias, target_padding_bias

PAD_TOKEN_ID = 0  # also the decoder start token, as in every published T5
LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class T5Spec:
    vocab_size: int = 32128
    dim: int = 512
    depth: int = 6
    decoder_depth: int | None = None  # None: same as depth
    num_heads: int = 8
    head_dim: int = 64  # T5's d_kv; num_heads * head_dim need not equal dim
    mlp_dim: int = 2048
    mlp: Literal["relu", "gated-gelu"] = "relu"
    tie_embeddings: bool = True  # v1.0: LM head = token embedding, outputs scaled by dim**-0.5
    num_buckets: int = 32
    max_distance: int = 128
    dropout: float = 0.1
    num_classes: int = 2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "depth", "num_heads", "head_dim", "mlp_dim", "num_buckets", "max_distance"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.decoder_depth is None or self.decoder_depth > 0,
              f"decoder_depth must be positive (or None for depth), got {self.decoder_depth}")
        check(self.num_buckets >= 4, f"num_buckets must be >= 4 (exact and log-spaced, per direction), "
                                     f"got {self.num_buckets}")
        check(self.max_distance > self.num_buckets // 2,  # the decoder's exact buckets end at num_buckets // 2
              f"max_distance ({self.max_distance}) must exceed num_buckets // 2 ({self.num_buckets // 2})")
        check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def decoder_layers(self) -> int:
        return self.decoder_depth if self.decoder_depth is not None else self.depth


class OutputScale(nn.Module):
    """Multiply by a constant: T5 v1.0 rescales decoder states by dim**-0.5 before the tied LM head."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:.6g}"


def _block(spec: T5Spec, *, cross: bool) -> znn.Block:
    """One pre-norm T5 layer: no biases, unscaled dot products (scale=1), dropout everywhere."""
    attn = partial(znn.Attention, spec.dim, spec.num_heads, head_dim=spec.head_dim, bias=False, scale=1.0,
                   dropout=spec.dropout)
    norm = partial(znn.RMSNorm, spec.dim, eps=LAYER_NORM_EPS)
    if spec.mlp == "relu":
        mlp = znn.MLP(spec.dim, spec.mlp_dim, activation=nn.ReLU, bias=False, dropout=spec.dropout)
    else:  # HF "gelu_new" is the tanh approximation
        mlp = znn.GatedMLP(spec.dim, spec.mlp_dim, activation=partial(nn.GELU, approximate="tanh"),
                           bias=False, dropout=spec.dropout)
    return znn.Block(attn(), mlp, norm(), norm(), cross_attn=attn(cross=True) if cross else None,
                     norm_cross=norm() if cross else None, dropout=spec.dropout)


class T5(EncoderDecoder):
    """Token ids [B, S] (+ decoder ids [B, T]) -> decoder states [B, T, D].

    ``encode`` and ``decode`` are the two halves, used by `zoo.generation` with a KV cache.
    Each stack computes its relative position bias once and hands it to every layer.
    """

    pad_token_id = decoder_start_token_id = PAD_TOKEN_ID

    def __init__(self, spec: T5Spec) -> None:
        super().__init__()
        self.spec = spec
        self.num_features = spec.dim
        self.tie_embeddings = spec.tie_embeddings
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, spec.dim)  # shared by both stacks
        buckets = dict(num_buckets=spec.num_buckets, max_distance=spec.max_distance)
        self.encoder_positions = znn.RelativePositionBias(spec.num_heads, bidirectional=True, **buckets)
        self.decoder_positions = znn.RelativePositionBias(spec.num_heads, bidirectional=False, **buckets)
        final_norm = partial(znn.RMSNorm, spec.dim, eps=LAYER_NORM_EPS)
        self.encoder = znn.Stack([_block(spec, cross=False) for _ in range(spec.depth)], final_norm())
        self.decoder = znn.Stack([_block(spec, cross=True) for _ in range(spec.decoder_layers)], final_norm())
        self.drop = nn.Dropout(spec.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Mesh TensorFlow's initialisation (as transformers' T5): normal with fan-in-based stds."""
        spec, dim = self.spec, self.spec.dim
        inner = spec.num_heads * spec.head_dim
        nn.init.normal_(self.token_embedding.weight, std=1.0)
        for positions in (self.encoder_positions, self.decoder_positions):
            nn.init.normal_(positions.embedding.weight, std=dim**-0.5)
        for block in (*self.encoder.blocks, *self.decoder.blocks):
            for attn in (block.attn, block.cross_attn):
                if attn is None:
                    continue
                in_proj = attn.q.weight if attn.cross else attn.qkv.weight
                nn.init.normal_(attn.kv.weight if attn.cross else attn.qkv.weight, std=dim**-0.5)
                nn.init.normal_(in_proj[:inner], std=(dim * spec.head_dim) ** -0.5)  # queries
                nn.init.normal_(attn.proj.weight, std=inner**-0.5)
            nn.init.normal_(block.mlp.fc1.weight, std=dim**-0.5)
            nn.init.normal_(block.mlp.fc2.weight, std=spec.mlp_dim**-0.5)
            for norm in (block.norm_attn, block.norm_cross, block.norm_mlp):
                if norm is not None:
                    nn.init.ones_(norm.weight)

    def make_lm_transform(self) -> nn.Module:
        return OutputScale(self.spec.dim**-0.5) if self.tie_embeddings else nn.Identity()

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Source ids [B, S] (+ keep-mask [B, S]) -> encoder states [B, S, D]."""
        check_ids(input_ids)
        x = self.drop(self.token_embedding(input_ids))  # [B, S, D]
        bias = self.encoder_positions(input_ids.shape[1], input_ids.shape[1]).to(x.dtype)  # [1, H, S, S]
        padding = padding_bias(attention_mask, input_ids, x.dtype)  # [B, 1, 1, S]
        if padding is not None:
            bias = bias + padding
        return self.drop(self.encoder(x, attn_bias=bias))  # [B, S, D]

    def decode(self, decoder_input_ids: Tensor, memory: Tensor, *, memory_mask: Tensor | None = None,
               attention_mask: Tensor | None = None, caches: Sequence[znn.LayerCache] | None = None) -> Tensor:
        """Target ids [B, T] attending to ``memory`` [B, S, D] -> decoder states [B, T, D].

        ``memory_mask`` [B, S] marks real source tokens. With ``caches`` the ids are the new
        positions only and ``attention_mask`` (if any) covers every target position so far.
        """
        check_ids(decoder_input_ids, "decoder_input_ids")
        batch, new = decoder_input_ids.shape
        if memory.dim() != 3 or memory.shape[0] != batch:
            raise ValueError(f"memory must be encoder states [batch={batch}, source_len, dim], "
                             f"got {list(memory.shape)}")
        past = caches[0].self_attn.length if caches else 0
        x = self.drop(self.token_embedding(decoder_input_ids))  # [B, T, D]
        bias = self.decoder_positions(new, past + new, offset=past).to(x.dtype)  # [1, H, T, past + T]
        padding = target_padding_bias(attention_mask, batch, past, new, x.dtype)  # [B, 1, 1, past + T]
        if padding is not None:
            bias = bias + padding
        context_bias = padding_bias(memory_mask, memory[..., 0], x.dtype)  # [B, 1, 1, S]
        x = self.decoder(x, attn_bias=bias, is_causal=True, context=memory, context_bias=context_bias, caches=caches)
        return self.drop(x)  # [B, T, D]

def example_inputs(spec: T5Spec, batch_size: int) -> tuple[tuple, dict]:
    ids = torch.randint(1, spec.vocab_size, (batch_size, 12))
    mask = torch.ones_like(ids)
    mask[-1, 9:] = 0  # the last row is padded
    decoder_ids = torch.randint(1, spec.vocab_size, (batch_size, 7))
    decoder_ids[:, 0] = PAD_TOKEN_ID  # the decoder start token
    return (ids,), {"attention_mask": mask, "decoder_input_ids": decoder_ids}


# --- Hugging Face layout (T5ForConditionalGeneration, T5Model) ---------------------------
_BLOCK = r"^(encoder|decoder)\.block\.(\d+)\.layer\."
_HF_RULES = [
    (r"^shared\.", "backbone.token_embedding."),
    (r"^(encoder|decoder)\.block\.0\.layer\.0\.SelfAttention\.relative_attention_bias\.",
     r"backbone.\1_positions.embedding."),  # only the first layer of each stack has the table
    (_BLOCK + r"0\.SelfAttention\.o\.", r"backbone.\1.blocks.\2.attn.proj."),
    (_BLOCK + r"0\.layer_norm\.", r"backbone.\1.blocks.\2.norm_attn."),
    (r"^decoder\.block\.(\d+)\.layer\.1\.EncDecAttention\.q\.", r"backbone.decoder.blocks.\1.cross_attn.q."),
    (r"^decoder\.block\.(\d+)\.layer\.1\.EncDecAttention\.o\.", r"backbone.decoder.blocks.\1.cross_attn.proj."),
    (r"^decoder\.block\.(\d+)\.layer\.1\.layer_norm\.", r"backbone.decoder.blocks.\1.norm_cross."),
    (_BLOCK + r"\d\.DenseReluDense\.wi\.", r"backbone.\1.blocks.\2.mlp.fc1."),
    (_BLOCK + r"\d\.DenseReluDense\.wo\.", r"backbone.\1.blocks.\2.mlp.fc2."),
    (_BLOCK + r"\d\.layer_norm\.", r"backbone.\1.blocks.\2.norm_mlp."),  # FF norm: layer 1 (enc), 2 (dec)
    (r"^(encoder|decoder)\.final_layer_norm\.", r"backbone.\1.norm."),
    (r"^lm_head\.", "head.decoder."),
]
# copies of `shared` (tied), and a cross-attention bias table transformers creates but never uses
_DROPPED = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
            "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight")


def _is_hf(state: Mapping[str, Tensor]) -> bool:
    return any(k.endswith("SelfAttention.q.weight") for k in state)


def _fuse(state: dict[str, Tensor], prefix: str, names: Sequence[str]) -> Tensor | None:
    parts = [state.pop(f"{prefix}{name}.weight", None) for name in names]
    return torch.cat(parts, dim=0) if all(p is not None for p in parts) else None


def _from_hf(state: Mapping[str, Tensor], spec: T5Spec) -> dict[str, Tensor]:
    state = {k: v for k, v in state.items() if k not in _DROPPED}
    if "lm_head.weight" in state and spec.tie_embeddings and "shared.weight" in state:
        if not torch.equal(state.pop("lm_head.weight"), state["shared.weight"]):
            raise WeightsError("this T5 checkpoint has its own lm_head, but the model ties the LM head to the "
                               "token embedding (tie_embeddings=true); use a v1.1 card or tie_embeddings=false")
    elif "lm_head.weight" not in state and not spec.tie_embeddings and "shared.weight" in state:
        state["lm_head.weight"] = state["shared.weight"]  # transformers 5 ties a missing lm_head to `shared`
    fused = {}
    for stack, depth in (("encoder", spec.depth), ("decoder", spec.decoder_layers)):
        for i in range(depth):
            prefix = f"{stack}.block.{i}.layer."
            fused[f"backbone.{stack}.blocks.{i}.attn.qkv.weight"] = _fuse(
                state, prefix + "0.SelfAttention.", ("q", "k", "v"))
            fused[f"backbone.{stack}.blocks.{i}.mlp.fc1.weight"] = _fuse(
                state, f"{prefix}{1 if stack == 'encoder' else 2}.DenseReluDense.", ("wi_0", "wi_1"))  # gate, up
            if stack == "decoder":
                fused[f"backbone.decoder.blocks.{i}.cross_attn.kv.weight"] = _fuse(
                    state, prefix + "1.EncDecAttention.", ("k", "v"))
    return {**rename_keys(state, _HF_RULES), **{k: v for k, v in fused.items() if v is not None}}


_HF_FIELDS = {  # Hugging Face config key -> spec field
    "vocab_size": "vocab_size", "d_model": "dim", "d_kv": "head_dim", "d_ff": "mlp_dim", "num_layers": "depth",
    "num_decoder_layers": "decoder_layers", "num_heads": "num_heads",
    "relative_attention_num_buckets": "num_buckets", "relative_attention_max_distance": "max_distance",
    "feed_forward_proj": "mlp",
}


def _check_hf(config: Mapping[str, Any], spec: T5Spec) -> None:
    check_hf_config(config, spec, _HF_FIELDS, {"model_type": "t5", "layer_norm_epsilon": LAYER_NORM_EPS,
                                               "pad_token_id": PAD_TOKEN_ID,
                                               "decoder_start_token_id": PAD_TOKEN_ID}, "t5")
    # transformers 5 records the output scaling itself; older configs imply it by tie_word_embeddings
    scaled = config.get("scale_decoder_outputs", config.get("tie_word_embeddings", True) is not False)
    if scaled != spec.tie_embeddings:
        raise WeightsError(f"the Hugging Face config {'scales' if scaled else 'does not scale'} the decoder output "
                           f"(a {'v1.0' if scaled else 'v1.1'} T5) but tie_embeddings={spec.tie_embeddings}. "
                           "Pick the matching card or pass the matching overrides.")


FAMILY = Family(
    name="t5",
    spec=T5Spec,
    build=T5,
    example_inputs=example_inputs,
    key_maps=(KeyMap("huggingface", _is_hf, _from_hf, _check_hf),),
    smoke_overrides={"vocab_size": 97, "dim": 32, "depth": 2, "num_heads": 2, "head_dim": 16, "mlp_dim": 64,
                     "num_buckets": 8, "max_distance": 16, "num_classes": 3},
)
