"""open_clip's layout for the clip family: the state dict of open_clip's ``CLIP`` class with OpenAI's
towers (a ViT pooled at its class token, the causal text transformer), as open_clip saves it
(``open_clip_model.safetensors``, ``open_clip_pytorch_model.bin``, ``epoch_*.pt`` training checkpoints)
and OpenAI's own ``clip`` package holds it; ``open_clip_config.json``'s ``model_cfg`` is checked
against the spec.

The other open_clip models (``CustomTextCLIP``'s ``text.*`` towers, timm image towers, attentional
pooling, ResNet image towers, CoCa, layer scale, custom attention blocks) are refused by name.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from torch import Tensor

from ..weights.errors import WeightsError
from ..weights.keymap import rename_keys
from .family import KeyMap
from .image_text import drop_unbuilt, tower_prefixes

_IMAGE_KEYS = ("visual.",)
_TEXT_KEYS = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.")
_JOINT_KEYS = ("text_projection", "logit_scale", "logit_bias")
_MARKERS = (*_IMAGE_KEYS, *_TEXT_KEYS, "text_projection", "text.", "class_embedding", "conv1.weight")
SUPPORTED = ("open_clip's CLIP class with OpenAI-style towers (ViT image tower pooled at its class token, "
             "the standard causal text transformer), as in ViT-B-32, ViT-B-16, ViT-L-14 and their -quickgelu forms")

# what a checkpoint's keys show of an open_clip model the clip family does not build (first match names it)
_UNSUPPORTED = [
    (r"^text\.", "a custom text tower (CustomTextCLIP: text.*)"),
    (r"^text_decoder\.", "CoCa's multimodal text decoder (text_decoder.*)"),
    (r"^visual\.trunk\.", "a timm image tower (visual.trunk.*)"),
    (r"^visual\.attn_pool", "attentional pooling (visual.attn_pool*)"),
    (r"^visual\.(attnpool|layer\d|bn\d)\.", "a ModifiedResNet image tower (the RN50-style models)"),
    (r"\.ls_[12]\.", "layer scale (ls_1 / ls_2 in the blocks)"),
    (r"\.(ln_attn|ln_inner|mlp\.ln|attn\.ln_q|attn\.ln_k)\.|\.attn\.(head_scale|logit_scale)$",
     "custom attention blocks (QK norm, scaled cosine attention, head scale or extra LayerNorms)"),
]

_BLOCK_RULES = [
    (r"ln_1\.", "norm_attn."),
    (r"attn\.in_proj_weight$", "attn.qkv.weight"),  # q, k, v fused in this order, as ours
    (r"attn\.in_proj_bias$", "attn.qkv.bias"),
    (r"attn\.out_proj\.", "attn.proj."),
    (r"ln_2\.", "norm_mlp."),
    (r"mlp\.c_fc\.", "mlp.fc1."),
    (r"mlp\.c_proj\.", "mlp.fc2."),
]
_RULES = [
    (r"^visual\.conv1\.", "{image}patch_embed.proj."),
    (r"^visual\.positional_embedding$", "{image}pos_embed.weight"),
    (r"^visual\.ln_pre\.", "{image}norm_pre."),
    (r"^visual\.ln_post\.", "{image}stack.norm."),  # CLIP's post-LayerNorm, per token
    (r"^token_embedding\.", "{text}token_embedding."),
    (r"^positional_embedding$", "{text}pos_embed.weight"),
    (r"^ln_final\.", "{text}stack.norm."),
    *[(rf"^{source}transformer\.resblocks\.(\d+)\.{pattern}", rf"{{{tower}}}stack.blocks.\1.{target}")
      for source, tower in (("visual\\.", "image"), ("", "text")) for pattern, target in _BLOCK_RULES],
]


def is_open_clip_layout(state: Mapping[str, Tensor]) -> bool:
    """open_clip's ``CLIP`` keys (``visual.*``, ``transformer.*``, ``token_embedding.*``, ...), its other
    models' (refused with a reason when converted), or its image tower saved alone (``conv1``, ``class_embedding``)."""
    return any(k.startswith(_MARKERS) for k in state)


def from_open_clip(state: Mapping[str, Tensor], spec: Any) -> dict[str, Tensor]:
    """Convert an open_clip ``CLIP`` state dict to the clip family's layout for ``spec``."""
    state = _with_visual_prefix(state)
    _refuse_unsupported(state)
    _check_openai_sizes(state, spec)
    state.pop("attn_mask", None)  # the causal mask, a buffer (older open_clip saved it)
    if spec.modality != "image-text":
        state.pop("visual.proj", None)  # a joining part, kept by drop_unbuilt as a visual.* key
    state = drop_unbuilt(state, spec, _IMAGE_KEYS, _TEXT_KEYS, _JOINT_KEYS, "CLIP")
    _check_depth(state, "visual.transformer.resblocks.", spec.vision_depth, "image", "vision_depth")
    _check_depth(state, "transformer.resblocks.", spec.text_depth, "text", "text_depth")

    where = tower_prefixes(spec)
    out = {}
    if "visual.class_embedding" in state:
        out[where["image"] + "cls_token"] = state.pop("visual.class_embedding").reshape(1, 1, -1)  # [D] -> [1, 1, D]
    if "visual.proj" in state:
        out["backbone.image_proj.weight"] = state.pop("visual.proj").t()  # x @ proj [width, embed] -> Linear
    if "text_projection" in state:
        out["backbone.text_proj.weight"] = state.pop("text_projection").t()
    for name in ("logit_scale", "logit_bias"):  # [] or [1] (nonscalar_logit_scale) -> []
        if name in state:
            out[f"head.pairs.{name}"] = state.pop(name).reshape(())  # a logit_bias: no place in CLIP's head (a warning)
    out.update(rename_keys(state, [(pattern, target.format(**where)) for pattern, target in _RULES]))
    left = sorted(k for k in out if not k.startswith(("backbone.", "head.")))
    if left:
        raise WeightsError(f"this open_clip checkpoint has tensors the clip family has no place for: "
                           f"{', '.join(left[:8])}{' ...' if len(left) > 8 else ''}; the clip family reads {SUPPORTED}")
    return out


def _with_visual_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """An image tower saved alone (``model.visual.state_dict()``) names its keys without ``visual.``."""
    if "conv1.weight" in state and not any(k.startswith("visual.") for k in state):
        return {"visual." + k: v for k, v in state.items()}
    return dict(state)


def _refuse_unsupported(state: Mapping[str, Tensor]) -> None:
    for pattern, what in _UNSUPPORTED:
        keys = [k for k in state if re.search(pattern, k)]
        if keys:
            raise WeightsError(f"this open_clip checkpoint holds {what} (e.g. {keys[0]}), which the clip family does "
                               f"not build; it reads {SUPPORTED}")
    if "visual.conv1.weight" in state and "visual.ln_pre.weight" not in state:
        raise WeightsError("this open_clip checkpoint's image tower has no LayerNorm before its blocks "
                           f"(no_ln_pre, no visual.ln_pre), which the clip family does not build; it reads {SUPPORTED}")


def _check_openai_sizes(state: dict[str, Tensor], spec: Any) -> None:
    """OpenAI's checkpoints carry three sizes as scalar tensors; compare and drop them."""
    for key, field in (("input_resolution", "img_size"), ("context_length", "context_length"),
                       ("vocab_size", "vocab_size")):
        value = state.pop(key, None)
        if value is not None and int(value) != getattr(spec, field):
            raise WeightsError(f"this CLIP checkpoint's {key} is {int(value)} but {field}={getattr(spec, field)}; "
                               f"pick the matching card or pass {field}={int(value)}")


def _check_depth(state: Mapping[str, Tensor], prefix: str, depth: int, tower: str, field: str) -> None:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    if found and found != set(range(depth)):
        layers = max(found) + 1
        raise WeightsError(f"this open_clip checkpoint's {tower} tower has {layers} layers ({prefix}0-{layers - 1}), "
                           f"but {field}={depth}; pick the matching card or pass {field}={layers}")


# --- open_clip_config.json: {"model_cfg": {...}, "preprocess_cfg": {...}} -------------------------
# open_clip's own defaults (CLIPVisionCfg, CLIPTextCfg) stand for fields a model_cfg leaves out
_SIZES = {
    "vision_cfg": {"width": ("vision_width", 768), "layers": ("vision_depth", 12), "patch_size": ("patch_size", 16),
                   "image_size": ("img_size", 224)},
    "text_cfg": {"width": ("text_width", 512), "heads": ("text_heads", 8), "layers": ("text_depth", 12),
                 "context_length": ("context_length", 77), "vocab_size": ("vocab_size", 49408)},
}
_FEATURES = {  # open_clip features the clip family does not build: each must keep its default (None: absent)
    "": {"custom_text": False, "multimodal_cfg": None},
    "vision_cfg": {"ls_init_value": None, "attentional_pool": False, "no_ln_pre": False,
                   "pos_embed_type": "learnable", "final_ln_after_pool": False, "pool_type": "tok",
                   "timm_model_name": None},
    "text_cfg": {"ls_init_value": None, "embed_cls": False, "no_causal_mask": False, "final_ln_after_pool": False,
                 "proj_bias": False, "proj_type": "linear", "hf_model_name": None},
}
_BLOCK_FEATURES = {"block_type": None, "act_kwargs": None, "norm_kwargs": None, "qk_norm": False,  # either tower
                   "scaled_cosine_attn": False, "scale_heads": False, "scale_attn_inner": False, "scale_attn": False,
                   "scale_fc": False}
_IGNORED = {  # initial values, training-time options, and options of the features refused above
    "": {"embed_dim", "quick_gelu", "vision_cfg", "text_cfg", "init_logit_scale", "init_logit_bias",
         "nonscalar_logit_scale", "cast_dtype", "output_dict"},
    "vision_cfg": {"head_width", "mlp_ratio", "patch_dropout", "output_tokens", "attn_pooler_queries",
                   "attn_pooler_heads", "timm_model_pretrained", "timm_pool", "timm_proj", "timm_proj_bias",
                   "timm_drop", "timm_drop_path"},
    "text_cfg": {"mlp_ratio", "pool_type", "eos_id", "pad_id", "output_tokens", "hf_tokenizer_name",
                 "tokenizer_mode", "tokenizer_kwargs", "hf_model_pretrained", "hf_proj_type", "hf_pooler_type"},
}


def check_open_clip_config(config: Mapping[str, Any], spec: Any) -> None:
    """Raise if ``open_clip_config.json`` (or its ``model_cfg`` alone) describes another model than ``spec``."""
    sections = _sections(config.get("model_cfg", config))
    refused, unknown = _refused_and_unknown(sections)
    refused += _text_pool(sections["text_cfg"], spec)
    if refused or unknown:
        parts = ([f"features the clip family does not build: {', '.join(refused)}"] if refused else []) + \
                ([f"fields it does not know: {', '.join(unknown)}"] if unknown else [])
        raise WeightsError(f"open_clip_config.json describes a model the clip family does not build "
                           f"({'; '.join(parts)}); it reads {SUPPORTED}")
    wrong = _mismatches(sections, spec)
    if wrong:
        raise WeightsError(f"open_clip_config.json does not match this model: {'; '.join(wrong)}. "
                           "Pick the matching card or pass the matching overrides.")


def _sections(model_cfg: Any) -> dict[str, Mapping[str, Any]]:
    """model_cfg ("") and its vision_cfg and text_cfg, each a JSON object."""
    sections = {"": model_cfg}
    if isinstance(model_cfg, Mapping):
        sections.update(vision_cfg=model_cfg.get("vision_cfg", {}), text_cfg=model_cfg.get("text_cfg", {}))
    for name, values in sections.items():
        if not isinstance(values, Mapping):
            raise WeightsError(f"open_clip_config.json: {name or 'model_cfg'} must be a JSON object, "
                               f"got {type(values).__name__}")
    return sections


def _refused_and_unknown(sections: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Fields set to a feature the family does not build, and fields open_clip's configs do not have."""
    refused, unknown = [], []
    for name, values in sections.items():
        where = f"{name}." if name else ""
        features = {**_FEATURES[name], **(_BLOCK_FEATURES if name else {})}
        for key, value in values.items():
            if key in features:
                if value != features[key] and not (key == "block_type" and value == "default"):
                    refused.append(f"{where}{key}={value!r}")
            elif key not in _SIZES.get(name, {}) and key not in _IGNORED[name]:
                unknown.append(where + key)
    return refused, unknown


def _mismatches(sections: Mapping[str, Mapping[str, Any]], spec: Any) -> list[str]:
    """Sizes (open_clip's defaults where absent), head counts, MLP widths and the activation against the spec."""
    wrong = []
    for name, fields in _SIZES.items():
        for key, (field, default) in fields.items():
            value = sections[name].get(key, default)
            if isinstance(value, (list, tuple)) and len(set(value)) == 1:
                value = value[0]  # a square image_size / patch_size written as [h, w]
            if value != getattr(spec, field):
                wrong.append(f"{name}.{key}={value!r} but {field}={getattr(spec, field)!r}")
    vision, text, model_cfg = sections["vision_cfg"], sections["text_cfg"], sections[""]
    width, head_width = vision.get("width", 768), vision.get("head_width", 64)  # open_clip: width // head_width heads
    if isinstance(width, int) and isinstance(head_width, int) and head_width > 0 \
            and width // head_width != spec.vision_heads:
        wrong.append(f"vision_cfg.head_width={head_width!r} ({width // head_width} heads of width {width}) "
                     f"but vision_heads={spec.vision_heads!r}")
    for name, values, default, field in (("vision_cfg", vision, 768, "vision_mlp_dim"),
                                         ("text_cfg", text, 512, "text_mlp_dim")):
        ratio, tower_width = values.get("mlp_ratio", 4.0), values.get("width", default)  # int(width * mlp_ratio)
        if isinstance(ratio, (int, float)) and isinstance(tower_width, int) \
                and int(tower_width * ratio) != getattr(spec, field):
            wrong.append(f"{name}.mlp_ratio={ratio!r} ({int(tower_width * ratio)} hidden units) but "
                         f"{field}={getattr(spec, field)!r}")
    if model_cfg.get("embed_dim", spec.embed_dim) != spec.embed_dim:
        wrong.append(f"embed_dim={model_cfg['embed_dim']!r} but embed_dim={spec.embed_dim!r}")
    quick_gelu = model_cfg.get("quick_gelu", False)  # open_clip: nn.GELU unless quick_gelu (OpenAI's weights)
    activation = "quick_gelu" if quick_gelu else "gelu"
    if activation != spec.activation:
        wrong.append(f"quick_gelu={quick_gelu!r} (activation {activation!r}) but activation={spec.activation!r}")
    return wrong


def _text_pool(text: Mapping[str, Any], spec: Any) -> list[str]:
    """Our text tower pools at the first end-of-text token: open_clip's "argmax" (the highest id, which
    is end-of-text only when it is the last id of the vocabulary) or "eos" (at eos_id) are that."""
    pool = text.get("pool_type", "argmax")
    if pool == "argmax" and spec.eos_token_id == spec.vocab_size - 1:
        return []
    if pool == "eos" and text.get("eos_id", 2) == spec.eos_token_id:
        return []
    detail = {"argmax": f" with eos_token_id={spec.eos_token_id} not the last id of the vocabulary",
              "eos": f" at eos_id={text.get('eos_id', 2)!r}, but eos_token_id={spec.eos_token_id}"}.get(pool, "")
    return [f"text_cfg.pool_type={pool!r}{detail}"]


OPEN_CLIP = KeyMap("open_clip", is_open_clip_layout, from_open_clip, check_open_clip_config)
