"""The transformer-zoo catalogue: model cards, name lookup, listing and plugin discovery.

This package never imports torch, so listing models is instant.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .card import MODALITIES, Card
from .catalog import CATALOG, GROUPS, IN_CODE, PluginLoadError, resolve
from .check import card_problems, diagnose as _diagnose
from .errors import CardError, DuplicateNameError, PluginWarning, UnknownNameError
from .task import TaskInfo

__all__ = [
    "CATALOG", "GROUPS", "MODALITIES", "Card", "CardError", "DuplicateNameError", "PluginLoadError",
    "PluginWarning", "TaskInfo", "UnknownNameError", "diagnose", "get_card", "get_family", "get_task", "info",
    "list_families", "list_models", "list_tasks", "load_head", "register_card", "register_family",
    "register_task", "resolve", "unregister", "unregistered",
]


def list_models(pattern: str = "*", *, modality: str | None = None, task: str | None = None,
                pretrained: bool = False) -> list[str]:
    """Model names matching a shell-style pattern (``"vit-*"``), optionally by modality and task;
    ``pretrained=True`` keeps the cards with published weights (``zoo.create(name, pretrained=True)``)."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    return CATALOG.list_models(pattern, modality=modality, task=task, pretrained=pretrained)


def list_tasks() -> list[str]:
    """Names of the registered tasks (heads)."""
    return CATALOG.task_names()


def list_families() -> list[str]:
    """Names of the registered model families."""
    return CATALOG.family_names()


def get_card(name: str) -> Card:
    """The card for model ``name``; an unknown name suggests the closest ones."""
    return CATALOG.card(name)


def info(name: str) -> dict[str, Any]:
    """The card of ``name`` as a plain dict: family, modality, task, spec, meta, params."""
    return get_card(name).to_dict()


def get_family(name: str) -> Any:
    return CATALOG.family(name)


def get_task(name: str) -> TaskInfo:
    return CATALOG.task(name)


def load_head(task: TaskInfo) -> Callable[..., Any]:
    """The task's head factory (importing a ``"module:attr"`` head); a failure names the task and its provider."""
    return CATALOG.head(task)


def unregistered(name: str) -> list[str]:
    """Which of ``"family"`` and ``"task"`` card ``name`` names without it being registered (torch-free)."""
    return CATALOG.unregistered(get_card(name))


def diagnose(pattern: str = "*") -> list[str]:
    """Every problem with the installed plugins and the cards matching ``pattern`` (``zoo doctor``).

    Loads every family and task head, so it imports torch; an empty list means all is well.
    """
    return _diagnose(CATALOG, pattern)


def register_card(name: str, *, family: str, modality: str, task: str, spec: Mapping[str, Any] | None = None,
                  meta: Mapping[str, Any] | None = None, params: int | None = None,
                  architecture: str = "encoder", weights: str | None = None) -> Card:
    """Add a model card from code (a notebook, a script), checked as ``zoo doctor`` checks installed cards.

    A taken name raises `DuplicateNameError`; a family or task that is not registered, a spec
    the family rejects, or a default task that does not fit raise with the message ``zoo doctor``
    gives. Register the family and the task first. Checking the spec loads the family (torch).
    ``weights``: its published weights, ``hf-hub:OWNER/NAME[@REVISION]``, for ``pretrained=True``.
    """
    card = Card(name=name, family=family, modality=modality, task=task, spec=dict(spec or {}),
                meta=dict(meta or {}), params=params, source=IN_CODE, architecture=architecture,
                weights=weights)
    for problem in [CATALOG.taken("card", name), *card_problems(CATALOG, card)]:
        if problem is not None:
            raise problem
    CATALOG.register("card", f"code:{name}", [card])
    return card


def register_family(name: str, family: Any) -> None:
    """Add a model family (the object a ``zoo.families`` entry point would point to)."""
    CATALOG.register("family", name, family)


def register_task(name: str, head: str | Callable[..., Any], *, modalities: tuple[str, ...] | list[str],
                  summary: str = "", architectures: tuple[str, ...] | list[str] | None = None) -> TaskInfo:
    """Add a task: its head factory (or ``"module:attr"``), the modalities and architectures it serves."""
    task = TaskInfo(name, tuple(modalities), head, summary,
                    **({"architectures": tuple(architectures)} if architectures else {}))
    CATALOG.register("task", name, task)
    return task


def unregister(kind: str, name: str) -> None:
    """Remove what ``register_card``/``register_family``/``register_task`` added (``kind``: card, family or
    task), for notebooks and tests that clean up; installed plugins are not affected."""
    if kind not in GROUPS:
        raise ValueError(f"kind must be one of {', '.join(GROUPS)}, got {kind!r}")
    CATALOG.unregister(kind, f"code:{name}" if kind == "card" else name)
