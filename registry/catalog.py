"""The catalogue: cards, families and tasks from entry points and in-code registration.

Entry points are read lazily. Cards are parsed on first use (cheap, no torch); families
and tasks are imported only when a model needs them. One plugin never breaks the rest:

- a plugin that fails to load is reported by name, with a `PluginWarning`;
- an invalid card is skipped on its own, an invalid card file as a whole, each with a
  warning, and a later lookup of a name they would have defined says so;
- a name claimed twice keeps its first claim and skips the later one with a warning
  naming both providers. First means: the built-ins (the ``transformer-zoo``
  distribution), then installed plugins in the alphabetical order of their distribution
  names, then in-code registrations in the order they were made; within a distribution,
  entry points in the order it lists them, card files in name order, cards in file order.

In-code registration of a taken name raises `DuplicateNameError`: a script wants to know at once.
Each problem is warned about once per discovery; `Catalog.problems` lists them all.
"""
from __future__ import annotations

import fnmatch
import importlib
import os
import sys
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Callable

from .card import Card, parse_source
from .errors import (
    CardError, DuplicateNameError, PluginWarning, UnknownNameError, check_name, unknown,
)
from .task import TaskInfo

GROUPS = {"family": "zoo.families", "card": "zoo.cards", "task": "zoo.tasks"}
BUILTIN = "transformer-zoo"  # the distribution whose entry points come first
IN_CODE = "in-code registration"


_OURS = tuple(str(Path(__file__).resolve().parents[1] / package) + os.sep for package in ("registry", "zoo"))


class PluginLoadError(ImportError):
    """A registered plugin object could not be imported."""


@dataclass
class _Entry:
    provider: str  # who registered it, for messages
    target: Any  # an EntryPoint until loaded, then the object
    loaded: bool = False


def _dist_name(ep: EntryPoint, normalize: bool = True) -> str:
    """The entry point's distribution name, normalized unless asked not to ('' when unknown)."""
    name = getattr(getattr(ep, "dist", None), "name", None) or ""
    return name.lower().replace("_", "-").replace(".", "-") if normalize else name


def _provider(ep: EntryPoint) -> str:
    dist = _dist_name(ep, normalize=False)
    return f"{f'distribution {dist!r}' if dist else 'an unknown distribution'} ({ep.group}: {ep.name} = {ep.value})"


def _installed(kind: str) -> list[EntryPoint]:
    """One group's entry points, once each, in precedence order: built-ins, then plugins by distribution name."""
    unique: dict[tuple[str, str, str], EntryPoint] = {}
    for ep in entry_points(group=GROUPS[kind]):  # one distribution may be found twice on sys.path
        unique.setdefault((_dist_name(ep), ep.name, ep.value), ep)

    def precedence(ep: EntryPoint) -> tuple[int, str]:
        dist = _dist_name(ep)
        return (0 if dist == BUILTIN else 1 if dist else 2, dist)

    return sorted(unique.values(), key=precedence)  # stable: a distribution's own order is kept


def resolve(reference: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module_name, _, attr = reference.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def _origin_of(source: str, provider: str) -> str:
    """Where a card comes from: its file and, if another, the provider of that file."""
    return source if provider == source else f"{source} (from {provider})"


def _origin(card: Card, provider: str) -> str:
    return _origin_of(card.source, provider)


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside registry/ and zoo/ (the user's line)."""
    frame, level = sys._getframe(1), 1  # stacklevel 1: the frame that calls warnings.warn
    while frame is not None and frame.f_code.co_filename.startswith(_OURS):
        frame, level = frame.f_back, level + 1
    return level


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Catalog:
    """Cards, families and tasks by name, discovered lazily; see the module docstring for the rules."""

    def __init__(self) -> None:
        self._in_code: dict[str, dict[str, _Entry]] = {kind: {} for kind in GROUPS}
        self._entries: dict[str, dict[str, _Entry]] = {}  # per kind, filled on first use
        self._cards: dict[str, Card] | None = None
        self._card_providers: dict[str, str] = {}  # card name -> provider of its source
        self._skipped_cards: dict[str, CardError] = {}  # invalid cards, by name
        self._skipped_sources: list[str] = []  # card files and sources skipped whole: why
        self._problems: dict[str, None] = {}  # every problem reported since the last refresh, in order

    # discovery -----------------------------------------------------------------
    def refresh(self) -> None:
        """Forget what was discovered (keeping in-code registrations); rediscover on next use."""
        self._entries, self._cards, self._problems = {}, None, {}

    def _report(self, message: str) -> None:
        """Warn about a plugin problem, once per discovery."""
        if message not in self._problems:
            self._problems[message] = None
            warnings.warn(message, PluginWarning, stacklevel=_caller_level())

    def problems(self) -> list[str]:
        """Every problem discovery found: skipped cards, card files and clashing names, broken tasks."""
        self.cards()
        self._discovered("family")
        self.task_names()
        return list(self._problems)

    def _discovered(self, kind: str) -> dict[str, _Entry]:
        """Names of one kind from entry points and in-code registration, in precedence order."""
        if kind not in self._entries:
            table: dict[str, _Entry] = {}
            for ep in _installed(kind):
                key = f"{_dist_name(ep)}:{ep.name}" if kind == "card" else ep.name  # card sources never clash
                self._claim(table, kind, key, _Entry(_provider(ep), ep))
            for name, entry in self._in_code[kind].items():
                self._claim(table, kind, name, entry)
            self._entries[kind] = table
        return self._entries[kind]

    def _claim(self, table: dict[str, _Entry], kind: str, name: str, entry: _Entry) -> None:
        """The first claim on a name wins; a later one is skipped with a warning naming both."""
        if name in table:
            self._report(f"{kind} {name!r} from {entry.provider} is skipped: the name is taken by "
                         f"{table[name].provider}. Rename one of them, or uninstall one of the two distributions.")
        else:
            table[name] = entry

    def _load(self, kind: str, name: str, entry: _Entry) -> Any:
        if not entry.loaded:
            try:
                entry.target = entry.target.load()
            except Exception as exc:  # a broken plugin must not take the rest down
                what = "model cards" if kind == "card" else f"{kind} {name!r}"
                raise PluginLoadError(f"{what} from {entry.provider} failed to load: {_failure(exc)}") from exc
            entry.loaded = True
        return entry.target

    def cards(self) -> dict[str, Card]:
        """Every valid card by name, sorted."""
        if self._cards is None:
            self._cards = self._discover_cards()
        return self._cards

    def _discover_cards(self) -> dict[str, Card]:
        cards: dict[str, Card] = {}
        self._card_providers, self._skipped_cards, self._skipped_sources = {}, {}, []
        for key, entry in self._discovered("card").items():
            for card in self._source_cards(key, entry):
                if card.name in cards:
                    self._report(f"model {card.name!r} in {_origin(card, entry.provider)} is skipped: the name is "
                                 f"taken by {_origin(cards[card.name], self._card_providers[card.name])}. "
                                 "Rename one of them, or uninstall one of the two distributions.")
                    continue
                cards[card.name], self._card_providers[card.name] = card, entry.provider
        for name in cards:  # a card skipped in one file but defined in another is not missing
            self._skipped_cards.pop(name, None)
        return dict(sorted(cards.items()))

    def _source_cards(self, key: str, entry: _Entry) -> list[Card]:
        """The valid cards of one card source; each card or file skipped is recorded and reported."""
        try:
            parsed = parse_source(self._load("card", key, entry), entry.provider)
        except Exception as exc:
            failure = str(exc) if isinstance(exc, PluginLoadError) else \
                f"model cards from {entry.provider} failed to read: {_failure(exc)}"
            self._skip_source(failure, "none of its models are available")
            return []
        for error in parsed.bad_files:
            self._skip_source(f"card file {_origin_of(error.source, entry.provider)}: {error.reason}",
                              "none of its models are available; fix the file")
        for error in parsed.bad_cards:
            self._skipped_cards.setdefault(error.card, error)
            self._report(f"model {error.card!r} in {_origin_of(error.source, entry.provider)} is skipped: "
                         f"{error.reason}. The other cards of its file are loaded; fix this card to use it.")
        return parsed.cards

    def _skip_source(self, failure: str, consequence: str) -> None:
        """Record and report a card file or card source that was skipped as a whole."""
        self._skipped_sources.append(failure)
        self._report(f"skipping model cards: {failure} ({consequence})")

    # lookup ----------------------------------------------------------------------
    def card(self, name: str) -> Card:
        check_name("model", name)
        cards = self.cards()
        if name in cards:
            return cards[name]
        if name in self._skipped_cards:
            error = self._skipped_cards[name]
            raise UnknownNameError(f"model {name!r} was skipped: {error.source}: {error.reason}")
        note = (f" Some model cards were skipped, so {name!r} may be among them: {'; '.join(self._skipped_sources)}."
                if self._skipped_sources else "")
        raise unknown("model", name, cards, note)

    def family(self, name: str) -> Any:
        check_name("family", name)
        table = self._discovered("family")
        if name not in table:
            raise unknown("family", name, table, self._named_by("family", name))
        return self._same_name("family", name, table[name], self._load("family", name, table[name]))

    @staticmethod
    def _same_name(kind: str, name: str, entry: _Entry, obj: Any) -> Any:
        """A family or task registered under another name than its own could be created but not reloaded
        (zoo.load looks up the name a saved model records): an error naming both."""
        own = getattr(obj, "name", name)
        if own != name:
            raise PluginLoadError(f"{kind} {name!r} from {entry.provider} calls itself {own!r}; register it under "
                                  f"its own name (the entry point name and the {kind}'s name must be the same)")
        return obj

    def task(self, name: str) -> TaskInfo:
        check_name("task", name)
        table = self._discovered("task")
        if name not in table:
            raise unknown("task", name, table, self._named_by("task", name))
        task = self._load("task", name, table[name])
        if not isinstance(task, TaskInfo):
            raise PluginLoadError(f"task {name!r} from {table[name].provider} is a {type(task).__name__}, not a TaskInfo")
        return self._same_name("task", name, table[name], task)

    def _named_by(self, kind: str, name: str) -> str:
        """For an unknown family or task: a note on the cards that name it, and what to do."""
        users = [card.where for card in self.cards().values() if getattr(card, kind) == name]
        if not users:
            return ""
        more = f" and {len(users) - 3} more" if len(users) > 3 else ""
        return (f" It is named by {', '.join(users[:3])}{more}: install the distribution that provides {kind} "
                f"{name!r}, or register it first with zoo.register_{kind}.")

    def head(self, task: TaskInfo) -> Callable[..., Any]:
        """The task's head factory, importing a ``"module:attr"`` head; a failure names the task and its provider."""
        if not isinstance(task.head, str):
            return task.head
        try:
            return resolve(task.head)
        except Exception as exc:
            entry = self._discovered("task").get(task.name)
            provider = entry.provider if entry is not None and entry.target is task else "an unregistered TaskInfo"
            raise PluginLoadError(f"task {task.name!r} from {provider} failed to load its head {task.head!r}: "
                                  f"{_failure(exc)}") from exc

    def names(self, kind: str) -> list[str]:
        """Registered names of a kind (``family`` or ``task``), without importing anything."""
        return sorted(self._discovered(kind))

    def unregistered(self, card: Card) -> list[str]:
        """Which of ``family`` and ``task`` the card names without them being registered (torch-free)."""
        return [kind for kind in ("family", "task") if getattr(card, kind) not in self._discovered(kind)]

    def unregistered_error(self, card: Card, kind: str) -> UnknownNameError:
        """The error for a card naming an unregistered family or task: which card, which file, what to do."""
        error = unknown(kind, getattr(card, kind), self._discovered(kind),
                        f" Install the distribution that provides it, or register it first with "
                        f"zoo.register_{kind}.")
        return UnknownNameError(f"{card.where}: {error}")

    def family_names(self) -> list[str]:
        return self.names("family")

    def task_names(self) -> list[str]:
        """Registered tasks that load; broken ones are reported and left out."""
        names = []
        for name in sorted(self._discovered("task")):
            try:
                self.task(name)
            except PluginLoadError as exc:
                self._report(str(exc))
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
            and (modality is None or modality in (card.modality, *card.modality.split("-")))
            and (task_info is None or card.task == task
                 or task_info.modality_for(card.modality, card.architecture) is not None)
            and (not pretrained or card.weights is not None)
        ]

    # in-code registration ----------------------------------------------------------
    def taken(self, kind: str, name: str) -> DuplicateNameError | None:
        """The error for registering a taken ``name`` in code, naming who holds it; None if it is free."""
        if kind == "card":
            if name not in self.cards():
                return None
            return DuplicateNameError(f"model {name!r} is already defined in "
                                      f"{_origin(self.cards()[name], self._card_providers[name])}; pick another name")
        table = self._discovered(kind)
        if name not in table:
            return None
        return DuplicateNameError(f"{kind} {name!r} is registered twice: by {table[name].provider} and by "
                                  f"{IN_CODE}; pick another name")

    def register(self, kind: str, name: str, obj: Any) -> None:
        """Register ``obj`` from code; a taken name raises `DuplicateNameError` naming its holder."""
        error = self.taken(kind, name) if kind != "card" else None  # cards: register_card checks the card name
        if error is not None:
            raise error
        entry = _Entry(IN_CODE, obj, loaded=True)
        self._discovered(kind)[name] = entry
        self._in_code[kind][name] = entry
        if kind == "card":
            self._cards = None

    def unregister(self, kind: str, name: str) -> None:
        """Remove an in-code registration (tests and notebooks)."""
        if self._in_code[kind].pop(name, None) is None:
            raise UnknownNameError(f"no in-code {kind} named {name!r}")
        self.refresh()


CATALOG = Catalog()
