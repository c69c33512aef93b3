"""Errors raised by the catalogue."""
from __future__ import annotations

import difflib
from typing import Iterable


class UnknownNameError(LookupError):
    """A model, family or task name that is not registered."""


class DuplicateNameError(ValueError):
    """Two providers registered the same name."""


class CardError(ValueError):
    """A card file or card entry is malformed."""


def unknown(kind: str, name: str, known: Iterable[str]) -> UnknownNameError:
    """An error for ``name`` that suggests the closest known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.4)
    close += [k for k in known if name and name in k and k not in close][: 5 - len(close)]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    listing = f" Known {kind}s: {', '.join(known)}." if len(known) <= 12 else f" ({len(known)} {kind}s are registered.)"
    return UnknownNameError(f"unknown {kind} {name!r}.{hint}{listing}")


def check_name(kind: str, name: object) -> None:
    """Names are strings: anything else is a TypeError saying so, not a failed lookup."""
    if not isinstance(name, str):
        listing = {"model": "zoo.list_models()", "task": "zoo.list_tasks()", "family": "zoo.list_families()"}[kind]
        raise TypeError(f"a {kind} name must be a string, got {type(name).__name__} {name!r:.40}; "
                        f"{listing} lists them")
