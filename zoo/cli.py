"""The ``zoo`` command: ``zoo list``, ``zoo info``, ``zoo tasks`` (torch-free, instant) and ``zoo train``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

import registry


def format_params(count: int | None) -> str:
    """22050664 -> '22.1M'."""
    if count is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_list(args: argparse.Namespace) -> int:
    names = registry.list_models(args.pattern, modality=args.modality, task=args.task, pretrained=args.pretrained)
    if not names:
        print(f"no models match {args.pattern!r}", file=sys.stderr)
        return 1
    cards = [registry.get_card(n) for n in names]
    rows = [[c.name, c.family, c.modality, format_params(c.params), c.task, c.weights or "-"] for c in cards]
    print(_table(rows, ["name", "family", "modality", "params", "default task", "pretrained weights"]))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(json.dumps(registry.info(args.name), indent=2))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    rows = []
    for name in registry.list_tasks():
        task = registry.get_task(name)
        rows.append([name, ", ".join(task.modalities), task.summary])
    print(_table(rows, ["task", "modalities", "summary"]))
    return 0


def available_recipes() -> list[str]:
    """Recipe modules that have configs (recipes/configs/<name>/), found without importing torch."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("recipes")
    if spec is None or not spec.submodule_search_locations:
        return []
    configs = Path(next(iter(spec.submodule_search_locations))) / "configs"
    return sorted(p.name for p in configs.iterdir() if p.is_dir() and (p / "default.toml").is_file()) \
        if configs.is_dir() else []


def cmd_train(args: argparse.Namespace) -> int:
    """``zoo train <recipe> [--config FILE] [key=value ...]`` = ``python -m recipes.<recipe> ...``."""
    names = available_recipes()
    if args.recipe not in names:
        raise ValueError(f"unknown recipe {args.recipe!r}; recipes: {', '.join(names)}")
    from importlib import import_module

    return import_module(f"recipes.{args.recipe}").main(args.args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="transformer-zoo: models by name")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list models (shell-style pattern, e.g. 'vit-*')")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--modality", choices=registry.MODALITIES)
    p.add_argument("--task", help="only models that can serve this task")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("info", help="show a model's card")
    p.add_argument("name")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("tasks", help="list the registered tasks")
    p.set_defaults(run=cmd_tasks)
    p = sub.add_parser("train", help="train with a recipe: zoo train <recipe> [--config FILE] [key=value ...]")
    p.add_argument("recipe", help="image_classification, masked_lm, causal_lm, seq2seq, ...")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to python -m recipes.<recipe>")
    p.set_defaults(run=cmd_train)
    return parser


def _quiet_broken_pipe() -> int:
    """The reader went away (``zoo list | head``): stop without a traceback, as the Python docs advise.

    Python flushes stdout again at exit; pointing it at devnull first keeps that flush quiet too.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1  # what Python itself exits with on EPIPE


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (registry.UnknownNameError, registry.DuplicateNameError, registry.CardError, ValueError) as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
