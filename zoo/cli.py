"""The ``zoo`` command: ``zoo list``, ``zoo info``, ``zoo tasks`` (torch-free, instant), ``zoo doctor``
(checks installed plugins and cards) and ``zoo train``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Callable, Sequence

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


def _marked(card: registry.Card, unregistered: list[str]) -> tuple[str, str]:
    """The card's family and task cells, each ending in ``!`` when that name is not registered."""
    return tuple(getattr(card, kind) + ("!" if kind in unregistered else "") for kind in ("family", "task"))


def cmd_list(args: argparse.Namespace) -> int:
    names = registry.list_models(args.pattern, modality=args.modality, task=args.task, pretrained=args.pretrained)
    if not names:
        print(f"no models match {args.pattern!r}", file=sys.stderr)
        return 1
    rows, marked = [], 0
    for card in map(registry.get_card, names):
        unregistered = registry.unregistered(card.name)  # names only: no torch
        family, task = _marked(card, unregistered)
        rows.append([card.name, family, card.modality, format_params(card.params), task, card.weights or "-"])
        marked += bool(unregistered)
    print(_table(rows, ["name", "family", "modality", "params", "default task", "pretrained weights"]))
    if marked:
        sys.stdout.flush()  # the table first, then the note
        one = marked == 1
        print(f"zoo: {marked} model{'' if one else 's'} marked '!' name{'s' if one else ''} a family or task that is "
              f"not registered, so zoo.create fails on {'it' if one else 'them'}; `zoo doctor` says why.",
              file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check every installed plugin and card (loads families and heads, so it imports torch)."""
    problems = registry.diagnose(args.pattern)
    checked = (f"{len(registry.list_models(args.pattern))} models, {len(registry.list_families())} families, "
               f"{len(registry.CATALOG.names('task'))} tasks")
    if not problems:
        print(f"zoo doctor: no problems ({checked} checked)")
        return 0
    print(f"zoo doctor: {len(problems)} problem{'s' if len(problems) > 1 else ''} ({checked} checked)")
    for problem in problems:
        print(f"- {problem}")
    return 1


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


def cmd_new_plugin(args: argparse.Namespace) -> int:
    """``zoo new-plugin NAME``: a plugin distribution that installs and passes the conformance kit."""
    from .scaffold import new_plugin

    target = new_plugin(args.name, args.dir)
    print(f"wrote {target}: cd {target} && pip install -e \".[dev]\" && python -m pytest")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    """``zoo transcribe FILE.wav ... [--model NAME or DIR]``: print each file's text (long files in 30 s windows)."""
    from pathlib import Path

    import zoo

    source = Path(args.model).expanduser()
    if source.is_dir():
        if args.weights:
            raise ValueError("--weights goes with a card name in --model, not with a model directory")
        model = zoo.load(source)
    else:
        model = zoo.create(args.model, task="speech-to-text", weights=args.weights, pretrained=not args.weights)
    model.eval()
    texts = model.transcribe(list(args.files), language=args.language, task=args.task, num_beams=args.num_beams,
                             batch_size=args.batch_size)
    for path, text in zip(args.files, texts):
        print(f"{path}: {text}" if len(args.files) > 1 else text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="transformer-zoo: models by name")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list models (shell-style pattern, e.g. 'vit-*')")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--modality", choices=registry.MODALITIES)
    p.add_argument("--task", help="only models that can serve this task")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("doctor", help="check installed plugins and cards: families that do not load, cards "
                                      "whose family is unknown or rejects their spec, skipped cards; exit 1 if any")
    p.add_argument("pattern", nargs="?", default="*", help="only check the cards matching this pattern")
    p.set_defaults(run=cmd_doctor)
    p = sub.add_parser("info", help="show a model's card")
    p.add_argument("name")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("tasks", help="list the registered tasks")
    p.set_defaults(run=cmd_tasks)
    p = sub.add_parser("new-plugin", help="write a plugin distribution (a text family, cards, a task and tests "
                                          "running the conformance kit) into a new folder NAME")
    p.add_argument("name", help="lowercase words joined by '-', e.g. acme-encoder")
    p.add_argument("--dir", default=".", help="where to create the folder NAME (default: here)")
    p.set_defaults(run=cmd_new_plugin)
    p = sub.add_parser("transcribe", help="print the text spoken in WAV files (a speech-to-text model, e.g. Whisper)")
    p.add_argument("files", nargs="+", help="WAV files (any rate, mixed to mono; longer than 30 s: cut in windows)")
    p.add_argument("--model", default="whisper-tiny",
                   help="a speech-to-text card (its published weights are fetched) or a directory saved by zoo.save")
    p.add_argument("--weights", help="weights for the --model card instead of its published ones (file, directory "
                                     "or hf-hub:OWNER/NAME)")
    p.add_argument("--language", help="language code or name (default: detected per 30 s window)")
    p.add_argument("--task", choices=("transcribe", "translate"), default="transcribe",
                   help="translate: English text from speech in another language")
    p.add_argument("--num-beams", type=int, default=1, help="beam search width (default 1: greedy)")
    p.add_argument("--batch-size", type=int, default=8, help="30 s windows decoded together")
    p.set_defaults(run=cmd_transcribe)
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


def _show_plugin_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints plugin problems as one ``zoo: warning:`` line each."""
    def show_warning(message, category, *args, **kwargs) -> None:  # noqa: ANN001 (the warnings signature)
        if issubclass(category, registry.PluginWarning):
            print(f"zoo: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)
    return show_warning


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # restores showwarning for a caller that runs main() in-process
        warnings.showwarning = _show_plugin_warnings(warnings.showwarning)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
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
