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

from .errors import CardError, card_where

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MODALITIES = ("image", "text", "audio", "image-text")  # image-text: two towers, each usable alone
ARCHITECTURES = ("encoder", "decoder", "encoder-decoder", "dual-encoder")
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
    architecture: str = "encoder"  # encoder, decoder, encoder-decoder or dual-encoder: which tasks fit

    def __post_init__(self) -> None:
        reason = _card_problem(self)
        if reason:
            raise CardError(reason, source=self.source, card=self.name)

    @property
    def where(self) -> str:
        """``model 'name' (source)``: how messages name this card."""
        return card_where(self.name, self.source)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"], data["meta"] = dict(self.spec), dict(self.meta)
        return data


def _card_problem(card: Card) -> str | None:
    """Why ``card``'s own data is invalid, or None."""
    if not isinstance(card.name, str) or not NAME_PATTERN.match(card.name):
        return "names are lowercase letters, digits, '.', '_' and '-'"
    for key in ("family", "task"):
        if not isinstance(getattr(card, key), str) or not getattr(card, key):
            return f"{key!r} must be a non-empty string"
    if card.architecture not in ARCHITECTURES:
        return f"architecture {card.architecture!r} is not one of {', '.join(ARCHITECTURES)}"
    if card.modality not in MODALITIES:
        return f"modality {card.modality!r} is not one of {', '.join(MODALITIES)}"
    for key in ("spec", "meta"):
        if not isinstance(getattr(card, key), Mapping):
            return f"{key!r} must be a table"
    if card.params is not None and (isinstance(card.params, bool) or not isinstance(card.params, int)
                                    or card.params <= 0):
        return "'params' must be a positive integer"
    if card.weights is not None and (not isinstance(card.weights, str) or not card.weights.startswith(HUB_PREFIX)
                                     or len(card.weights) == len(HUB_PREFIX)):
        return f"'weights' must be a hub reference {HUB_PREFIX}OWNER/NAME[@REVISION], got {card.weights!r}"
    return None


@dataclass
class ParsedCards:
    """What a card source yielded: its valid cards, and the cards and files skipped (each a `CardError`)."""

    cards: list[Card] = field(default_factory=list)
    bad_cards: list[CardError] = field(default_factory=list)
    bad_files: list[CardError] = field(default_factory=list)

    def extend(self, other: ParsedCards) -> None:
        self.cards += other.cards
        self.bad_cards += other.bad_cards
        self.bad_files += other.bad_files

    def strict(self) -> list[Card]:
        """The cards, or the first problem raised."""
        for error in (*self.bad_files, *self.bad_cards):
            raise error
        return self.cards


def _check_file(data: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """The ``[cards.NAME]`` tables of a parsed card file; a problem with the file itself raises."""
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise CardError(f"unknown top-level keys {sorted(unknown)}; allowed: {sorted(_FILE_KEYS)}", source=source)
    for key in ("spec", "meta"):
        if not isinstance(data.get(key, {}), Mapping):
            raise CardError(f"{key!r} must be a table", source=source)
    entries = data.get("cards")
    if not isinstance(entries, Mapping) or not entries:
        raise CardError("needs at least one [cards.NAME] table", source=source)
    return entries


def _card_from_entry(name: str, entry: Any, data: Mapping[str, Any], source: str) -> Card:
    """One ``[cards.NAME]`` table merged over the file's defaults; a problem raises a `CardError` for this card."""
    def fail(reason: str) -> CardError:
        return CardError(reason, source=source, card=name)

    if not isinstance(entry, Mapping):
        raise fail(f"[cards.{name}] must be a table")
    unknown = set(entry) - _CARD_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}; allowed: {sorted(_CARD_KEYS)}")
    for key in ("spec", "meta"):
        if not isinstance(entry.get(key, {}), Mapping):
            raise fail(f"{key!r} must be a table")
    merged = {key: entry.get(key, data.get(key)) for key in ("family", "modality", "task")}
    missing = [key for key, value in merged.items() if value is None]
    if missing:
        raise fail(f"does not say its {', '.join(missing)}")
    return Card(
        name=name, **merged, architecture=entry.get("architecture", data.get("architecture", "encoder")),
        spec={**data.get("spec", {}), **entry.get("spec", {})},
        meta={**data.get("meta", {}), **entry.get("meta", {})},
        params=entry.get("params"), weights=entry.get("weights"), source=source,
    )


def parse_cards(data: Mapping[str, Any], source: str) -> ParsedCards:
    """Cards from one parsed card file, each invalid card skipped on its own; a bad file raises `CardError`."""
    parsed = ParsedCards()
    for name, entry in _check_file(data, source).items():
        try:
            parsed.cards.append(_card_from_entry(name, entry, data, source))
        except CardError as exc:
            parsed.bad_cards.append(exc)
    return parsed


def cards_from_mapping(data: Mapping[str, Any], source: str) -> list[Card]:
    """Cards from one parsed card file: file-level defaults merged under each ``[cards.NAME]``.
    Strict: the first invalid card raises."""
    return parse_cards(data, source).strict()


def parse_card_file(path: Path | Any) -> ParsedCards:
    """Parse one TOML card file (a path or an importlib.resources Traversable); a bad file raises `CardError`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CardError(f"not valid TOML: {exc}", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(f"cannot be read: {exc}", source=str(path)) from None
    return parse_cards(data, str(path))


def read_card_file(path: Path | Any) -> list[Card]:
    """Parse one TOML card file (a path or an importlib.resources Traversable). Strict."""
    return parse_card_file(path).strict()


def _lenient(parse: Any, *args: Any) -> ParsedCards:
    """``parse(*args)``, with a bad file recorded instead of raised."""
    try:
        return parse(*args)
    except CardError as exc:
        return ParsedCards(bad_files=[exc])


def parse_source(obj: Any, source: str) -> ParsedCards:
    """Cards from what a ``zoo.cards`` entry point provides, skipping (and recording) each bad card and file.

    Accepted: a path (or Traversable) to a ``.toml`` file or a directory of them, a
    mapping in card-file layout, an iterable of `Card`, or a callable returning any of these.
    """
    if callable(obj) and not isinstance(obj, (str, Path)) and not hasattr(obj, "iterdir"):
        obj = obj()
    if isinstance(obj, str):
        obj = Path(obj)
    if hasattr(obj, "iterdir") and obj.is_dir():
        parsed = ParsedCards()
        for path in sorted((p for p in obj.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name):
            parsed.extend(_lenient(parse_card_file, path))
        return parsed
    if hasattr(obj, "read_text"):
        return _lenient(parse_card_file, obj)
    if isinstance(obj, Mapping):
        return _lenient(parse_cards, obj, source)
    if isinstance(obj, Iterable):
        cards = list(obj)
        if all(isinstance(c, Card) for c in cards):
            return ParsedCards(cards)
    return ParsedCards(bad_files=[CardError(
        "a card source must be a TOML file or folder, a card-file mapping, or Card objects", source=source)])


def cards_from_source(obj: Any, source: str) -> list[Card]:
    """Cards from what a ``zoo.cards`` entry point provides (see `parse_source`). Strict: a problem raises."""
    return parse_source(obj, source).strict()
