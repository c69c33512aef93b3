"""Zero-shot image classification from class names: prompt embeddings averaged per class (as CLIP
and open_clip's ``build_zero_shot_classifier`` do), turned into an image classifier."""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .nn.checks import describe
from .tasks.contrastive import ZeroShotHead
from .tasks.model import ZooModel

TASK = "zero-shot-image-classification"
Template = str | Callable[[str], str]


def _check_prompts(classnames: Any, templates: Any) -> tuple[list[str], list[Template]]:
    if isinstance(classnames, str) or not isinstance(classnames, Sequence) or not classnames:
        raise TypeError(f"classnames must be a non-empty list of strings, got {describe(classnames)}")
    bad = [c for c in classnames if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ValueError(f"classnames must be non-empty strings; got {bad[:3]!r}")
    if isinstance(templates, str) or not isinstance(templates, Sequence) or not templates:
        raise TypeError("templates must be a non-empty list of prompt templates such as 'a photo of a {}.' "
                        f"(or callables class name -> prompt), got {describe(templates)}")
    for template in templates:
        if isinstance(template, str):
            if "{}" not in template:
                raise ValueError(f"template {template!r} has no '{{}}' for the class name; "
                                 "write it like 'a photo of a {}.'")
        elif not callable(template):
            raise TypeError(f"a template is a string with '{{}}' or a callable, got {describe(template)}")
    return list(classnames), list(templates)


def _prompt(template: Template, classname: str) -> str:
    return template.format(classname) if isinstance(template, str) else template(classname)


@torch.no_grad()
def zero_shot_embeddings(model: ZooModel, tokenizer: Any, classnames: Sequence[str], templates: Sequence[Template],
                         *, classes_per_batch: int = 10) -> Tensor:
    """Class embeddings [C, E]: each class's prompts (every template filled with its name) embedded by
    ``model.encode_text``, averaged and normalised. ``tokenizer`` gives the model's padding and
    length (e.g. ``zoo.data.load_tokenizer(model_dir)``). open_clip's ``build_zero_shot_classifier``
    returns the transpose [E, C]."""
    classnames, templates = _check_prompts(classnames, templates)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    try:
        for start in range(0, len(classnames), classes_per_batch):
            names = classnames[start:start + classes_per_batch]
            batch = tokenizer([_prompt(t, name) for name in names for t in templates])
            embeds = model.encode_text(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            per_class = embeds.reshape(len(names), len(templates), -1).mean(dim=1)  # [classes, E]
            chunks.append(F.normalize(per_class, dim=-1))
    finally:
        model.train(was_training)
    return torch.cat(chunks)  # [C, E]


def zero_shot_classifier(model: ZooModel, tokenizer: Any, classnames: Sequence[str],
                         templates: Sequence[Template], *, classes_per_batch: int = 10) -> ZooModel:
    """An image classifier over ``classnames``: ``classifier(images)`` gives logits [B, C] (softmax for
    probabilities), the model's image-text scores against each class's prompt embedding.

    ``model`` is an image-text model (task contrastive); the classifier is a new model (task
    zero-shot-image-classification, a copy of the towers) that `zoo.save` / `zoo.load` keep. Passing a
    zero-shot classifier instead replaces its classes in place and returns it.
    """
    if not isinstance(model, ZooModel) or not hasattr(model.backbone, "encode_text"):
        raise TypeError(f"zero_shot_classifier needs an image-text model from zoo.create (e.g. "
                        f"'clip-vit-base-patch32'), got {describe(model)}")
    embeddings = zero_shot_embeddings(model, tokenizer, classnames, templates, classes_per_batch=classes_per_batch)
    if model.task == TASK:
        classifier = model
    else:
        head = getattr(model.head, "pairs", None)
        if head is None:
            raise TypeError(f"zero_shot_classifier takes a model of task contrastive or {TASK}, got task {model.task!r}")
        backbone = copy.deepcopy(model.backbone)
        for text_side in (backbone.text, backbone.text_proj):  # as the task's head factory freezes them
            text_side.requires_grad_(False)
        zero_shot = ZeroShotHead(backbone.contrastive, backbone.num_features, len(embeddings))
        zero_shot.pairs.load_state_dict(model.head.pairs.state_dict())
        weight = next(backbone.parameters())
        classifier = ZooModel(backbone, zero_shot.to(device=weight.device, dtype=weight.dtype), family=model.family, task=TASK,
                              spec=model.spec, card=model.card, meta=model.meta)
    classifier.head.set_classes(embeddings)
    classifier.spec = dataclasses.replace(classifier.spec, num_classes=len(embeddings))
    return classifier.train(model.training)
