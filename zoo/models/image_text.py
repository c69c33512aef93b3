"""Image-text dual encoders (CLIP, SigLIP): an image tower, a text tower and what joins them.

The image tower is the `ViT` of zoo/models/vit.py with the family's variants; the text tower is
a pre-norm stack over learned positions. `DualEncoder` adds only the joining parts: a pool and a
projection per tower into one embedding space. A family builds the towers and passes them in.

One spec serves both families: ``modality`` picks what is built ("image-text": both towers;
"image" or "text": that tower alone, for the tasks of one modality, as `zoo.create` chooses it
for the task), so fine-tuning the image tower carries no text tower.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import nn as znn
from .spec import check
from .text import check_ids, padding_bias
from .vit import ViT, ViTSpec


@dataclass(frozen=True)
class ImageTextSpec:
    """Both towers' sizes; ``embed_dim`` is the joint embedding width."""

    modality: Literal["image-text", "image", "text"] = "image-text"
    embed_dim: int = 512
    img_size: int = 224
    patch_size: int = 32
    vision_width: int = 768
    vision_depth: int = 12
    vision_heads: int = 12
    vision_mlp_dim: int = 3072
    vocab_size: int = 49408
    context_length: int = 77
    text_width: int = 512
    text_depth: int = 12
    text_heads: int = 8
    text_mlp_dim: int = 2048
    activation: Literal["gelu", "gelu_tanh", "quick_gelu"] = "gelu"
    num_classes: int = 1000  # image-classification / sequence-classification on one tower

    def __post_init__(self) -> None:
        for name in ("embed_dim", "img_size", "patch_size", "vision_width", "vision_depth", "vision_heads",
                     "vision_mlp_dim", "vocab_size", "context_length", "text_width", "text_depth", "text_heads",
                     "text_mlp_dim"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.num_classes >= 0, f"num_classes must be >= 0 (0 = no classifier), got {self.num_classes}")
        check(self.img_size >= self.patch_size,  # pixels past the last whole patch are unused, as in timm
              f"img_size ({self.img_size}) must be at least patch_size ({self.patch_size})")
        for tower in ("vision", "text"):
            width, heads = getattr(self, f"{tower}_width"), getattr(self, f"{tower}_heads")
            check(width % heads == 0, f"{tower}_width ({width}) must be divisible by {tower}_heads ({heads})")


def image_tower(spec: ImageTextSpec, *, class_token: bool, norm_pre: bool, patch_bias: bool, eps: float,
                global_pool: Literal["token", "avg"]) -> ViT:
    """The ViT of the image side; ``global_pool`` is what image-classification pools."""
    vit_spec = ViTSpec(img_size=spec.img_size, patch_size=spec.patch_size, embed_dim=spec.vision_width,
                       depth=spec.vision_depth, num_heads=spec.vision_heads, class_token=class_token,
                       global_pool=global_pool, num_classes=spec.num_classes)
    return ViT(vit_spec, norm_pre=norm_pre, patch_bias=patch_bias, eps=eps,
               activation=znn.ACTIVATIONS[spec.activation], mlp_dim=spec.vision_mlp_dim)


class TextTower(nn.Module):
    """Token ids [B, T] (+ attention_mask [B, T]) -> token features [B, T, D] after the final norm.

    ``causal`` (CLIP) masks later tokens; SigLIP's text tower attends both ways. Padding is
    skipped through the attention_mask; positions count from 0 at the first token.
    """

    modality = "text"
    architecture = "encoder"

    def __init__(self, spec: ImageTextSpec, *, causal: bool, eps: float) -> None:
        super().__init__()
        self.spec, self.causal = spec, causal
        dim = self.num_features = spec.text_width
        norm = partial(nn.LayerNorm, dim, eps=eps)
        self.token_embedding = znn.TokenEmbedding(spec.vocab_size, dim)
        self.pos_embed = znn.LearnedPositions(spec.context_length, dim)
        self.stack = znn.Stack(
            [znn.Block(znn.Attention(dim, spec.text_heads),
                       znn.MLP(dim, spec.text_mlp_dim, activation=znn.ACTIVATIONS[spec.activation]), norm(), norm())
             for _ in range(spec.text_depth)],
            norm=norm(),
        )
        self.apply(znn.init_trunc_normal)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.pos_embed.weight, std=0.01)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.stack.grad_checkpointing = enable

    def make_pool(self) -> nn.Module:
        """The last real token (CLIP's end-of-text token, when the tokenizer wrote the mask)."""
        return znn.LastTokenPool()

    def check_length(self, input_ids: Tensor) -> None:
        check_ids(input_ids)
        if input_ids.shape[1] > self.spec.context_length:
            raise ValueError(f"input_ids has {input_ids.shape[1]} tokens; this text tower takes at most context_length="
                             f"{self.spec.context_length} (tokenize with truncation to that length)")

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        self.check_length(input_ids)
        length = input_ids.shape[1]
        x = self.token_embedding(input_ids) + self.pos_embed(length)  # [B, T, D]
        bias = padding_bias(attention_mask, input_ids, x.dtype)  # [B, 1, 1, T] or None
        return self.stack(x, attn_bias=bias, is_causal=self.causal)  # [B, T, D]


class FirstTokenOf(nn.Module):
    """Pool at the first occurrence of ``token_id`` in each row (CLIP: the end-of-text token)."""

    def __init__(self, token_id: int) -> None:
        super().__init__()
        self.token_id = token_id

    def forward(self, tokens: Tensor, input_ids: Tensor) -> Tensor:
        found = input_ids == self.token_id  # [B, T]
        if not torch.compiler.is_compiling() and not bool(found.any(dim=1).all()):
            rows = (~found.any(dim=1)).nonzero().flatten().tolist()
            raise ValueError(f"rows {rows} of input_ids have no end-of-text token (id {self.token_id}), where this "
                             "text tower pools; tokenize with the model's tokenizer (zoo.data.load_tokenizer)")
        index = found.int().argmax(dim=1)  # [B] the first match
        return tokens[torch.arange(tokens.shape[0], device=tokens.device), index]  # [B, D]

    def span(self, input_ids: Tensor) -> int:
        """Positions up to the last row's pooling point: after them, a causal tower's tokens cannot
        change what is pooled, so they need not be computed (padding to 77 tokens, mostly)."""
        found = (input_ids == self.token_id).int()  # [B, T]
        return int(found.argmax(dim=1).max()) + 1


class LastPosition(nn.Module):
    """Pool at the last position, padding or not (SigLIP pads to its context length and pools there)."""

    def forward(self, tokens: Tensor, input_ids: Tensor) -> Tensor:
        return tokens[:, -1]  # [B, D]


@dataclass(frozen=True)
class Contrastive:
    """How a family scores image-text pairs: ``loss`` "softmax" (CLIP: cross-entropy both ways) or
    "sigmoid" (SigLIP: each pair a binary match), the logit scale's start (a log) and bias (None: no bias)."""

    loss: Literal["softmax", "sigmoid"]
    scale_init: float
    bias_init: float | None = None


class DualEncoder(nn.Module):
    """Images and/or token ids -> L2-normalised embeddings in one space, one tuple entry per tower.

    ``forward(images, input_ids, attention_mask)`` returns ``(image_embeds [B_img, E] | None,
    text_embeds [B_txt, E] | None)``: a side that gets no input gives None, so the zero-shot
    classifier runs the image side alone. The heads turn the pair into logits.
    """

    modality = "image-text"
    architecture = "dual-encoder"

    def __init__(self, spec: ImageTextSpec, image: ViT, text: TextTower, *, image_pool: nn.Module,
                 image_proj: nn.Module, text_pool: nn.Module, text_proj: nn.Module, contrastive: Contrastive) -> None:
        super().__init__()
        self.spec, self.contrastive = spec, contrastive
        self.num_features = spec.embed_dim
        self.image, self.text = image, text
        self.image_pool, self.image_proj = image_pool, image_proj
        self.text_pool, self.text_proj = text_pool, text_proj

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.image.set_grad_checkpointing(enable)
        self.text.set_grad_checkpointing(enable)

    def encode_image(self, images: Tensor, normalize: bool = True) -> Tensor:
        """Images [B, 3, H, W] -> embeddings [B, E] (unit length unless ``normalize=False``)."""
        embeds = self.image_proj(self.image_pool(self.image(images)))  # [B, E]
        return F.normalize(embeds, dim=-1) if normalize else embeds

    def encode_text(self, input_ids: Tensor, attention_mask: Tensor | None = None, normalize: bool = True) -> Tensor:
        """Token ids [B, T] (+ attention_mask) -> embeddings [B, E] (unit length unless ``normalize=False``)."""
        input_ids, attention_mask = self._trim_text(input_ids, attention_mask)
        tokens = self.text(input_ids, attention_mask)  # [B, T, D]
        embeds = self.text_proj(self.text_pool(tokens, input_ids))  # [B, E]
        return F.normalize(embeds, dim=-1) if normalize else embeds

    def _trim_text(self, input_ids: Tensor, attention_mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Ids and mask cut after the last row's pooling point when the text tower is causal: later
        positions (padding to 77 tokens, mostly) cannot reach the pooled token, so they are not
        computed. Exact; skipped while compiling, which keeps the shapes static."""
        span = getattr(self.text_pool, "span", None)
        if not self.text.causal or span is None or torch.compiler.is_compiling():
            return input_ids, attention_mask
        self.text.check_length(input_ids)
        padding_bias(attention_mask, input_ids, torch.float32)  # the mask's checks, before cutting it
        length = span(input_ids)
        return input_ids[:, :length], attention_mask[:, :length] if attention_mask is not None else None

    def forward(self, images: Tensor | None = None, input_ids: Tensor | None = None,
                attention_mask: Tensor | None = None) -> tuple[Tensor | None, Tensor | None]:
        if images is None and input_ids is None:
            raise ValueError("an image-text model needs images [B, 3, H, W], input_ids [B, T], or both")
        if input_ids is None and attention_mask is not None:
            raise ValueError("attention_mask belongs to input_ids, which were not given")
        image_embeds = self.encode_image(images) if images is not None else None
        text_embeds = self.encode_text(input_ids, attention_mask) if input_ids is not None else None
        return image_embeds, text_embeds


def build_towers(spec: ImageTextSpec, image: Callable[[], ViT], text: Callable[[], TextTower],
                 join: Callable[[ViT, TextTower], DualEncoder]) -> nn.Module:
    """What ``spec.modality`` asks for: one tower alone, or both joined."""
    if spec.modality == "image":
        return image()
    if spec.modality == "text":
        return text()
    return join(image(), text())


def example_inputs(spec: ImageTextSpec, batch_size: int, *, eos_token_id: int | None = None) -> tuple[tuple, dict]:
    """Images [B, 3, S, S] and/or ids [B, 8] with a mask (the last row right-padded), as ``modality`` takes them.

    With ``eos_token_id``, each row's last real token is it (the tokenizer's end of text) and no
    other token is; padding uses id 0.
    """
    images = torch.randn(batch_size, 3, spec.img_size, spec.img_size)
    length = min(8, spec.context_length)
    high = spec.vocab_size if eos_token_id is None else min(eos_token_id, spec.vocab_size)
    ids = torch.randint(1, max(high, 2), (batch_size, length))
    mask = torch.ones_like(ids)
    mask[-1, length * 2 // 3:] = 0
    if eos_token_id is not None:
        last = mask.sum(dim=1) - 1  # [B]
        ids[torch.arange(batch_size), last] = eos_token_id
    ids = ids * mask  # padding is id 0
    if spec.modality == "image":
        return (images,), {}
    if spec.modality == "text":
        return (ids,), {"attention_mask": mask}
    return (images, ids), {"attention_mask": mask}


# --- Hugging Face layout (CLIPModel, SiglipModel: the towers' layers are named alike) ------------
HF_LAYER_RULES = [
    (r"self_attn\.out_proj\.", "attn.proj."),
    (r"layer_norm1\.", "norm_attn."),
    (r"layer_norm2\.", "norm_mlp."),
    (r"mlp\.(fc1|fc2)\.", r"mlp.\1."),
]
HF_TOWER_FIELDS = {  # config key -> spec field, per tower section of a CLIPConfig / SiglipConfig
    "vision": {"hidden_size": "vision_width", "num_hidden_layers": "vision_depth",
               "num_attention_heads": "vision_heads", "intermediate_size": "vision_mlp_dim",
               "image_size": "img_size", "patch_size": "patch_size"},
    "text": {"hidden_size": "text_width", "num_hidden_layers": "text_depth", "num_attention_heads": "text_heads",
             "intermediate_size": "text_mlp_dim", "vocab_size": "vocab_size",
             "max_position_embeddings": "context_length"},
}
HF_ACTIVATIONS = {"gelu": "gelu", "quick_gelu": "quick_gelu", "gelu_pytorch_tanh": "gelu_tanh"}


def tower_prefixes(spec: ImageTextSpec) -> dict[str, str]:
    """Where each tower lives in our layout: under the dual encoder, or the backbone itself."""
    if spec.modality == "image-text":
        return {"image": "backbone.image.", "text": "backbone.text."}
    return {"image": "backbone.", "text": "backbone."}


def is_hf_layout(state: Mapping[str, Tensor]) -> bool:
    """CLIPModel/SiglipModel keys (``vision_model.*``, ``text_model.*``) or a tower model's bare ones."""
    return any(k.startswith(("vision_model.embeddings.", "text_model.embeddings.", "embeddings.patch_embedding.",
                             "embeddings.token_embedding.")) for k in state)


def hf_with_tower_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A tower model saved alone (CLIPVisionModel, SiglipTextModel, ...) names its keys without the tower's
    prefix; give them the prefix the full model uses."""
    if any(k.startswith(("vision_model.", "text_model.")) for k in state):
        return dict(state)
    prefix = "vision_model." if any(k.startswith("embeddings.patch_embedding.") for k in state) else "text_model."
    return {prefix + k: v for k, v in state.items()}


def hf_tower_layers(state: dict[str, Tensor], source: str, target: str, depth: int) -> dict[str, Tensor]:
    """Pop ``{source}encoder.layers.{i}.*`` from ``state`` as ``{target}stack.blocks.{i}.*`` (q, k, v fused)."""
    import re

    out = {}
    for layer in range(depth):
        old, new = f"{source}encoder.layers.{layer}.", f"{target}stack.blocks.{layer}."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{old}self_attn.{n}_proj.{kind}", None) for n in "qkv"]
            if all(p is not None for p in parts):
                out[f"{new}attn.qkv.{kind}"] = torch.cat(parts, dim=0)
        for key in [k for k in state if k.startswith(old)]:
            rest = key[len(old):]
            for pattern, replacement in HF_LAYER_RULES:
                if re.match(pattern, rest):
                    out[new + re.sub(pattern, replacement, rest, count=1)] = state.pop(key)
                    break
    return out


def hf_sections(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The config's tower sections: a CLIPModel/SiglipModel config nests them, a tower model's is flat."""
    if "vision_config" in config or "text_config" in config:
        return {"vision": config.get("vision_config") or {}, "text": config.get("text_config") or {}, "": config}
    tower = "vision" if str(config.get("model_type", "")).endswith("vision_model") else "text"
    return {tower: config}


def check_hf_sections(config: Mapping[str, Any], spec: ImageTextSpec, fields: Mapping[str, Mapping[str, str]],
                      family: str) -> None:
    """Compare each config section's mapped keys (and its activation) with the spec."""
    from ..weights.huggingface import check_hf_config

    for section, values in hf_sections(config).items():
        check_hf_config(values, spec, fields.get(section, {}), {}, family)
        act = values.get("hidden_act")
        if section and act is not None and HF_ACTIVATIONS.get(act) != spec.activation:
            from ..weights.errors import WeightsError

            raise WeightsError(f"the Hugging Face config's {section} hidden_act is {act!r}, but this model's "
                               f"activation is {spec.activation!r}; known: {', '.join(HF_ACTIVATIONS)}")


def drop_unbuilt(state: dict[str, Tensor], spec: ImageTextSpec, image_keys: tuple[str, ...],
                 text_keys: tuple[str, ...], joint_keys: tuple[str, ...], family: str) -> dict[str, Tensor]:
    """The checkpoint's tensors for the towers ``spec.modality`` builds (a tower alone drops the other
    tower and the joining parts, by request); an image-text model needs both towers."""
    has_image = any(k.startswith(image_keys) for k in state)
    has_text = any(k.startswith(text_keys) for k in state)
    if spec.modality == "image-text" and not (has_image and has_text):
        from ..weights.errors import WeightsError

        present, missing = ("image", "text") if has_image else ("text", "image")
        raise WeightsError(f"this checkpoint holds only the {present} tower of a {family} model (no {missing} tower "
                           f"weights); an image-text model needs both. Load it into that tower alone: "
                           f"zoo.create(..., modality={present!r}) or a task of the {present} modality")
    if spec.modality == "image-text":
        return state
    keep = image_keys if spec.modality == "image" else text_keys
    dropped = (*image_keys, *text_keys, *joint_keys)
    return {k: v for k, v in state.items() if k.startswith(keep) or not k.startswith(dropped)}
