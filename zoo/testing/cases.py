"""Which checks apply to what, as a list of cases one pytest parametrization can run.

A check runs per task (every registered task that fits the card: the head, its loss, its
saving) or per card (what the backbone promises whatever the head: padding, causality, KV
caches, checkpointing, tracing). Cards whose smoke specs are the same (sizes of one family differ
only in fields the smoke overrides replace) build the same model, so they share their cases.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable, Iterable

import registry

from . import checks, tracing
from .subject import Subject, for_card, for_family


@dataclass(frozen=True)
class Check:
    """One guarantee: ``run(subject)`` raises `ConformanceError` if broken; ``applies(subject)`` says
    whether it concerns the subject at all; ``per_task`` runs it for every fitting task."""

    name: str
    run: Callable[[Subject], None]
    applies: Callable[[Subject], bool] = lambda subject: True
    per_task: bool = False


def _decoder(subject: Subject) -> bool:
    return subject.architecture in ("decoder", "encoder-decoder")


CHECKS = (
    Check("forward_backward", checks.forward_backward, per_task=True),
    Check("deterministic", checks.deterministic, per_task=True),
    Check("interface", checks.interface, per_task=True),
    Check("save_load", checks.save_load, per_task=True),
    Check("padding", checks.padding, applies=lambda s: s.modality == "text" or "text" in s.towers()),
    Check("causal", checks.causal, applies=_decoder),
    Check("kv_cache", checks.kv_cache, applies=_decoder),
    Check("grad_checkpointing", checks.grad_checkpointing),
    Check("compile", tracing.compile_fullgraph),
    Check("export", tracing.export_static, per_task=True),
    Check("export_dynamic", tracing.export_dynamic),
)
BY_NAME = {check.name: check for check in CHECKS}


@dataclass(frozen=True)
class Case:
    """One check on one subject; ``str(case)`` is its test id."""

    check: Check
    subject: Subject

    def run(self) -> None:
        self.check.run(self.subject)

    def __str__(self) -> str:
        return f"{self.subject.card or self.subject.family.name}-{self.subject.task}-{self.check.name}"


def _select(names: Iterable[str] | None) -> tuple[Check, ...]:
    if names is None:
        return CHECKS
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown checks {', '.join(unknown)}; the kit has {', '.join(BY_NAME)}")
    return tuple(BY_NAME[n] for n in names)


def subject_cases(subject: Subject, selected: Iterable[str] | None = None, tasks: Iterable[str] | None = None
                  ) -> list[Case]:
    """The cases for one subject: per-task checks for each of ``tasks`` (default: every fitting task),
    the others on the subject's own task."""
    tasks = list(tasks) if tasks is not None else subject.tasks()
    found = []
    for check in _select(selected):
        targets = [subject.with_task(t) for t in tasks] if check.per_task else [subject]
        found += [Case(check, s) for s in targets if check.applies(s)]
    return found


def _smoke_key(subject: Subject) -> str:
    from ..models.spec import build_spec

    spec = build_spec(subject.family.spec, subject.spec, where=str(subject))
    return f"{subject.family.name}:{spec!r}"


def cases(cards: Iterable[str] | None = None, *, distribution: str | None = None,
          checks: Iterable[str] | None = None, tasks: Iterable[str] | None = None) -> list[Case]:
    """Every case for ``cards`` (default: every card, or those ``distribution`` provides), ready for
    ``@pytest.mark.parametrize("case", cases(...), ids=str)``. Cards whose smoke specs are the same
    build the same model, so each check runs once per distinct smoke spec and task (on the first card)."""
    names = list(cards) if cards is not None else cards_of(distribution) if distribution else registry.list_models()
    seen: set[tuple[str, str, str]] = set()
    found = []
    for name in names:
        for case in subject_cases(for_card(name), checks, tasks):
            key = (case.check.name, case.subject.task, _smoke_key(case.subject))
            if key not in seen:
                seen.add(key)
                found.append(case)
    return found


def cards_of(distribution: str) -> list[str]:
    """The card names a distribution's ``zoo.cards`` entry points provide."""
    from registry.card import cards_from_source

    wanted = distribution.lower().replace("_", "-")
    names: list[str] = []
    for ep in entry_points(group=registry.GROUPS["card"]):
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.name.lower().replace("_", "-") == wanted:
            names += [card.name for card in cards_from_source(ep.load(), f"{distribution} ({ep.name})")]
    if not names:
        raise ValueError(f"distribution {distribution!r} provides no model cards (zoo.cards entry points); "
                         "is it installed?")
    return sorted(set(names))


def _run_all(found: list[Case]) -> None:
    for case in found:
        case.run()


def check_card(name: str, *, checks: Iterable[str] | None = None, tasks: Iterable[str] | None = None) -> None:
    """Run every check (or ``checks``) on card ``name``'s smoke config, for every fitting task (or ``tasks``)."""
    _run_all(subject_cases(for_card(name), checks, tasks))


def check_family(family, *, checks: Iterable[str] | None = None, tasks: Iterable[str] | None = None) -> None:
    """Run the checks on a `zoo.Family` without a card: its spec defaults with its smoke overrides."""
    _run_all(subject_cases(for_family(family), checks, tasks))


def check_task(task: str, *, card: str, checks: Iterable[str] | None = None) -> None:
    """Run the per-task checks for ``task`` on ``card`` (which the task must fit)."""
    subject = for_card(card, task)
    if not subject.fits(task):
        raise ValueError(f"task {task!r} does not fit card {card!r} ({subject.modality} {subject.architecture}); "
                         "pick a card the task serves")
    per_task = [c.name for c in _select(checks) if c.per_task]
    _run_all(subject_cases(subject, per_task, [task]))
