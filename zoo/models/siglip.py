"""SigLIP (Zhai et al., 2023) and SigLIP 2: a ViT image tower without a class token, pooled by
multi-head attention ("MAP"); a bidirectional text tower pooled at its last position (texts are
padded to the context length); a sigmoid loss with a learned scale and bias. Hugging Face layout."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Mapping

from torch import Tensor, nn

from .. import nn as znn
from ..weights.keymap import rename_keys
from .family import Family, KeyMap
from .image_text import (Contrastive, DualEncoder, ImageTextSpec, LastPosition, TextTower, HF_TOWER_FIELDS,
                         build_towers, check_hf_sections, drop_unbuilt, example_inputs, hf_tower_layers,
                         hf_with_tower_prefix, image_tower, is_hf_layout, tower_prefixes)

EPS = 1e-6
CONTRASTIVE = Contrastive("sigmoid", scale_init=2.302585, bias_init=-10.0)  # log(10) and -10, as SigLIP starts


@dataclass(frozen=True)
class SigLIPSpec(ImageTextSpec):
    embed_dim: int = 768
    patch_size: int = 16
    vocab_size: int = 32000
    context_length: int = 64
    text_width: int = 768
    text_heads: int = 12
    text_mlp_dim: int = 3072
    activation: Literal["gelu", "gelu_tanh", "quick_gelu"] = "gelu_tanh"


def _attention_pool(spec: SigLIPSpec) -> znn.AttentionPool:
    dim = spec.vision_width
    return znn.AttentionPool(znn.Attention(dim, spec.vision_heads, cross=True), nn.LayerNorm(dim, eps=EPS),
                             znn.MLP(dim, spec.vision_mlp_dim, activation=znn.ACTIVATIONS[spec.activation]), dim)


def build(spec: SigLIPSpec) -> nn.Module:
    # image-classification on the image tower alone averages the tokens, as transformers' SigLIP classifier does
    image = partial(image_tower, spec, class_token=False, norm_pre=False, patch_bias=True, eps=EPS, global_pool="avg")
    text = partial(TextTower, spec, causal=False, eps=EPS)

    def join(image: nn.Module, text: TextTower) -> DualEncoder:
        if spec.embed_dim != spec.vision_width:
            raise ValueError(f"SigLIP's image embedding is its attention pool's output: embed_dim ({spec.embed_dim}) "
                             f"must equal vision_width ({spec.vision_width})")
        pool = _attention_pool(spec)
        nn.init.xavier_uniform_(pool.probe)
        pool.apply(znn.init_trunc_normal)
        return DualEncoder(spec, image, text, image_pool=pool, image_proj=nn.Identity(), text_pool=LastPosition(),
                           text_proj=nn.Linear(spec.text_width, spec.embed_dim), contrastive=CONTRASTIVE)

    return build_towers(spec, image, text, join)


def _example_inputs(spec: SigLIPSpec, batch_size: int) -> tuple[tuple, dict]:
    return example_inputs(spec, batch_size)


# --- Hugging Face layout (SiglipModel, SiglipVisionModel, SiglipTextModel; SigLIP 2's fixed-size
# checkpoints use the same classes) --------------------------------------------------------------
_IMAGE_KEYS, _TEXT_KEYS = ("vision_model.",), ("text_model.",)
_JOINT_KEYS = ("vision_model.head.", "text_model.head.", "logit_scale", "logit_bias")
_HF_RULES = [
    (r"^vision_model\.embeddings\.patch_embedding\.", "{image}patch_embed.proj."),
    (r"^vision_model\.embeddings\.position_embedding\.", "{image}pos_embed."),
    (r"^vision_model\.post_layernorm\.", "{image}stack.norm."),
    (r"^vision_model\.head\.probe$", "backbone.image_pool.probe"),
    (r"^vision_model\.head\.attention\.out_proj\.", "backbone.image_pool.attn.proj."),
    (r"^vision_model\.head\.layernorm\.", "backbone.image_pool.norm."),
    (r"^vision_model\.head\.mlp\.(fc1|fc2)\.", r"backbone.image_pool.mlp.\1."),
    (r"^text_model\.embeddings\.token_embedding\.", "{text}token_embedding."),
    (r"^text_model\.embeddings\.position_embedding\.", "{text}pos_embed."),
    (r"^text_model\.final_layer_norm\.", "{text}stack.norm."),
    (r"^text_model\.head\.", "backbone.text_proj."),
    (r"^logit_scale$", "head.pairs.logit_scale"),
    (r"^logit_bias$", "head.pairs.logit_bias"),
]


def _from_hf(state: Mapping[str, Tensor], spec: SigLIPSpec) -> dict[str, Tensor]:
    state = {k: v for k, v in hf_with_tower_prefix(state).items() if not k.endswith("position_ids")}
    # the vision tower's MAP head is a joining part here; keep it only when both towers are built
    if spec.modality != "image-text":
        state = {k: v for k, v in state.items() if not k.startswith(_JOINT_KEYS)}
    state = drop_unbuilt(state, spec, _IMAGE_KEYS, _TEXT_KEYS, _JOINT_KEYS, "SigLIP")
    where = tower_prefixes(spec)
    out = hf_tower_layers(state, "vision_model.", where["image"], spec.vision_depth)
    out.update(hf_tower_layers(state, "text_model.", where["text"], spec.text_depth))
    for kind in ("weight", "bias"):  # nn.MultiheadAttention's packed projection: queries, then keys and values
        packed = state.pop(f"vision_model.head.attention.in_proj_{kind}", None)
        if packed is not None:
            q, kv = packed.split([spec.vision_width, 2 * spec.vision_width])
            out[f"backbone.image_pool.attn.q.{kind}"], out[f"backbone.image_pool.attn.kv.{kind}"] = q, kv
    rules = [(pattern, target.format(**where)) for pattern, target in _HF_RULES]
    out = {**rename_keys(state, rules), **out}
    for key in ("head.pairs.logit_scale", "head.pairs.logit_bias"):
        if key in out:
            out[key] = out[key].reshape(())  # [1] -> a scalar
    return out


_HF_FIELDS = {**HF_TOWER_FIELDS, "text": {**HF_TOWER_FIELDS["text"], "projection_size": "embed_dim"}}


def _check_hf(config: Mapping[str, Any], spec: SigLIPSpec) -> None:
    if config.get("vision_config", {}).get("vision_use_head") is False:
        from ..weights.errors import WeightsError

        raise WeightsError("this SigLIP checkpoint has no attention-pooling head (vision_use_head false); "
                           "the siglip family pools with one")
    check_hf_sections(config, spec, _HF_FIELDS, "siglip")


FAMILY = Family(
    name="siglip",
    spec=SigLIPSpec,
    build=build,
    example_inputs=_example_inputs,
    key_maps=(KeyMap("huggingface", is_hf_layout, _from_hf, _check_hf),),
    smoke_overrides={"embed_dim": 32, "img_size": 32, "patch_size": 8, "vision_width": 32, "vision_depth": 2,
                     "vision_heads": 2, "vision_mlp_dim": 64, "vocab_size": 99, "context_length": 16,
                     "text_width": 32, "text_depth": 2, "text_heads": 2, "text_mlp_dim": 64, "num_classes": 5},
)
