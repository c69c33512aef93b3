"""transformer-zoo: transformer models for text, images and audio, created by name.

    import zoo
    model = zoo.create("vit-small", num_classes=10)

Listing and card lookups never import torch; the model-building functions load it on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from registry import (
    Card, DuplicateNameError, PluginWarning, TaskInfo, UnknownNameError, info, list_families, list_models,
    list_tasks, register_card, register_task, unregister,
)

__version__ = "0.1.0"

_LAZY = {
    "create": "zoo.factory",
    "load": "zoo.factory",
    "save": "zoo.weights.saved",
    "Family": "zoo.models.family",
    "KeyMap": "zoo.models.family",
    "ZooModel": "zoo.tasks.model",
    "SpecError": "zoo.models.spec",
    "WeightsError": "zoo.weights.errors",
    "zero_shot_classifier": "zoo.zero_shot",
    "zero_shot_embeddings": "zoo.zero_shot",
}

__all__ = [
    "Card", "DuplicateNameError", "PluginWarning", "TaskInfo", "UnknownNameError", "info", "list_families",
    "list_models", "list_tasks", "register_card", "register_family", "register_task", "unregister", *_LAZY,
]


def register_family(family: Any) -> None:
    """Register a `zoo.Family` under its own name (for scripts and notebooks)."""
    from .models.family import Family

    if not isinstance(family, Family):
        raise TypeError(f"register_family takes a zoo.Family, got {type(family).__name__}")
    import registry

    registry.register_family(family.name, family)


_SUBMODULES = ("data", "generation", "testing", "train")  # zoo.data.image_transform(...) without importing zoo.data first


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
