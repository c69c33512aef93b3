"""Feature extraction: no head, the backbone's tokens are the output."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class FeatureHead(nn.Module):
    """Identity over tokens [B, N, D]; ``pre_logits`` is the same tensor."""

    num_classes = 0
    label_format = "none: feature-extraction has no loss"

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        return features

    def reset_classifier(self, num_classes: int) -> None:
        raise ValueError("feature-extraction has no classifier to reset; "
                         "create the model with a classification task instead")

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        raise ValueError("feature-extraction has no training loss; create the model with a task that has a head "
                         "(see zoo.list_tasks())")

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, None]:
        """The inputs unchanged; no targets (None), as there is no loss."""
        return inputs, extras, None


def build_feature_head(backbone: nn.Module, spec: Any) -> FeatureHead:
    return FeatureHead()
