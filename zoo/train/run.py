"""A recipe's command line: ``python -m recipes.<name> [--config FILE] [key=value ...]``.

The same command works alone, under ``torchrun --nproc_per_node N -m recipes.<name>``, and as
``zoo train <name> ...``. With no ``--config`` the recipe's ``default.toml`` is used; a bare
name (``--config cifar10``) means ``recipes/configs/<recipe>/cifar10.toml``.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from . import config as configs
from .checkpoint import CheckpointWarning
from .loop import Job, NonFiniteLossError, Trainer


def config_path(config_dir: Path, choice: str | None) -> Path:
    """``--config``: a TOML path, or the name of one of the recipe's configs."""
    if choice is None:
        return config_dir / "default.toml"
    path = Path(choice)
    if path.suffix == ".toml" or path.exists():
        return path
    named = config_dir / f"{choice}.toml"
    if named.is_file():
        return named
    available = sorted(p.stem for p in config_dir.glob("*.toml"))
    raise configs.ConfigError(f"--config {choice!r} is neither a file nor one of this recipe's configs: "
                              f"{', '.join(available)}")


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


def _check_against_saved(cfg: Any, path: Path) -> None:
    """On resume, say which settings differ from the run's saved config (the new ones apply)."""
    if not path.is_file():
        return
    try:
        old = configs.read_toml(path)
    except configs.ConfigError:
        return
    changed = [k for k in configs.differences(old, configs.to_dict(cfg)) if k not in ("resume", "train.progress")]
    if changed and cfg.resume:
        warnings.warn(f"{path.parent}: config differs from the saved run in {', '.join(changed)}; "
                      "continuing with the new values (use a new output_dir to keep runs apart)", stacklevel=2)


ERRORS = (configs.ConfigError, FileNotFoundError, NotADirectoryError, NonFiniteLossError)


def main(recipe: str, schema: type, build: Callable[[Any, Any], Job], config_dir: Path,
         argv: Sequence[str] | None = None) -> int:
    """Parse, set up processes, build the recipe's `Job`, train; returns the exit code."""
    from ..data.files import DataFileError
    from ..models.spec import SpecError
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
        run_dir = Path(cfg.output_dir)
        if env.is_main:
            _check_against_saved(cfg, run_dir / "config.toml")
            configs.save(cfg, run_dir / "config.toml")
        else:
            warnings.simplefilter("ignore", CheckpointWarning)
        job = build(cfg, env)
        metrics = Trainer(cfg.train, job, run_dir, env, resume=cfg.resume).fit()
        if env.is_main:
            summary = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            print(f"done: {summary}\nrun directory: {run_dir} (model/, metrics.jsonl, plot.png, checkpoints/)")
        return 0
    except (*ERRORS, DataFileError, SpecError, UnknownNameError) as exc:
        print(f"{recipe}: error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, NonFiniteLossError) else 1
    finally:
        if env is not None:
            from .distributed import teardown

            teardown()
