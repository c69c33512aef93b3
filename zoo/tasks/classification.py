"""Classification head: pool the tokens, dropout, linear; cross-entropy loss."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.checks import check_int, require_tensor
from .layers import fresh_linear
from .targets import check_class_ids, example_rows


def class_cross_entropy(logits: Tensor, targets: Any, what: str = "class") -> Tensor:
    """Cross-entropy of logits [B, K] with ids [B] in [0, K) (-100: row skipped) or probabilities [B, K].

    ``what`` names a column in error messages (``"choice"`` for multiple choice).
    """
    rows, width = logits.shape[0], logits.shape[-1]
    expected = f"{what} ids [batch={rows}] or {what} probabilities [{rows}, {width}]"
    targets = require_tensor(targets, "targets", expected)
    if targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(f"float targets are {what} probabilities [{rows}, {width}], got shape "
                             f"{list(targets.shape)}; {what} ids must be an integer tensor [batch]")
    elif targets.shape != logits.shape[:1]:
        raise ValueError(f"targets must be {expected}, got shape {list(targets.shape)}")
    else:
        targets = check_class_ids(targets, width, "targets")
    return F.cross_entropy(logits, targets)


class ClassificationHead(nn.Module):
    label_format = ("class ids [batch] in [0, num_classes) (-100: row skipped), "
                    "or class probabilities [batch, num_classes] (mixup, label smoothing)")

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
        self.fc = fresh_linear(self.in_dim, num_classes, like=old) if num_classes > 0 else nn.Identity()

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        pooled = self.drop(self.pool(features, attention_mask))  # [B, N, D] -> [B, D]
        return pooled if pre_logits else self.fc(pooled)  # [B, num_classes]

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy with class indices [B] (-100: skipped) or class probabilities [B, C] (mixup, smoothing)."""
        if self.num_classes == 0:
            raise ValueError("this model has no classifier (num_classes=0); call reset_classifier(n) first")
        return class_cross_entropy(logits, targets)

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor | None]:
        """The inputs unchanged, random class ids [B] (None without a classifier: no loss)."""
        if self.num_classes == 0:
            return inputs, extras, None
        return inputs, extras, torch.randint(0, self.num_classes, (example_rows(inputs, extras),))


def build_classification_head(backbone: nn.Module, spec: Any) -> ClassificationHead:
    return ClassificationHead(backbone.make_pool(), backbone.num_features, spec.num_classes,
                              dropout=getattr(spec, "dropout", 0.0))
