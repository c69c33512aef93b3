"""What a check runs on: a family and spec (a card's, shrunk by the family's smoke overrides) with a task.

A `Subject` builds fresh models (every check starts from its own) and example batches: the
family's ``example_inputs(spec, batch_size)``, passed through the head's ``example_batch``,
which turns them into the task's own inputs and targets (multiple choice stacks choices,
language models derive labels).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import torch
from torch import Tensor

import registry

from ..models.family import Family
from ..models.spec import build_spec
from ..tasks.model import ZooModel


class ConformanceError(AssertionError):
    """A model, family or task breaks one of the guarantees the kit checks."""


class Batch(NamedTuple):
    """``model(*inputs, **extras)``, scored by ``model.loss(outputs, targets)`` (targets None: the task has no loss)."""

    inputs: tuple
    extras: dict
    targets: Any


@dataclass(frozen=True)
class Subject:
    """A family with spec values and a task; ``card`` names where they came from (None for a bare family)."""

    family: Family
    spec: Mapping[str, Any]
    task: str
    card: str | None = None
    modality: str = ""
    architecture: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    home: tuple[str, str] = ("", "")  # the card's (modality, architecture); a tower of it may be the subject

    def __post_init__(self) -> None:
        if self.home == ("", ""):
            object.__setattr__(self, "home", (self.modality, self.architecture))

    def __str__(self) -> str:
        tower = f" {self.modality} tower" if self.modality != self.home[0] else ""
        return f"{self.card or 'family ' + self.family.name}{tower} [{self.task}]"

    def with_task(self, task: str) -> "Subject":
        """The subject for ``task``: a card joining modalities is built as the tower the task fits."""
        chosen = registry.get_task(task).modality_for(*self.home)
        if chosen is None or chosen == self.home[0]:
            spec = {k: v for k, v in self.spec.items() if k != "modality"} if chosen else self.spec
            return dataclasses.replace(self, task=task, spec=spec, modality=self.home[0], architecture=self.home[1])
        return dataclasses.replace(self, task=task).with_tower(chosen, task)

    def with_tower(self, modality: str, task: str = "feature-extraction") -> "Subject":
        """One tower of a card joining modalities ("image-text"), built alone (spec ``modality``) for ``task``."""
        return dataclasses.replace(self, task=task, spec={**self.spec, "modality": modality}, modality=modality,
                                   architecture="encoder")

    def towers(self) -> list[str]:
        """The modalities a card joins ("image-text" -> image, text); empty for one modality."""
        return self.home[0].split("-") if "-" in self.home[0] else []

    def fits(self, task: str) -> bool:
        return registry.get_task(task).modality_for(*self.home) is not None

    def tasks(self) -> list[str]:
        """Every registered task that fits this subject's modality and architecture."""
        return [t for t in registry.list_tasks() if self.fits(t)]

    def build(self, **overrides: Any) -> ZooModel:
        """A fresh model (random initialisation under the current torch seed)."""
        from ..factory import build_model

        spec = build_spec(self.family.spec, {**self.spec, **overrides}, where=str(self))
        return build_model(self.family, spec, registry.get_task(self.task), card=self.card, meta=self.meta)

    def batch(self, model: ZooModel, batch_size: int = 2) -> Batch:
        """The task's example inputs and targets for ``model`` (the family's inputs through ``head.example_batch``)."""
        inputs, extras = self.family.example_inputs(model.spec, batch_size)
        example = getattr(model.head, "example_batch", None)
        if example is None:
            raise ConformanceError(f"{self}: the {self.task!r} head ({type(model.head).__name__}) has no "
                                   "example_batch(inputs, extras) -> (inputs, extras, targets); every head "
                                   "needs one so that its task can be checked (docs/plugins.md)")
        return Batch(*example(tuple(inputs), dict(extras)))


def for_card(name: str, task: str | None = None, **overrides: Any) -> Subject:
    """Card ``name`` on its family's smoke overrides (+ ``overrides``), for ``task`` (default: the card's)."""
    from ..factory import get_family

    card = registry.get_card(name)
    family = get_family(card.family)
    subject = Subject(family, {**family.smoke_spec(card.spec), **overrides}, card.task, card.name,
                      card.modality, card.architecture, dict(card.meta))
    return subject.with_task(task) if task else subject


def for_family(family: Family, task: str | None = None, **overrides: Any) -> Subject:
    """A family without a card: its spec defaults with its smoke overrides; modality and architecture
    come from a backbone built once. ``task``: default feature-extraction, which every family can carry."""
    spec = {**family.smoke_spec({}), **overrides}
    backbone = family.build(build_spec(family.spec, spec, where=f"family {family.name!r}"))
    return Subject(family, spec, task or "feature-extraction", None, backbone.modality, backbone.architecture)


def take_rows(value: Any, rows: slice) -> Any:
    """Every tensor in (nested) tuples, lists and dicts cut to ``rows`` of its first dimension."""
    if isinstance(value, Tensor):
        return value[rows]
    if isinstance(value, dict):
        return {k: take_rows(v, rows) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(take_rows(v, rows) for v in value)
    return value


def fresh_pair(subject: Subject, seed: int = 0) -> tuple[ZooModel, Batch]:
    """A model and its batch, both drawn from ``seed``."""
    torch.manual_seed(seed)
    model = subject.build()
    return model, subject.batch(model)
