"""After a NaN loss: which checkpoint is still good, and what to change before re-running.

Weights can blow up (|w| ~ 1e6) several checkpoints before the loss turns NaN, so "the newest
checkpoint" is not the answer. Every checkpoint records the mean training loss since the one
before it and whether it looked healthy when written: finite weights, and a finite loss at
most `DIVERGED_FACTOR` times the best such loss of the run so far. On a NaN, the kept
checkpoints are checked newest first; the diverged ones this run wrote are moved aside to
``checkpoints/diverged/`` (not deleted), so re-running resumes from the good one.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from . import checkpoint
from .outputs import RunFiles
from .schema import TrainConfig

DIVERGED_FACTOR = 2.0
DIVERGED_DIR = "diverged"


def weights_finite(state: Mapping[str, Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def loss_healthy(loss: float, best: float | None) -> bool:
    """A finite loss not above `DIVERGED_FACTOR` x the run's best (``best`` None: nothing to compare yet)."""
    return math.isfinite(loss) and (best is None or loss <= DIVERGED_FACTOR * best)


def _verdict(path: Path) -> tuple[bool, str]:
    """(good, why) for one checkpoint file: readable, finite weights, a recorded loss that had not diverged."""
    try:
        state = checkpoint.read(path)
    except ValueError as exc:
        return False, str(exc)
    log = state.get("log", {})
    loss, best = log.get("loss"), log.get("best_loss")
    if not weights_finite(state["model"]):
        return False, "non-finite weights"
    if loss is None:
        return True, "finite weights (no loss recorded)"
    if not loss_healthy(loss, best):
        return False, f"loss {loss:.4g}, above {DIVERGED_FACTOR:g}x the run's best {best:.4g}"
    return True, f"loss {loss:.4g}, finite weights"


def set_aside_diverged(directory: Path, files: RunFiles) -> tuple[Path | None, list[str]]:
    """The newest good checkpoint in ``directory`` (None if none is), after moving the newer, diverged
    ones this run wrote into ``directory/diverged/``; returns it with one note per checkpoint checked."""
    notes = []
    for path in reversed(checkpoint.list_checkpoints(directory)):
        good, why = _verdict(path)
        if good:
            notes.append(f"{path.name}: good ({why})")
            return path, notes
        if files.owns(path):
            target = directory / DIVERGED_DIR / path.name
            files.claim(target)
            target.parent.mkdir(exist_ok=True)
            path.replace(target)
            files.forget(path)
            notes.append(f"{path.name}: diverged ({why}), moved to {target.parent}/")
        else:
            notes.append(f"{path.name}: diverged ({why}), left in place (this run did not write it)")
    return None, notes


def advice(config: TrainConfig) -> str:
    """Concrete settings that make a rerun less likely to diverge."""
    tips = [f"train.lr={config.lr / 2:.3g} (half of now)",
            f"train.warmup_steps={max(2 * config.warmup_steps, 100)}"]
    if config.clip_grad == 0:
        tips.append("train.clip_grad=1.0 (clipping is off)")
    if config.precision == "bf16":
        tips.append("train.precision=fp32")
    return "; ".join(tips)


def message(step: int, loss: float, good: Path | None, notes: list[str], config: TrainConfig) -> str:
    what = f"training loss is {loss} at step {step}; stopped before updating the weights."
    checked = f" Checkpoints checked: {'; '.join(notes)}." if notes else ""
    if good is None:
        return (f"{what}{checked} No kept checkpoint is good: start over with resume=false (or another "
                f"output_dir) and {advice(config)}")
    return (f"{what}{checked} Last good checkpoint: {good}; re-running resumes from it. To keep it from "
            f"diverging again, change one of: {advice(config)}")


def summary(loss: float, best: float | None, model_state: Mapping[str, Tensor]) -> dict[str, Any]:
    """What a checkpoint records about its health: its loss, the run's best before it, healthy or not."""
    healthy = loss_healthy(loss, best) and weights_finite(model_state)
    return {"loss": loss, "best_loss": best, "healthy": healthy}
