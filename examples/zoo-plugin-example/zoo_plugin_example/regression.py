"""Regression head: pool the tokens, linear to ``num_classes`` real outputs; MSE loss.

The number of outputs is the spec's ``num_classes`` (the field every image family has), so
``zoo.create("vit-tiny", task="image-regression", num_classes=1)`` predicts one value.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RegressionHead(nn.Module):
    label_format = "real-valued targets [batch, num_classes], or [batch] when there is one output"

    def __init__(self, pool: nn.Module, in_dim: int, num_outputs: int) -> None:
        super().__init__()
        self.pool = pool
        self.in_dim = in_dim
        self.reset_classifier(num_outputs)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh output layer for ``num_classes`` outputs (0 = pooled features)."""
        if num_classes < 0:
            raise ValueError(f"the number of regression outputs must be >= 0, got {num_classes}")
        old = getattr(self, "fc", None)
        fc = nn.Linear(self.in_dim, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(fc, nn.Linear):
            nn.init.zeros_(fc.weight)  # start at a constant prediction, as regression heads usually do
            nn.init.zeros_(fc.bias)
            if isinstance(old, nn.Linear):  # keep the device and dtype the model was moved to
                fc = fc.to(device=old.weight.device, dtype=old.weight.dtype)
        self.num_classes, self.fc = num_classes, fc

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        pooled = self.pool(features, attention_mask)  # [B, N, D] -> [B, D]
        return pooled if pre_logits else self.fc(pooled)  # [B, num_outputs]

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Mean squared error; targets [B, num_outputs], or [B] when there is one output."""
        if self.num_classes == 0:
            raise ValueError("this model has no regression output (num_classes=0); call reset_classifier(n) first")
        if targets.dim() == 1 and self.num_classes == 1:
            targets = targets[:, None]  # [B] -> [B, 1]
        if targets.shape != outputs.shape:
            raise ValueError(f"regression targets must have shape {list(outputs.shape)}, got {list(targets.shape)}")
        return F.mse_loss(outputs, targets.to(outputs.dtype))


    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor | None]:
        """The family's example inputs unchanged, and random targets for them (the conformance kit's batch)."""
        if self.num_classes == 0:
            return inputs, extras, None  # no output to score
        return inputs, extras, torch.randn(len(inputs[0]), self.num_classes)


def build_regression_head(backbone: nn.Module, spec: Any) -> RegressionHead:
    return RegressionHead(backbone.make_pool(), backbone.num_features, spec.num_classes)
