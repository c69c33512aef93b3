"""``zoo.create`` and ``zoo.load``: card -> family builder -> backbone + task head -> weights."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Mapping

import registry
from registry import TaskInfo

from .models.family import Family
from .models.spec import build_spec, spec_fields
from .nn.checks import check_bool, describe
from .nn.init import skip_init
from .tasks.model import ZooModel
from .weights.load import load_weights
from .weights.saved import WEIGHTS_NAME, read_config
from .weights.io import read_state_dict
from .weights.strict import load_strict


def get_family(name: str) -> Family:
    family = registry.get_family(name)
    if not isinstance(family, Family):
        raise TypeError(f"family {name!r} is registered as a {type(family).__name__}, not a zoo Family")
    return family


def check_task_fits(task: TaskInfo, modality: str, architecture: str, what: str, *, towers: bool = True) -> None:
    """A task serves only the modalities and architectures it declares (with ``towers``, a card joining
    modalities serves those of either tower too); say which tasks fit instead."""
    def fits(info: TaskInfo) -> bool:
        return info.modality_for(modality, architecture) is not None if towers else info.fits(modality, architecture)

    if not fits(task):
        fitting = [t for t in registry.list_tasks() if fits(registry.get_task(t))]
        raise ValueError(f"task {task.name!r} needs modality {'/'.join(task.modalities)} and architecture "
                         f"{'/'.join(task.architectures)}; {what} has modality {modality}, architecture "
                         f"{architecture}. Tasks that fit: {', '.join(fitting)}")


def build_model(family: Family, spec: Any, task: TaskInfo, *, card: str | None = None,
                meta: Mapping[str, Any] | None = None, init: bool = True) -> ZooModel:
    """Compose the family's backbone with the task's head.

    ``init=False`` skips the backbone's random initialisation, for a caller that loads every
    backbone tensor strictly right after (the head, which a checkpoint may lack, is initialised).
    """
    with contextlib.nullcontext() if init else skip_init():
        backbone = family.build(spec)
    check_task_fits(task, backbone.modality, backbone.architecture, f"the {family.name!r} backbone built",
                    towers=False)
    head_factory = registry.load_head(task)  # a head that fails to import names its task and provider
    head = head_factory(backbone, spec)
    return ZooModel(backbone, head, family=family.name, task=task.name, spec=spec, card=card, meta=meta)


def _tower_for_task(card: registry.Card, family: Family, task: TaskInfo, overrides: dict[str, Any]) -> dict[str, Any]:
    """A card joining modalities ("image-text") serves a one-modality task with that tower alone: the spec
    field ``modality`` picks it, unless the caller chose (feature-extraction: ``modality="text"``)."""
    tower = task.modality_for(card.modality, card.architecture)
    if tower == card.modality or "modality" in overrides:
        return overrides
    if "modality" not in spec_fields(family.spec):
        raise ValueError(f"task {task.name!r} needs the {tower} side of {card.name!r}, but the {family.name!r} family "
                         "cannot build one tower alone (its spec has no 'modality' field)")
    return {"modality": tower, **overrides}


def _pretrained_weights(card: registry.Card, weights: str | os.PathLike | None) -> str:
    if weights is not None:
        raise ValueError("pass pretrained=True (the card's published weights) or weights=..., not both")
    if card.weights is None:
        with_weights = registry.list_models(modality=card.modality, pretrained=True)
        raise ValueError(f"model {card.name!r} has no published weights; {card.modality} models with "
                         f"pretrained=True: {', '.join(with_weights) or 'none'} (see zoo.list_models(pretrained=True))")
    return card.weights


def _check_create_args(name: Any, task: Any, weights: Any, pretrained: Any) -> None:
    """Types of `create`'s arguments, each with what is allowed (values are checked where they are used)."""
    if not isinstance(name, str):
        raise TypeError(f"the model name must be a string such as 'vit-small', got {describe(name)}; "
                        "zoo.list_models() lists the names")
    if task is not None and not isinstance(task, str):
        raise TypeError(f"task must be a task name (a string) or None, got {describe(task)}; "
                        "zoo.list_tasks() lists the names")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be a path (str or os.PathLike) to a file or directory, or a hub reference "
                        f"'hf-hub:OWNER/NAME[@REVISION]', got {describe(weights)}")
    check_bool(pretrained, "pretrained")


def create(name: str, *, task: str | None = None, weights: str | os.PathLike | None = None,
           pretrained: bool = False, **overrides: Any) -> ZooModel:
    """Build the model card ``name`` for ``task`` (default: the card's), with spec ``overrides``.

    ``pretrained=True`` loads the card's published weights (its ``weights`` hub reference),
    as timm's ``pretrained=True`` does; a head that differs from the checkpoint's (another
    task, or ``num_classes``) starts fresh, with a warning.

    ``weights`` is a local ``.safetensors``/``.pth``/``.bin`` file, a directory (saved by
    `zoo.save`, Hugging Face, timm or open_clip), or a hub reference ``hf-hub:OWNER/NAME[@REVISION]``;
    zoo's layout or a foreign one the family knows through its key maps; loading is strict.
    """
    _check_create_args(name, task, weights, pretrained)
    card = registry.get_card(name)
    if pretrained:
        weights = _pretrained_weights(card, weights)
    family = get_family(card.family)
    task_info = registry.get_task(task or card.task)
    check_task_fits(task_info, card.modality, card.architecture, repr(name))
    overrides = _tower_for_task(card, family, task_info, overrides)
    spec = build_spec(family.spec, card.spec, overrides, where=card.where)  # names the card and its file
    model = build_model(family, spec, task_info, card=card.name, meta=card.meta, init=weights is None)
    if weights is not None:
        load_weights(model, weights, family, head_may_differ=pretrained)
        attach_tokenizer(model, weights)
    return model


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer_config.json")


def attach_tokenizer(model: ZooModel, weights: str | os.PathLike) -> None:
    """A task that turns tokens into text (``head.uses_tokenizer``: speech-to-text) gets ``model.tokenizer``
    from the tokenizer files beside its weights: a hub repository's, or a directory's (zoo, Hugging Face).
    Weights without tokenizer files (a single file) leave it None; `transcribe` then says what to do."""
    if not getattr(model.head, "uses_tokenizer", False):
        return
    from .data.text.load import load_tokenizer
    from .weights.hub import is_hub_reference

    path = str(weights) if is_hub_reference(str(weights)) else Path(weights).expanduser()
    if isinstance(path, Path) and not (path.is_dir() and any((path / name).is_file() for name in TOKENIZER_FILES)):
        return
    model.tokenizer = load_tokenizer(path)


def load(directory: str | os.PathLike) -> ZooModel:
    """Rebuild a model saved by `zoo.save` (no pickle: spec from JSON, tensors from safetensors)."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"zoo.load takes the path (str or os.PathLike) of a directory written by zoo.save, got "
                        f"{describe(directory)}")
    directory = Path(directory)
    config = read_config(directory)
    family = get_family(config["family"])
    spec = build_spec(family.spec, config["spec"], where=f"saved model {directory}")
    model = build_model(family, spec, registry.get_task(config["task"]), card=config.get("card"),
                        meta=config.get("meta"), init=False)  # every tensor is loaded strictly next
    load_strict(model, read_state_dict(directory / WEIGHTS_NAME), f"weights in {directory}", consume=True)
    attach_tokenizer(model, directory)
    return model
