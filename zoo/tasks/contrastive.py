"""Image-text heads over a dual encoder's embeddings: contrastive training and zero-shot classification.

Both take the backbone's ``(image_embeds [B_img, E], text_embeds [B_txt, E])`` (unit length) and
score pairs as ``exp(logit_scale) * cosine + logit_bias`` (the bias only where the family has one).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.checks import check_int, require_tensor
from .classification import class_cross_entropy
from .targets import check_class_ids, example_rows


class PairScore(nn.Module):
    """The learned scale (a log) and optional bias that turn cosine similarities into logits."""

    def __init__(self, contrastive: Any) -> None:
        super().__init__()
        self.loss_kind = contrastive.loss
        self.logit_scale = nn.Parameter(torch.tensor(float(contrastive.scale_init)))
        bias = contrastive.bias_init
        self.logit_bias = nn.Parameter(torch.tensor(float(bias))) if bias is not None else None

    def score(self, left: Tensor, right: Tensor) -> Tensor:
        """[N, E] x [M, E] -> logits [N, M]."""
        logits = self.logit_scale.exp() * left @ right.t()
        return logits + self.logit_bias if self.logit_bias is not None else logits


def _embeddings(features: Any) -> tuple[Tensor | None, Tensor | None]:
    if not isinstance(features, (tuple, list)) or len(features) != 2:
        raise TypeError("an image-text head takes the dual encoder's (image_embeds, text_embeds), got "
                        f"{type(features).__name__}")
    return features[0], features[1]


def contrastive_loss(logits: Tensor, kind: str, targets: Tensor | None = None) -> Tensor:
    """The loss of image-to-text logits [B_img, B_txt] whose matching pairs are ``targets`` [B_img]
    (the caption index of each image; None: the diagonal).

    "softmax" (CLIP): the mean of cross-entropy over captions per image and over images per
    caption, so every caption must be some image's (``targets`` a permutation). "sigmoid"
    (SigLIP): every pair is a binary match; summed per image, averaged over images.
    """
    rows, cols = logits.shape
    if targets is None:
        if rows != cols:
            raise ValueError(f"the contrastive loss pairs image i with caption i: got {rows} images and {cols} "
                             "captions; pass as many of each (or targets [images] naming each image's caption)")
        targets = torch.arange(rows, device=logits.device)
    else:
        targets = check_class_ids(targets, cols, "targets")
        if targets.shape != (rows,):
            raise ValueError(f"targets must be the caption index of each image, [images={rows}], got "
                             f"{list(targets.shape)}")
    if kind == "sigmoid":
        signs = -torch.ones_like(logits)
        signs[torch.arange(rows, device=logits.device), targets] = 1.0  # +1 for matches, -1 otherwise
        return -F.logsigmoid(signs * logits).sum(dim=1).mean()
    if rows != cols or not torch.equal(targets.sort().values, torch.arange(rows, device=logits.device)):
        raise ValueError("the softmax contrastive loss needs each caption to belong to exactly one image: "
                         "as many images as captions and targets a permutation of them")
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets.argsort())) / 2


class ContrastiveHead(nn.Module):
    """(image_embeds, text_embeds) -> image-to-text logits [B_img, B_txt]; the family's contrastive loss."""

    num_classes = 0
    output_batch_dims = (0, 1)  # rows are images, columns captions: both follow the batch
    label_format = ("none (image i matches caption i), or the caption index of each image [images]; "
                    "the softmax loss needs a permutation")

    def __init__(self, contrastive: Any) -> None:
        super().__init__()
        self.pairs = PairScore(contrastive)

    def forward(self, features: Any, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        images, texts = _embeddings(features)
        if images is None or texts is None:
            raise ValueError("the contrastive task scores image-text pairs: pass images and input_ids "
                             "(model.encode_image / model.encode_text embed one side)")
        return self.pairs.score(images, texts)  # [B_img, B_txt]

    def loss(self, logits: Tensor, targets: Tensor | None = None) -> Tensor:
        return contrastive_loss(logits, self.pairs.loss_kind, targets)

    def reset_classifier(self, num_classes: int) -> None:
        raise ValueError("the contrastive task has no classifier; for classes, use zoo.zero_shot_classifier(...) "
                         "or create the model with task='image-classification'")

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The image-caption pairs unchanged; targets: image i matches caption i."""
        return inputs, extras, torch.arange(example_rows(inputs, extras))


class ZeroShotHead(nn.Module):
    """Image embeddings -> class logits [B, C] against class embeddings [C, E] (unit length), scored as
    the model scores image-text pairs; cross-entropy loss. The text tower only makes the class
    embeddings (`zoo.zero_shot_classifier`), so it is frozen here."""

    label_format = "class ids [batch] in [0, num_classes) (-100: row skipped), or class probabilities [batch, num_classes]"

    def __init__(self, contrastive: Any, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.pairs = PairScore(contrastive)
        self.embed_dim = embed_dim
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """Zero class embeddings for ``num_classes`` classes (set them with `set_classes`)."""
        if check_int(num_classes, "num_classes") <= 0:
            raise ValueError(f"a zero-shot classifier needs num_classes >= 1, got {num_classes}")
        self.num_classes = num_classes
        like = getattr(self, "class_embeddings", None)
        kwargs = {"device": like.device, "dtype": like.dtype} if like is not None else {}
        self.class_embeddings = nn.Parameter(torch.zeros(num_classes, self.embed_dim, **kwargs))

    @torch.no_grad()
    def set_classes(self, embeddings: Tensor) -> None:
        """Use ``embeddings`` [C, E] (normalised here) as the classes; C becomes num_classes."""
        expected = f"class embeddings [classes, embed_dim={self.embed_dim}]"
        if require_tensor(embeddings, "embeddings", expected).dim() != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"embeddings must be {expected}, got shape {list(embeddings.shape)}")
        self.reset_classifier(embeddings.shape[0])
        self.class_embeddings.copy_(F.normalize(embeddings.float(), dim=-1))

    def forward(self, features: Any, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        images, _ = _embeddings(features)
        if images is None:
            raise ValueError("zero-shot image classification takes images [B, 3, H, W]")
        return images if pre_logits else self.pairs.score(images, self.class_embeddings)  # [B, C]

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        return class_cross_entropy(logits, targets)

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The images alone (no captions), random class ids [B]."""
        rows = example_rows(inputs, extras)
        return inputs[:1], {}, torch.randint(0, self.num_classes, (rows,))


def _dual_encoder(backbone: nn.Module, task: str) -> Any:
    contrastive = getattr(backbone, "contrastive", None)
    if contrastive is None:
        raise TypeError(f"the {task} task needs an image-text dual encoder (with a `contrastive` attribute saying "
                        f"how it scores pairs), got {type(backbone).__name__}")
    return contrastive


def build_contrastive_head(backbone: nn.Module, spec: Any) -> ContrastiveHead:
    return ContrastiveHead(_dual_encoder(backbone, "contrastive"))


def build_zero_shot_head(backbone: nn.Module, spec: Any) -> ZeroShotHead:
    contrastive = _dual_encoder(backbone, "zero-shot-image-classification")
    if spec.num_classes < 1:
        raise ValueError(f"a zero-shot classifier needs num_classes >= 1 (one per class name), got {spec.num_classes}")
    for text_side in (backbone.text, backbone.text_proj):  # only zoo.zero_shot_classifier runs them
        text_side.requires_grad_(False)
    return ZeroShotHead(contrastive, backbone.num_features, spec.num_classes)
