"""What keeps a card from being built: the checks behind ``zoo doctor`` and ``register_card``.

The name checks are torch-free (names come from entry points). The deep checks load the
family to build the card's spec, which imports torch; only ``zoo doctor`` and
``register_card`` run them, never listing.
"""
from __future__ import annotations

import fnmatch
import warnings
from typing import Any

from .card import Card
from .catalog import Catalog, PluginLoadError
from .errors import CardError, PluginWarning


def _zoo_family_type() -> type:
    from zoo.models.family import Family  # imports torch: only deep checks get here

    return Family


def load_family(catalog: Catalog, name: str) -> Any:
    """The family object, checked to be a ``zoo.Family``; a plugin that is not one raises `PluginLoadError`."""
    family = catalog.family(name)
    if not isinstance(family, _zoo_family_type()):
        raise PluginLoadError(f"family {name!r} is a {type(family).__name__}, not a zoo.Family")
    return family


def _spec_problem(catalog: Catalog, card: Card) -> Exception | None:
    """Whether the card's family loads and accepts its spec (unknown fields, wrong types, failed checks)."""
    from zoo.models.spec import build_spec

    try:
        family = load_family(catalog, card.family)
    except PluginLoadError as exc:
        return PluginLoadError(f"{card.where}: its family does not load: {exc}")
    try:
        build_spec(family.spec, card.spec, where=card.where)  # the message zoo.create gives
    except ValueError as exc:
        return CardError(str(exc))
    return _kind_problem(family, card)


def _kind_problem(family: Any, card: Card) -> Exception | None:
    """Whether the card's modality and architecture are the backbone's: listing and task fitting read the
    card's, and ``architecture`` defaults to ``encoder`` when a card does not say."""
    from zoo.models.spec import build_spec

    backbone = family.build if isinstance(family.build, type) else \
        family.build(build_spec(family.spec, family.smoke_spec(card.spec), where=card.where))
    built = {key: getattr(backbone, key, None) for key in ("modality", "architecture")}
    mismatched = {key: value for key, value in built.items() if value is not None and value != getattr(card, key)}
    if not mismatched:
        return None
    said = "; ".join(f"{key} = {getattr(card, key)!r}, but the {family.name!r} family builds {value!r}"
                     for key, value in mismatched.items())
    fix = ", ".join(f'{key} = "{value}"' for key, value in mismatched.items())
    return CardError(f"{card.where}: {said} (a card that does not say its architecture is an 'encoder'); "
                     f"set {fix} in the card")


def _task_problem(catalog: Catalog, card: Card) -> Exception | None:
    """Whether the card's default task loads and fits its modality and architecture."""
    try:
        task = catalog.task(card.task)
    except PluginLoadError as exc:
        return PluginLoadError(f"{card.where}: its default task does not load: {exc}")
    if not task.fits(card.modality, card.architecture):
        return CardError(f"{card.where}: its default task {task.name!r} needs modality {'/'.join(task.modalities)} "
                         f"and architecture {'/'.join(task.architectures)}; the card has modality {card.modality}, "
                         f"architecture {card.architecture}")
    return None


def card_problems(catalog: Catalog, card: Card, *, deep: bool = True) -> list[Exception]:
    """Everything that keeps ``card`` from being built, as the errors to raise or report.

    Always: a family or default task that is not registered. With ``deep`` (imports torch):
    a family that does not load or rejects the card's spec, a task that does not load or fit.
    """
    missing = catalog.unregistered(card)
    problems: list[Exception | None] = [catalog.unregistered_error(card, kind) for kind in missing]
    if deep and "family" not in missing:
        problems.append(_spec_problem(catalog, card))
    if deep and "task" not in missing:
        problems.append(_task_problem(catalog, card))
    return [p for p in problems if p is not None]


def _loads(load: Any, *args: Any) -> list[str]:
    """[] if ``load(*args)`` works, else its error message."""
    try:
        load(*args)
    except Exception as exc:  # a broken plugin is a finding here, not a crash
        return [str(exc)]
    return []


def diagnose(catalog: Catalog, pattern: str = "*") -> list[str]:
    """Every problem with the installed plugins and the cards matching ``pattern``, one message each.

    Discovery's own findings (skipped cards and files, clashing names) come first, then
    families and tasks that do not load (a task's head module included), then cards that
    cannot be built. Warnings are not raised here: what they say is in the list.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        found = catalog.problems()
        for name in catalog.names("family"):
            found += _loads(load_family, catalog, name)
        for name in catalog.names("task"):
            found += _loads(lambda n: catalog.head(catalog.task(n)), name)
        for card in catalog.cards().values():
            if fnmatch.fnmatchcase(card.name, pattern):
                found += [str(p) for p in card_problems(catalog, card)]
    return list(dict.fromkeys(found))  # once each, in order
