"""Training checkpoints: written atomically, read with ``weights_only=True``, newest good one wins.

A checkpoint is one ``step_XXXXXXXX.pt`` file holding plain tensors and numbers: the model
and optimizer state, the scheduler state, the RNG states (torch, CUDA, Python), the data
position, the run's config and its log state (the losses not yet logged, the loss since the
previous checkpoint and whether it looked healthy). It is written to a temporary file, flushed, then renamed into place, so a crash
leaves either the old set of files or the new one. Reading never unpickles code. A file
that cannot be read (truncated, corrupt, wrong contents) is skipped with a warning and the
previous checkpoint is used.
"""
from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path
from typing import Any

import torch

PATTERN = re.compile(r"^step_(\d{8})\.pt$")
REQUIRED = ("format", "step", "model", "optimizer", "scheduler", "rng", "data")
FORMAT = "transformer-zoo-train-v1"


class CheckpointWarning(UserWarning):
    """A checkpoint file was unreadable and was skipped."""


def path_for(directory: Path, step: int) -> Path:
    return directory / f"step_{step:08d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if PATTERN.match(p.name))


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, say); the partial file was removed."""


def save(directory: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (with its ``step``) atomically as ``step_XXXXXXXX.pt``.

    On an I/O error (``ENOSPC``: a full disk) the temporary file is removed and
    `CheckpointWriteError` says which checkpoints on disk are intact.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = path_for(directory, state["step"])
    tmp = directory / f".{path.name}.tmp"
    try:
        with open(tmp, "wb") as handle:
            torch.save({"format": FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        cause = _os_error(exc)
        if cause is None:
            raise
        intact = ", ".join(p.name for p in list_checkpoints(directory)) or "none"
        error = CheckpointWriteError(f"could not write the checkpoint of step {state['step']} to {directory} "
                                     f"({cause.strerror or cause}); the partial file was removed. Intact checkpoints "
                                     f"there: {intact}. Free some space and re-run to resume from the newest of them")
        error.errno = cause.errno
        raise error from exc
    _fsync_dir(directory)
    return path


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind ``exc`` (itself, or one it was raised from or while handling), if any."""
    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    return exc


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """One checkpoint, checked; raises ValueError saying what is wrong with it.

    ``mmap=True`` maps the tensors instead of reading them: cheap when only the small entries
    (step, log, config) are needed.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # a truncated zip, a foreign pickle, an I/O error
        raise ValueError(f"cannot read {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a transformer-zoo training checkpoint")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    return state


def latest(directory: Path) -> dict[str, Any] | None:
    """The newest readable checkpoint in ``directory`` (None if there is none); bad files are skipped with a warning."""
    for path in reversed(list_checkpoints(directory)):
        try:
            state = read(path)
        except ValueError as exc:
            warnings.warn(f"{exc}; skipping it and trying the previous checkpoint", CheckpointWarning, stacklevel=2)
            continue
        state["path"] = str(path)
        return state
    return None
