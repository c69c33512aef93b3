"""``zoo new-plugin NAME``: write a plugin distribution that installs and passes the conformance kit.

The template (``zoo/scaffold/template``) is a working plugin: a text encoder family from
``zoo.nn``, two cards, a task with its head, and a test file running `zoo.testing` over the
distribution's cards. Names derive from NAME: the distribution ``NAME``, the package
``NAME`` with ``_`` for ``-``, the family ``NAME``, the cards ``NAME-tiny`` / ``NAME-small``
and the task ``NAME-score``. Nothing is overwritten: the target folder must not exist.
"""
from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
TEMPLATE_SUFFIX = ".tmpl"


class ScaffoldError(ValueError):
    """A plugin name or target folder that the scaffold cannot use."""


def names(name: str) -> dict[str, str]:
    """Every name the template uses, derived from the plugin's name."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ScaffoldError(f"plugin names are lowercase words joined by '-' (e.g. acme-encoder), got {name!r}: "
                            "it names the distribution, its family, cards and task")
    return {"name": name, "package": name.replace("-", "_"), "family": name, "task": f"{name}-score",
            "Class": "".join(part.capitalize() for part in name.split("-"))}


def _taken(values: dict[str, str]) -> list[str]:
    """Names the catalogue already has (a plugin with them would be skipped at discovery)."""
    import registry

    taken = [f"family {values['family']!r}"] if values["family"] in registry.list_families() else []
    taken += [f"task {values['task']!r}"] if values["task"] in registry.list_tasks() else []
    cards = set(registry.list_models())
    return taken + [f"card {c!r}" for c in (f"{values['family']}-tiny", f"{values['family']}-small") if c in cards]


def new_plugin(name: str, parent: str | Path = ".") -> Path:
    """Write the plugin ``name`` into ``parent/name``; returns that folder."""
    values = names(name)
    taken = _taken(values)
    if taken:
        raise ScaffoldError(f"{', '.join(taken)} already exist in the catalogue; pick another plugin name")
    target = Path(parent) / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists; new-plugin writes a new folder and never overwrites one")
    for source, relative in _template_files(files(__name__) / "template"):
        out = target / relative.replace("package/", f"{values['package']}/", 1).removesuffix(TEMPLATE_SUFFIX)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
    return target


def _template_files(folder: Any, prefix: str = "") -> list[tuple[Any, str]]:
    """(file, path relative to the template root) for every template under ``folder`` (a Traversable)."""
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            found += _template_files(entry, f"{relative}/")
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            found.append((entry, relative))
    return found
