"""A recipe's command line: ``python -m recipes.<name> [--config FILE] [key=value ...]``.

The same command works alone, under ``torchrun --nproc_per_node N -m recipes.<name>``, and as
``zoo train <name> ...``. With no ``--config`` the recipe's ``default.toml`` is used; a bare
name (``--config cifar10``) means ``recipes/configs/<recipe>/cifar10.toml``, and a file of
your own is a path (``--config ./mine.toml``, ``--config runs/x/config.toml``).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from . import config as configs
from .checkpoint import CheckpointWarning
from .lock import RunDirectoryInUse, RunLock
from .loop import Job, NonFiniteLossError, Trainer
from .outputs import ForeignFilesError


def config_path(config_dir: Path, choice: str | None) -> Path:
    """``--config``: the name of one of the recipe's configs, or a path to a TOML file.

    A path is a choice that contains a ``/`` (or the platform's separator) or ends in ``.toml``;
    anything else names one of the recipe's own configs, whatever the current directory holds.
    """
    if choice is None:
        return config_dir / "default.toml"
    if choice.endswith(".toml") or "/" in choice or os.sep in choice:
        return Path(choice)
    named = config_dir / f"{choice}.toml"
    if named.is_file():
        return named
    available = sorted(p.stem for p in config_dir.glob("*.toml"))
    raise configs.ConfigError(f"--config {choice!r} is not one of this recipe's configs: {', '.join(available)} "
                              f"(a file of your own is a path: ./{choice}.toml or a name ending in .toml)")


def parse_args(recipe: str, config_dir: Path, argv: Sequence[str] | None) -> argparse.Namespace:
    available = ", ".join(sorted(p.stem for p in config_dir.glob("*.toml")))
    parser = argparse.ArgumentParser(
        prog=f"python -m recipes.{recipe}",
        description=f"Train with the {recipe} recipe. Configs: {available}. Overrides are dotted key=value "
                    "(e.g. train.steps=200 train.lr=3e-4 model.spec.depth=4 output_dir=runs/x).")
    parser.add_argument("--config", help="a TOML file, or the name of one of the configs above (default: default)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    return parser.parse_args(argv)


def load_config(schema: type, recipe: str, config_dir: Path, choice: str | None,
                overrides: Sequence[str]) -> Any:
    cfg = configs.load(schema, config_path(config_dir, choice), overrides)
    if not cfg.output_dir:
        cfg.output_dir = f"runs/{recipe}"
    return cfg


ERRORS = (configs.ConfigError, OSError, NonFiniteLossError, RunDirectoryInUse, ForeignFilesError)


def main(recipe: str, schema: type, build: Callable[[Any, Any], Job], config_dir: Path,
         argv: Sequence[str] | None = None) -> int:
    """Parse, set up processes, take the run directory, build the recipe's `Job`, train; returns the exit code.

    Nothing is written into the run directory until the config is checked, the data and model
    are built and any checkpoint is loaded: a command that fails leaves the directory as it was.
    """
    from ..data.files import DataFileError
    from ..models.spec import SpecError
    from ..weights.errors import WeightsError
    from registry import UnknownNameError

    args = parse_args(recipe, config_dir, argv)
    env = None
    try:
        cfg = load_config(schema, recipe, config_dir, args.config, args.overrides)
        if args.print_config:
            print(configs.dumps(cfg), end="")
            return 0
        from .distributed import setup

        env = setup(cfg.train.device)
        if not env.is_main:
            warnings.simplefilter("ignore", CheckpointWarning)
        run_dir = Path(cfg.output_dir)
        with RunLock(run_dir, env) as lock:
            job = build(cfg, env)
            metrics = Trainer(cfg.train, job, run_dir, env, resume=cfg.resume, run_config=cfg, lock=lock).fit()
        if env.is_main:
            summary = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            print(f"done: {summary}\nrun directory: {run_dir} (model/, metrics.jsonl, plot.png, checkpoints/)")
        return 0
    except (*ERRORS, DataFileError, SpecError, UnknownNameError, WeightsError) as exc:
        print(f"{recipe}: error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, NonFiniteLossError) else 2
    finally:
        if env is not None:
            from .distributed import teardown

            teardown()
