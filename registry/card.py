"""Model cards: named, data-only descriptions of a model (family, modality, task, spec, meta)."""
from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import CardError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MODALITIES = ("image", "text", "audio")
ARCHITECTURES = ("encoder", "decoder", "encoder-decoder")
_FILE_KEYS = {"family", "modality", "architecture", "task", "spec", "meta", "cards"}
_CARD_KEYS = {"family", "modality", "architecture", "task", "spec", "meta", "params", "weights"}
HUB_PREFIX = "hf-hub:"  # a card's published weights: hf-hub:OWNER/NAME[@REVISION], as weights= takes them


@dataclass(frozen=True)
class Card:
    """One named model: which family builds it, with which spec, for which default task."""

    name: str
    family: str
    modality: str
    task: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    params: int | None = None  # parameter count with the default task head; checked by tests
    weights: str | None = None  # published weights, hf-hub:OWNER/NAME[@REVISION]: zoo.create(name, pretrained=True)
    source: str = "<code>"  # where the card came from, for error messages
    architecture: str = "encoder"  # encoder, decoder or encoder-decoder: which tasks fit

    def __post_init__(self) -> None:
        where = f"card {self.name!r} ({self.source})"
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise CardError(f"{where}: names are lowercase letters, digits, '.', '_' and '-'")
        for key in ("family", "task"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise CardError(f"{where}: {key!r} must be a non-empty string")
        if self.architecture not in ARCHITECTURES:
            raise CardError(f"{where}: architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        if self.modality not in MODALITIES:
            raise CardError(f"{where}: modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        for key in ("spec", "meta"):
            if not isinstance(getattr(self, key), Mapping):
                raise CardError(f"{where}: {key!r} must be a table")
        if self.params is not None and (not isinstance(self.params, int) or self.params <= 0):
            raise CardError(f"{where}: 'params' must be a positive integer")
        if self.weights is not None and (not isinstance(self.weights, str) or not self.weights.startswith(HUB_PREFIX)
                                         or len(self.weights) == len(HUB_PREFIX)):
            raise CardError(f"{where}: 'weights' must be a hub reference {HUB_PREFIX}OWNER/NAME[@REVISION], "
                            f"got {self.weights!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"], data["meta"] = dict(self.spec), dict(self.meta)
        return data


def cards_from_mapping(data: Mapping[str, Any], source: str) -> list[Card]:
    """Cards from one parsed card file: file-level defaults merged under each ``[cards.NAME]``."""
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise CardError(f"{source}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(_FILE_KEYS)}")
    entries = data.get("cards")
    if not isinstance(entries, Mapping) or not entries:
        raise CardError(f"{source}: needs at least one [cards.NAME] table")
    cards = []
    for name, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise CardError(f"{source}: [cards.{name}] must be a table")
        unknown = set(entry) - _CARD_KEYS
        if unknown:
            raise CardError(f"{source}: card {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(_CARD_KEYS)}")
        merged = {key: entry.get(key, data.get(key)) for key in ("family", "modality", "task")}
        missing = [key for key, value in merged.items() if value is None]
        merged["architecture"] = entry.get("architecture", data.get("architecture", "encoder"))
        if missing:
            raise CardError(f"{source}: card {name!r} does not say its {', '.join(missing)}")
        cards.append(Card(
            name=name, **merged,
            spec={**data.get("spec", {}), **entry.get("spec", {})},
            meta={**data.get("meta", {}), **entry.get("meta", {})},
            params=entry.get("params"), weights=entry.get("weights"), source=source,
        ))
    return cards


def read_card_file(path: Path | Any) -> list[Card]:
    """Parse one TOML card file (a path or an importlib.resources Traversable)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CardError(f"{path}: not valid TOML: {exc}") from None
    return cards_from_mapping(data, str(path))


def cards_from_source(obj: Any, source: str) -> list[Card]:
    """Cards from what a ``zoo.cards`` entry point provides.

    Accepted: a path (or Traversable) to a ``.toml`` file or a directory of them, a
    mapping in card-file layout, an iterable of `Card`, or a callable returning any of these.
    """
    if callable(obj) and not isinstance(obj, (str, Path)) and not hasattr(obj, "iterdir"):
        obj = obj()
    if isinstance(obj, str):
        obj = Path(obj)
    if hasattr(obj, "iterdir") and obj.is_dir():
        files = sorted((p for p in obj.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)
        return [card for f in files for card in read_card_file(f)]
    if hasattr(obj, "read_text"):
        return read_card_file(obj)
    if isinstance(obj, Mapping):
        return cards_from_mapping(obj, source)
    if isinstance(obj, Iterable):
        cards = list(obj)
        if all(isinstance(c, Card) for c in cards):
            return cards
    raise CardError(f"{source}: a card source must be a TOML file or folder, a card-file mapping, or Card objects")
