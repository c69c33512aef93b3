"""The zoo directory format: ``config.json`` (family, task, spec) + ``model.safetensors``.

Files are written to a temporary name and renamed into place, so a crash never leaves a
half-written file. They get the mode any file the user writes gets (0666 less the umask).

The safetensors metadata carries the whole config (``zoo_config``) and, since format 2, a
sha256 of every tensor (``zoo_sha256``, see `digest`). Reading checks both: a weights file
without the config, a ``config.json`` that differs from the embedded one (an edited or mixed
copy: ``num_heads`` changes outputs, not shapes) and damaged bytes are errors. Directories
saved in format 1 (config embedded, no digests) still load, with the config checked and no
digest check; saving again writes format 2.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ..models.spec import spec_to_dict
from .digest import DIGESTS_KEY, model_digests
from .errors import WeightsError
from .io import read_json_object, read_safetensors

FORMAT = "transformer-zoo"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: config embedded, no digests
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CONFIG_KEY = "zoo_config"  # safetensors metadata: the config, as JSON
_ABSENT = type("Absent", (), {"__repr__": lambda self: "absent"})()  # a key one copy lacks


def model_config(model: nn.Module) -> dict[str, Any]:
    for attr in ("family", "task", "spec"):
        if not hasattr(model, attr):
            raise TypeError(f"zoo.save needs a model made by zoo.create or zoo.load; {type(model).__name__} "
                            f"has no {attr!r}")
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "family": model.family, "task": model.task,
            "card": model.card, "spec": spec_to_dict(model.spec), "meta": model.meta}


def _new_temporary(path: Path) -> Path:
    """A new empty file beside ``path``, created with mode 0666 so that the umask (and default ACLs)
    apply as to any file the user writes; `tempfile.mkstemp` would make it 0600."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    tmp = _new_temporary(path)
    mode = tmp.stat().st_mode & 0o777  # 0666 less the umask, read back without touching the process umask
    try:
        write(str(tmp))
        os.chmod(tmp, mode)  # a writer may replace the file: safetensors writes its own 0600 file and renames it
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model`` to ``directory`` (created if needed); returns the directory. A ``model.tokenizer``
    that can save itself (speech-to-text models') is written beside the weights, and `zoo.load` reattaches it."""
    from safetensors.torch import save_model

    config = model_config(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=2, sort_keys=True)
    metadata = {CONFIG_KEY: json.dumps(config, sort_keys=True), DIGESTS_KEY: json.dumps(model_digests(model))}
    _atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_model(model, tmp, metadata=metadata))
    _atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "save"):  # speech-to-text: text out needs it; zoo.load reads it
        tokenizer.save(directory)
    return directory


def is_zoo_directory(path: Path) -> bool:
    """A directory whose config.json says it was written by `save` (a malformed config.json is an error)."""
    config = path / CONFIG_NAME
    return config.is_file() and read_json_object(config).get("format") == FORMAT


def read_config(directory: Path) -> dict[str, Any]:
    """The saved config, checked against the copy embedded in the weights file.

    The weights file's digests (format 2) are checked when its tensors are read
    (`read_state_dict`); here, only that it has them.
    """
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{directory} is not a saved zoo model: it needs {CONFIG_NAME} and {WEIGHTS_NAME}")
    config = read_json_object(config_path)
    _check_format(config, config_path)
    _, metadata = read_safetensors(weights_path, tensors=False)
    _check_embedded(config, metadata, config_path, weights_path)
    if config["format_version"] >= 2 and DIGESTS_KEY not in metadata:
        raise WeightsError(f"{weights_path} lacks the tensor digests (metadata {DIGESTS_KEY!r}) that format "
                           f"{config['format_version']} records, so its bytes cannot be checked: it was rewritten "
                           "by another tool. Save the model again with zoo.save.")
    return config


def _check_format(config: dict[str, Any], config_path: Path) -> None:
    if config.get("format") != FORMAT:
        raise WeightsError(f"{config_path} is not a transformer-zoo config (no \"format\": \"{FORMAT}\"); zoo.load "
                           "reads directories written by zoo.save. For a Hugging Face or timm directory, use "
                           "zoo.create(NAME, weights=DIRECTORY).")
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise WeightsError(f"{config_path} has format_version {version!r}; this transformer-zoo reads "
                           f"{', '.join(map(str, READABLE_VERSIONS))}"
                           f"{' (it was saved by a newer transformer-zoo: upgrade)' if newer else ''}")
    missing = [k for k in ("family", "task", "spec") if k not in config]
    if missing:
        raise WeightsError(f"{config_path} lacks {', '.join(missing)}")


def _check_embedded(config: dict[str, Any], metadata: dict[str, str], config_path: Path, weights_path: Path) -> None:
    """The config embedded in the weights file must exist and equal ``config.json``."""
    if CONFIG_KEY not in metadata:
        raise WeightsError(f"{weights_path} carries no transformer-zoo metadata (it was not written by zoo.save, "
                           f"or another tool rewrote it), so {config_path} cannot be checked against it. Save the "
                           "model again with zoo.save; to use its tensors as they are, pass the file as "
                           "zoo.create(NAME, weights=FILE, **spec overrides).")
    try:
        embedded = json.loads(metadata[CONFIG_KEY])
    except json.JSONDecodeError:
        embedded = None
    if embedded != config:
        changed = _differences(embedded, config) if isinstance(embedded, dict) else ["the embedded copy is damaged"]
        raise WeightsError(f"{config_path} differs from the config embedded in {weights_path} "
                           f"({'; '.join(changed[:8])}): config.json was edited, or the two files come from different "
                           "saves (an interrupted or mixed copy?). Restore config.json or save the model again.")


def _differences(saved: Any, current: Any, where: str = "") -> list[str]:
    """Dotted paths where ``current`` (config.json) differs from ``saved`` (the embedded copy)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return [d for key in sorted(set(saved) | set(current), key=str)
                for d in _differences(saved.get(key, _ABSENT), current.get(key, _ABSENT),
                                      f"{where}.{key}" if where else str(key))]
    return [] if saved == current else [f"{where or 'config'}: saved {saved!r}, config.json {current!r}"]
