"""The zoo directory format: ``config.json`` (family, task, spec) + ``model.safetensors``.

Files are written to a temporary name and renamed into place, so a crash never leaves a
half-written file; the config is embedded in the safetensors metadata too, so a weights
file and a config from different saves are detected.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from ..models.spec import spec_to_dict
from .errors import WeightsError
from .io import read_json_object

FORMAT = "transformer-zoo"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def model_config(model: nn.Module) -> dict[str, Any]:
    for attr in ("family", "task", "spec"):
        if not hasattr(model, attr):
            raise TypeError(f"zoo.save needs a model made by zoo.create or zoo.load; {type(model).__name__} "
                            f"has no {attr!r}")
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "family": model.family, "task": model.task,
            "card": model.card, "spec": spec_to_dict(model.spec), "meta": model.meta}


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model`` to ``directory`` (created if needed); returns the directory."""
    from safetensors.torch import save_model

    config = model_config(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=2, sort_keys=True)
    metadata = {"zoo_config": json.dumps(config, sort_keys=True)}
    _atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_model(model, tmp, metadata=metadata))
    _atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return directory


def is_zoo_directory(path: Path) -> bool:
    """A directory whose config.json says it was written by `save` (a malformed config.json is an error)."""
    config = path / CONFIG_NAME
    return config.is_file() and read_json_object(config).get("format") == FORMAT


def read_config(directory: Path) -> dict[str, Any]:
    """The saved config, checked against the copy embedded in the weights file."""
    from safetensors import safe_open

    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{directory} is not a saved zoo model: it needs {CONFIG_NAME} and {WEIGHTS_NAME}")
    config = read_json_object(config_path)
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{config_path} is not a transformer-zoo v{FORMAT_VERSION} config")
    missing = [k for k in ("family", "task", "spec") if k not in config]
    if missing:
        raise WeightsError(f"{config_path} lacks {', '.join(missing)}")
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            embedded = (handle.metadata() or {}).get("zoo_config")
    except Exception as exc:
        raise WeightsError(f"could not read {weights_path}: {type(exc).__name__}: {exc}") from None
    if embedded is not None and json.loads(embedded) != config:
        raise WeightsError(f"{config_path} and {weights_path} come from different saves "
                           "(an interrupted or mixed copy?); re-save the model")
    return config
