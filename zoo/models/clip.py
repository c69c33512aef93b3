"""CLIP (Radford et al., 2021): a ViT image tower with a LayerNorm before its blocks, pooled at the
class token; a causal text tower pooled at the end-of-text token; linear projections into one
space; softmax contrastive loss with a learned temperature. Hugging Face and open_clip layouts."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Mapping

from torch import Tensor, nn

from .. import nn as znn
from ..weights.keymap import rename_keys
from .clip_open_clip import OPEN_CLIP
from .family import Family, KeyMap
from .image_text import (Contrastive, DualEncoder, FirstTokenOf, ImageTextSpec, TextTower, HF_TOWER_FIELDS,
                         build_towers, check_hf_sections, drop_unbuilt, example_inputs, hf_tower_layers,
                         hf_with_tower_prefix, image_tower, is_hf_layout, tower_prefixes)
from .spec import check

EPS = 1e-5
CONTRASTIVE = Contrastive("softmax", scale_init=2.6592)  # log(1 / 0.07), as CLIP starts


@dataclass(frozen=True)
class CLIPSpec(ImageTextSpec):
    activation: Literal["gelu", "gelu_tanh", "quick_gelu"] = "quick_gelu"  # OpenAI's weights
    eos_token_id: int = 49407  # the text tower pools at each row's first end-of-text token

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 <= self.eos_token_id < self.vocab_size,
              f"eos_token_id must be a token id in [0, vocab_size={self.vocab_size}), got {self.eos_token_id}")


def _projection(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim, bias=False)
    nn.init.normal_(layer.weight, std=in_dim ** -0.5)
    return layer


def build(spec: CLIPSpec) -> nn.Module:
    image = partial(image_tower, spec, class_token=True, norm_pre=True, patch_bias=False, eps=EPS, global_pool="token")
    text = partial(TextTower, spec, causal=True, eps=EPS)

    def join(image: nn.Module, text: TextTower) -> DualEncoder:
        # the image tower's final norm is CLIP's post-LayerNorm (per token, so the class token's is the same)
        return DualEncoder(spec, image, text, image_pool=znn.TokenPool("token"),
                           image_proj=_projection(spec.vision_width, spec.embed_dim),
                           text_pool=FirstTokenOf(spec.eos_token_id),
                           text_proj=_projection(spec.text_width, spec.embed_dim), contrastive=CONTRASTIVE)

    return build_towers(spec, image, text, join)


def _example_inputs(spec: CLIPSpec, batch_size: int) -> tuple[tuple, dict]:
    return example_inputs(spec, batch_size, eos_token_id=spec.eos_token_id)


# --- Hugging Face layout (CLIPModel, CLIPVisionModel, CLIPTextModel, ...WithProjection) -----------
_IMAGE_KEYS, _TEXT_KEYS = ("vision_model.",), ("text_model.",)
_JOINT_KEYS = ("visual_projection.", "text_projection.", "logit_scale")
_HF_RULES = [
    (r"^vision_model\.embeddings\.patch_embedding\.", "{image}patch_embed.proj."),
    (r"^vision_model\.embeddings\.position_embedding\.", "{image}pos_embed."),
    (r"^vision_model\.pre_layrnorm\.", "{image}norm_pre."),
    (r"^vision_model\.post_layernorm\.", "{image}stack.norm."),
    (r"^text_model\.embeddings\.token_embedding\.", "{text}token_embedding."),
    (r"^text_model\.embeddings\.position_embedding\.", "{text}pos_embed."),
    (r"^text_model\.final_layer_norm\.", "{text}stack.norm."),
    (r"^visual_projection\.", "backbone.image_proj."),
    (r"^text_projection\.", "backbone.text_proj."),
    (r"^logit_scale$", "head.pairs.logit_scale"),
]


def _from_hf(state: Mapping[str, Tensor], spec: CLIPSpec) -> dict[str, Tensor]:
    state = {k: v for k, v in hf_with_tower_prefix(state).items() if not k.endswith("position_ids")}  # buffers, not weights
    state = drop_unbuilt(state, spec, _IMAGE_KEYS, _TEXT_KEYS, _JOINT_KEYS, "CLIP")
    where = tower_prefixes(spec)
    out = hf_tower_layers(state, "vision_model.", where["image"], spec.vision_depth)
    out.update(hf_tower_layers(state, "text_model.", where["text"], spec.text_depth))
    cls = state.pop("vision_model.embeddings.class_embedding", None)
    if cls is not None:
        out[where["image"] + "cls_token"] = cls.reshape(1, 1, -1)  # [D] -> [1, 1, D]
    rules = [(pattern, target.format(**where)) for pattern, target in _HF_RULES]
    return {**rename_keys(state, rules), **out}


_HF_FIELDS = {**HF_TOWER_FIELDS, "": {"projection_dim": "embed_dim"}}


def _check_hf(config: Mapping[str, Any], spec: CLIPSpec) -> None:
    check_hf_sections(config, spec, _HF_FIELDS, "clip")


FAMILY = Family(
    name="clip",
    spec=CLIPSpec,
    build=build,
    example_inputs=_example_inputs,
    key_maps=(KeyMap("huggingface", is_hf_layout, _from_hf, _check_hf), OPEN_CLIP),
    smoke_overrides={"embed_dim": 24, "img_size": 32, "patch_size": 8, "vision_width": 32, "vision_depth": 2,
                     "vision_heads": 2, "vision_mlp_dim": 64, "vocab_size": 99, "context_length": 16,
                     "text_width": 32, "text_depth": 2, "text_heads": 2, "text_mlp_dim": 64, "eos_token_id": 98,
                     "num_classes": 5},
)
