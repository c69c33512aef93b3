"""Errors and warnings raised by the catalogue."""
from __future__ import annotations

import difflib
from typing import Iterable


class UnknownNameError(LookupError):
    """A model, family or task name that is not registered."""


class DuplicateNameError(ValueError):
    """Two providers registered the same name."""


class CardError(ValueError):
    """A card file or card entry is malformed.

    ``source`` (the card file), ``card`` (the card's name; None for the whole file) and
    ``reason`` say where and why, so that a skipped card can be explained later.
    """

    def __init__(self, reason: str, *, source: str = "", card: str | None = None) -> None:
        self.reason, self.source, self.card = reason, source, card
        where = card_where(card, source) if card is not None else source
        super().__init__(f"{where}: {reason}" if where else reason)


def card_where(name: str, source: str) -> str:
    """How messages name a card: ``model 'name' (source)``."""
    return f"model {name!r} ({source})"


class PluginWarning(RuntimeWarning):
    """A plugin's card, card file, family or task was skipped or failed to load; the rest keep working."""


_PLURALS = {"family": "families"}


def plural(kind: str) -> str:
    """'model' -> 'models', 'family' -> 'families'."""
    return _PLURALS.get(kind, f"{kind}s")


def unknown(kind: str, name: str, known: Iterable[str], note: str = "") -> UnknownNameError:
    """An error for ``name`` that suggests the closest known names; ``note`` says what else to know."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.4)
    close += [k for k in known if name and name in k and k not in close][: 5 - len(close)]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    kinds = plural(kind)
    listing = f" Known {kinds}: {', '.join(known)}." if len(known) <= 12 else f" ({len(known)} {kinds} are registered.)"
    return UnknownNameError(f"unknown {kind} {name!r}.{hint}{listing}{note}")


def check_name(kind: str, name: object) -> None:
    """Names are strings: anything else is a TypeError saying so, not a failed lookup."""
    if not isinstance(name, str):
        listing = {"model": "zoo.list_models()", "task": "zoo.list_tasks()", "family": "zoo.list_families()"}[kind]
        raise TypeError(f"a {kind} name must be a string, got {type(name).__name__} {name!r:.40}; "
                        f"{listing} lists them")
