"""AdamW with decoupled weight decay on matrices only, and a warmup + cosine learning-rate schedule."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


def build_optimizer(model: nn.Module, *, lr: float, weight_decay: float,
                    betas: Sequence[float] = (0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW; biases, norm scales and other 1-D parameters get no weight decay (as timm and nanoGPT do)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """The learning-rate multiplier at ``step`` (0-based): linear warmup to 1, then cosine down to ``min_ratio``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupCosine:
    """The multiplier as an object, so `LambdaLR.state_dict()` holds its plain numbers (no code to pickle)."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> None:
        self.warmup_steps, self.total_steps, self.min_ratio = warmup_steps, total_steps, min_ratio

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, warmup_steps=self.warmup_steps, total_steps=self.total_steps,
                             min_ratio=self.min_ratio)


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int,
                    min_ratio: float = 0.0, done_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule over ``optimizer``'s groups' ``lr``; ``done_steps`` > 0 (a resume) positions it after
    that many optimizer steps, so the rate is ``lr * warmup_cosine(done_steps)`` as in an unbroken run."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, total_steps, min_ratio),
                                             last_epoch=done_steps - 1)
