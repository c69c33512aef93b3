"""The catalogue: cards, families and tasks from entry points and in-code registration.

Entry points are read lazily. Cards are parsed on first use (cheap, no torch); families
and tasks are imported only when a model needs them. A plugin that fails to load is
reported by name with a warning and the rest keep working; a name claimed twice raises.
"""
from __future__ import annotations

import fnmatch
import importlib
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .card import Card, cards_from_source
from .errors import DuplicateNameError, UnknownNameError, check_name, unknown
from .task import TaskInfo

GROUPS = {"family": "zoo.families", "card": "zoo.cards", "task": "zoo.tasks"}


class PluginLoadError(ImportError):
    """A registered plugin object could not be imported."""


@dataclass
class _Entry:
    provider: str  # who registered it, for messages
    target: Any  # an EntryPoint until loaded, then the object
    loaded: bool = False


def _provider(ep: EntryPoint) -> str:
    dist = ep.dist.name if getattr(ep, "dist", None) is not None else "an unknown distribution"
    return f"distribution {dist!r} ({ep.group}: {ep.name} = {ep.value})"


def resolve(reference: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module_name, _, attr = reference.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


class Catalog:
    def __init__(self) -> None:
        self._in_code: dict[str, dict[str, _Entry]] = {kind: {} for kind in GROUPS}
        self._entries: dict[str, dict[str, _Entry]] = {}  # per kind, filled on first use
        self._cards: dict[str, Card] | None = None

    # discovery -----------------------------------------------------------------
    def refresh(self) -> None:
        """Forget what was discovered (keeping in-code registrations); rediscover on next use."""
        self._entries, self._cards = {}, None

    def _discovered(self, kind: str) -> dict[str, _Entry]:
        """Names of one kind from entry points and in-code registration; a name claimed twice raises."""
        if kind not in self._entries:
            table: dict[str, _Entry] = {}
            seen: set[tuple[str, str, str]] = set()
            for ep in entry_points(group=GROUPS[kind]):
                dist = ep.dist.name.lower().replace("_", "-") if getattr(ep, "dist", None) is not None else ""
                if (dist, ep.name, ep.value) in seen:  # one distribution found twice on sys.path
                    continue
                seen.add((dist, ep.name, ep.value))
                self._claim(table, kind, ep.name, _Entry(_provider(ep), ep))
            for name, entry in self._in_code[kind].items():
                self._claim(table, kind, name, entry)
            self._entries[kind] = table
        return self._entries[kind]

    @staticmethod
    def _claim(table: dict[str, _Entry], kind: str, name: str, entry: _Entry) -> None:
        if name in table:
            raise DuplicateNameError(
                f"{kind} {name!r} is registered twice: by {table[name].provider} and by {entry.provider}"
            )
        table[name] = entry

    def _load(self, kind: str, name: str, entry: _Entry) -> Any:
        if not entry.loaded:
            try:
                entry.target = entry.target.load()
            except Exception as exc:  # a broken plugin must not take the rest down
                raise PluginLoadError(f"{kind} {name!r} from {entry.provider} failed to load: "
                                      f"{type(exc).__name__}: {exc}") from exc
            entry.loaded = True
        return entry.target

    def cards(self) -> dict[str, Card]:
        """Every card by name, sorted."""
        if self._cards is None:
            cards: dict[str, Card] = {}
            providers: dict[str, str] = {}
            for source_name, entry in sorted(self._discovered("card").items()):
                try:
                    found = cards_from_source(self._load("card", source_name, entry), entry.provider)
                except Exception as exc:
                    warnings.warn(f"skipping model cards: {exc}", RuntimeWarning, stacklevel=3)
                    continue
                for card in found:
                    if card.name in cards:
                        raise DuplicateNameError(
                            f"model {card.name!r} is defined twice: in {cards[card.name].source} "
                            f"(from {providers[card.name]}) and in {card.source} (from {entry.provider})"
                        )
                    cards[card.name], providers[card.name] = card, entry.provider
            self._cards = dict(sorted(cards.items()))
        return self._cards

    # lookup ----------------------------------------------------------------------
    def card(self, name: str) -> Card:
        check_name("model", name)
        cards = self.cards()
        if name not in cards:
            raise unknown("model", name, cards)
        return cards[name]

    def family(self, name: str) -> Any:
        check_name("family", name)
        table = self._discovered("family")
        if name not in table:
            raise unknown("family", name, table)
        return self._load("family", name, table[name])

    def task(self, name: str) -> TaskInfo:
        check_name("task", name)
        table = self._discovered("task")
        if name not in table:
            raise unknown("task", name, table)
        task = self._load("task", name, table[name])
        if not isinstance(task, TaskInfo):
            raise PluginLoadError(f"task {name!r} from {table[name].provider} is a {type(task).__name__}, not a TaskInfo")
        return task

    def family_names(self) -> list[str]:
        return sorted(self._discovered("family"))

    def task_names(self) -> list[str]:
        """Registered tasks that load; broken ones are reported and left out."""
        names = []
        for name in sorted(self._discovered("task")):
            try:
                self.task(name)
            except PluginLoadError as exc:
                warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
                continue
            names.append(name)
        return names

    def list_models(self, pattern: str = "*", *, modality: str | None = None, task: str | None = None,
                    pretrained: bool = False) -> list[str]:
        """Card names matching a shell-style ``pattern``, a modality and a task they can serve
        (and, with ``pretrained``, only those with published weights)."""
        task_info = self.task(task) if task is not None else None
        return [
            card.name for card in self.cards().values()
            if fnmatch.fnmatchcase(card.name, pattern)
            and (modality is None or card.modality == modality)
            and (task_info is None or card.task == task or task_info.fits(card.modality, card.architecture))
            and (not pretrained or card.weights is not None)
        ]

    # in-code registration ----------------------------------------------------------
    def register(self, kind: str, name: str, obj: Any) -> None:
        entry = _Entry("in-code registration", obj, loaded=True)
        self._claim(self._discovered(kind), kind, name, entry)  # raises if installed or registered already
        self._in_code[kind][name] = entry
        if kind == "card":
            self._cards = None

    def unregister(self, kind: str, name: str) -> None:
        """Remove an in-code registration (tests and notebooks)."""
        if self._in_code[kind].pop(name, None) is None:
            raise UnknownNameError(f"no in-code {kind} named {name!r}")
        self.refresh()


CATALOG = Catalog()
