"""Resuming with a changed config: what may change, and what each change does.

A checkpoint stores the config of the run that wrote it. A resumed run compares it with its
own and either refuses or says exactly what happens:

- the model (``model.name``, ``model.spec``) and ``train.seed`` (which fixes the data order)
  cannot change: the checkpoint's weights and data position only mean something for them;
- ``model.weights`` / ``model.pretrained`` choose the starting weights, which a checkpoint
  replaces: a change has no effect;
- the learning-rate schedule (``train.lr``, ``warmup_steps``, ``min_lr_ratio``, ``steps``)
  and the optimizer's ``weight_decay`` and ``betas`` apply from the resumed step, and the
  optimizer's moments are kept;
- anything else (data, batch sizes, evaluation and checkpoint cadence, device, ...) applies
  from the resumed step; the data position is kept (see `zoo.train.loop`).
"""
from __future__ import annotations

from typing import Any, Mapping

from .config import differences

FIXED = ("model.name", "model.spec", "train.seed")
NO_EFFECT = ("model.weights", "model.pretrained")
SCHEDULE = ("train.lr", "train.warmup_steps", "train.min_lr_ratio", "train.steps")
OPTIMIZER = ("train.weight_decay", "train.betas")
UNCOMPARED = ("resume", "output_dir", "train.progress")


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _lookup(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def changed_keys(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted keys that differ, ``model.spec`` compared as a whole."""
    keys = differences(saved, new)
    spec = [k for k in keys if _under(k, ("model.spec",))]
    keys = [k for k in keys if k not in spec] + (["model.spec"] if spec else [])
    return sorted(k for k in keys if not _under(k, UNCOMPARED))


def _change(saved: Mapping[str, Any], new: Mapping[str, Any], key: str) -> str:
    return f"{key} {_lookup(saved, key)!r} -> {_lookup(new, key)!r}"


def refusals(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The changes a resume cannot make, each as ``key old -> new``."""
    return [_change(saved, new, k) for k in changed_keys(saved, new) if _under(k, FIXED)]


def notes(saved: Mapping[str, Any], new: Mapping[str, Any], *, step: int, lr: float) -> list[str]:
    """What each allowed change does when resuming at ``step`` (``lr``: the new schedule's rate there)."""
    keys = [k for k in changed_keys(saved, new) if not _under(k, FIXED)]
    out = []
    schedule = [_change(saved, new, k) for k in keys if _under(k, SCHEDULE)]
    if schedule:
        out.append(f"{', '.join(schedule)}: the new warmup + cosine schedule applies from step {step} "
                   f"(lr {lr:.3g} now); the optimizer's moments are kept")
    optimizer = [_change(saved, new, k) for k in keys if _under(k, OPTIMIZER)]
    if optimizer:
        out.append(f"{', '.join(optimizer)}: applied to the optimizer from step {step}; its moments are kept")
    ignored = [_change(saved, new, k) for k in keys if _under(k, NO_EFFECT)]
    if ignored:
        out.append(f"{', '.join(ignored)}: no effect, the weights come from the checkpoint")
    rest = [_change(saved, new, k) for k in keys if not _under(k, SCHEDULE + OPTIMIZER + NO_EFFECT)]
    if rest:
        out.append(f"{', '.join(rest)}: applies from step {step}")
    return out
