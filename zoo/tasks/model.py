"""`ZooModel`: a backbone from a family plus a head from a task, with the timm-style interface."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from torch import Tensor, nn

from ..nn.checks import require_tensor
from ..nn.masks import check_binary_mask


class ZooModel(nn.Module):
    """What `zoo.create` returns.

    ``forward(inputs, **extras)`` = ``forward_head(forward_features(inputs, **extras))``.
    The spec, family and task travel with the model so `zoo.save` can rebuild it.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, *, family: str, task: str, spec: Any,
                 card: str | None = None, meta: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        self.family, self.task, self.spec, self.card = family, task, spec, card
        self.meta = dict(meta or {})

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    @property
    def num_classes(self) -> int:
        return getattr(self.head, "num_classes", 0)

    def forward_features(self, *inputs: Any, **extras: Any) -> Tensor:
        return self.backbone(*inputs, **extras)  # [B, N, D]

    def forward_head(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        """Head output for ``features`` [B, N, num_features]; ``attention_mask`` [B, N] lets pooling skip padding."""
        expected = f"[batch, tokens, num_features={self.num_features}] (the output of forward_features)"
        if require_tensor(features, "features", expected).shape[-1:] != (self.num_features,):
            raise ValueError(f"features must be {expected}, got shape {list(features.shape)}")
        if attention_mask is not None:
            check_binary_mask(attention_mask)
        return self.head(features, pre_logits=pre_logits, attention_mask=attention_mask)

    def feature_mask(self, *inputs: Any, **extras: Any) -> Tensor | None:
        """The padding mask aligned with the features' sequence for these inputs, or None.

        A backbone whose features are not aligned with its input (audio: samples -> time steps)
        maps the mask with its own ``feature_mask``; otherwise it is the input's mask.
        """
        mapped = getattr(self.backbone, "feature_mask", None)
        if mapped is not None:
            return mapped(*inputs, **extras)
        mask_name = "decoder_attention_mask" if self.backbone.architecture == "encoder-decoder" else "attention_mask"
        return extras.get(mask_name)

    def forward(self, *inputs: Any, **extras: Any) -> Tensor:
        features = self.forward_features(*inputs, **extras)  # the backbone checked the inputs and mask
        return self.head(features, attention_mask=self.feature_mask(*inputs, **extras))

    def generate(self, input_ids: Tensor, **options: Any) -> Tensor:
        """Continue token sequences; see `zoo.generation.generate` for the options."""
        from ..generation import generate

        return generate(self, input_ids, **options)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """The task's training loss for ``outputs`` of `forward`."""
        return self.head.loss(outputs, targets)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (0 = pooled features)."""
        self.head.reset_classifier(num_classes)
        self.spec = dataclasses.replace(self.spec, num_classes=num_classes)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward to save memory."""
        self.backbone.set_grad_checkpointing(enable)

    def extra_repr(self) -> str:
        return f"family={self.family!r}, task={self.task!r}, card={self.card!r}"
