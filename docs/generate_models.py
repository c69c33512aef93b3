"""Generate docs/models.md, the table of built-in models, from the model cards.

    python docs/generate_models.py            # rewrite docs/models.md
    python docs/generate_models.py --check    # exit 1 if docs/models.md is out of date

Only the cards that transformer-zoo itself ships (its own ``zoo.cards`` entry points) are
listed, so an installed plugin or a card registered in a notebook never changes the page.
Torch-free: cards are read through ``registry`` and nothing is built.
"""
from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: `python docs/generate_models.py`
    sys.path.insert(0, str(ROOT))

import registry  # noqa: E402
from registry.card import Card, cards_from_source  # noqa: E402
from zoo.cli import format_params  # noqa: E402  (torch-free, shared with `zoo list`)

DISTRIBUTION = "transformer-zoo"
OUTPUT = Path(__file__).resolve().parent / "models.md"
COMMAND = "python docs/generate_models.py"
TITLES = {"image": "Image models", "text": "Text models", "audio": "Audio models"}
# per modality: (column title, meta keys then spec keys to try)
EXTRA_COLUMNS: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "image": [("Image size", ("image_size",), ("img_size",)), ("Patch", (), ("patch_size",))],
    "text": [("Context", ("context_length",), ("max_len", "max_positions", "n_positions"))],
    "audio": [("Sample rate", ("sample_rate",), ("sample_rate",))],
}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def builtin_cards(distribution: str = DISTRIBUTION) -> list[Card]:
    """The cards that ``distribution``'s own ``zoo.cards`` entry points provide, sorted by name."""
    cards: dict[str, Card] = {}
    seen: set[tuple[str, str]] = set()
    for ep in entry_points(group=registry.GROUPS["card"]):
        dist = getattr(ep, "dist", None)
        if dist is None or _normalize(dist.name) != _normalize(distribution) or (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        for card in cards_from_source(ep.load(), f"{distribution} ({ep.group}: {ep.name} = {ep.value})"):
            if card.name in cards:
                raise registry.DuplicateNameError(f"model {card.name!r} is defined twice: in "
                                                  f"{cards[card.name].source} and in {card.source}")
            cards[card.name] = card
    if not cards:
        raise SystemExit(f"no model cards found for {distribution!r}: is it installed "
                         f"(pip install -e . from the checkout)?")
    return [cards[name] for name in sorted(cards)]


def _lookup(card: Card, meta_keys: Iterable[str], spec_keys: Iterable[str]) -> Any:
    for key in meta_keys:
        if card.meta.get(key) is not None:
            return card.meta[key]
    for key in spec_keys:
        if card.spec.get(key) is not None:
            return card.spec[key]
    return None


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def render(cards: Sequence[Card] | None = None) -> str:
    """The text of docs/models.md for ``cards`` (default: the built-in ones)."""
    cards = builtin_cards() if cards is None else sorted(cards, key=lambda c: c.name)
    lines = [
        f"<!-- Generated from the model cards by `{COMMAND}`; do not edit by hand. -->",
        f"<!-- After adding or changing a card, run `{COMMAND}` (tests/test_docs.py fails until you do). -->",
        "",
        "# Models",
        "",
        f"{len(cards)} models ship with transformer-zoo. Create any of them by name with `zoo.create(name)`;",
        "`zoo list` and `zoo info NAME` show the same cards, plus those of installed plugins.",
        "Params count the weights with the default task head. `zoo.create(name, pretrained=True)` loads",
        "the published weights in the last column (fetched once by `huggingface_hub`, then cached).",
    ]
    for modality in registry.MODALITIES:
        group = [c for c in cards if c.modality == modality]
        if not group:
            continue
        extras = EXTRA_COLUMNS.get(modality, [])
        header = ["Model", "Family", "Default task", "Params", *(title for title, _, _ in extras), "Reference",
                  "Weights (`pretrained=True`)"]
        rows = [[f"`{c.name}`", _cell(c.family), _cell(c.task), format_params(c.params),
                 *(_cell(_lookup(c, m, s)) for _, m, s in extras),
                 f"`{_cell(c.meta['reference'])}`" if c.meta.get("reference") else "-",
                 f"`{_cell(c.weights)}`" if c.weights else "-"] for c in group]
        lines += ["", f"## {TITLES.get(modality, modality.title() + ' models')}", "", *_table(header, rows)]
    papers = {}
    for card in cards:
        if card.meta.get("paper"):
            papers.setdefault(card.family, set()).add(card.meta["paper"])
    if papers:
        lines += ["", "## Families", "", *_table(["Family", "Paper"], [
            [_cell(family), _cell("; ".join(sorted(papers[family])))] for family in sorted(papers)])]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/models.md from the built-in model cards.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date; write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write (default: {OUTPUT})")
    args = parser.parse_args(argv)
    text = render()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date; run `{COMMAND}`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(f"{args.output} is already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
