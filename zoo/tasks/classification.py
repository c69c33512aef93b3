"""Classification head: pool the tokens, dropout, linear; cross-entropy loss."""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.checks import check_int, require_tensor
from .targets import check_class_ids


class ClassificationHead(nn.Module):
    def __init__(self, pool: nn.Module, in_dim: int, num_classes: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = pool
        self.in_dim = in_dim
        self.drop = nn.Dropout(dropout)
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        if check_int(num_classes, "num_classes") < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = no classifier), got {num_classes}")
        self.num_classes = num_classes
        old = getattr(self, "fc", None)
        fc = nn.Linear(self.in_dim, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(fc, nn.Linear):
            nn.init.trunc_normal_(fc.weight, std=0.02)
            nn.init.zeros_(fc.bias)
            if isinstance(old, nn.Linear):  # keep the device and dtype the model was moved to
                fc = fc.to(device=old.weight.device, dtype=old.weight.dtype)
        self.fc = fc

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        pooled = self.drop(self.pool(features, attention_mask))  # [B, N, D] -> [B, D]
        return pooled if pre_logits else self.fc(pooled)  # [B, num_classes]

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy with class indices [B] (-100: skipped) or class probabilities [B, C] (mixup, smoothing)."""
        if self.num_classes == 0:
            raise ValueError("this model has no classifier (num_classes=0); call reset_classifier(n) first")
        expected = f"class ids [batch={logits.shape[0]}] or class probabilities [{logits.shape[0]}, {self.num_classes}]"
        targets = require_tensor(targets, "targets", expected)
        if targets.is_floating_point():
            if targets.shape != logits.shape:
                raise ValueError(f"float targets are class probabilities [{logits.shape[0]}, {self.num_classes}], "
                                 f"got shape {list(targets.shape)}; class ids must be an integer tensor [batch]")
        elif targets.shape != logits.shape[:1]:
            raise ValueError(f"targets must be {expected}, got shape {list(targets.shape)}")
        else:
            targets = check_class_ids(targets, self.num_classes, "targets")
        return F.cross_entropy(logits, targets)


def build_classification_head(backbone: nn.Module, spec: Any) -> ClassificationHead:
    return ClassificationHead(backbone.make_pool(), backbone.num_features, spec.num_classes,
                              dropout=getattr(spec, "dropout", 0.0))
