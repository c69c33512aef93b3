"""`ZooModel`: a backbone from a family plus a head from a task, with the timm-style interface."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from torch import Tensor, nn

from ..nn.checks import require_tensor
from ..nn.masks import check_binary_mask


class ZooModel(nn.Module):
    """What `zoo.create` returns.

    ``forward(inputs, **extras)`` = ``forward_head(forward_features(inputs, **extras),
    attention_mask=feature_mask(inputs, **extras))``. The spec, family and task travel with
    the model so `zoo.save` can rebuild it.

    A head may own its inputs (multiple choice): ``head.prepare_inputs(inputs, extras)`` turns
    the task's inputs into the backbone's and returns a context, ``head.restore_outputs(tensor,
    context)`` regroups a tensor whose first dimension is the backbone's batch. `forward`
    applies them around backbone and head; `forward_features` and `feature_mask` return the
    features and mask regrouped into the task's layout (multiple choice: [B, C, T, D] and
    [B, C, T]), which such a head's forward takes as well as the backbone's layout, so the
    equality above holds for every task. Heads without them cost nothing.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, *, family: str, task: str, spec: Any,
                 card: str | None = None, meta: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        self.family, self.task, self.spec, self.card = family, task, spec, card
        self.meta = dict(meta or {})
        self.tokenizer: Any = None  # text in and out (speech-to-text): set by zoo.create/zoo.load or by you

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    @property
    def num_classes(self) -> int:
        return getattr(self.head, "num_classes", 0)

    def _prepare(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Any]:
        """The task's inputs -> the backbone's (inputs, extras, context for `_restore`)."""
        prepare = getattr(self.head, "prepare_inputs", None)
        return (inputs, extras, None) if prepare is None else prepare(inputs, extras)

    def _restore(self, tensor: Tensor | None, context: Any) -> Tensor | None:
        """A tensor in the backbone's batch layout -> the task's (None stays None)."""
        restore = getattr(self.head, "restore_outputs", None)
        return tensor if restore is None or tensor is None else restore(tensor, context)

    def forward_features(self, *inputs: Any, **extras: Any) -> Tensor:
        inputs, extras, context = self._prepare(inputs, extras)
        return self._restore(self.backbone(*inputs, **extras), context)  # [B, N, D] (multiple choice: [B, C, T, D])

    def forward_head(self, features: Any, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        """Head output for ``features`` [B, N, num_features] as `forward_features` returns them (in the
        task's layout: multiple choice [B, C, T, D]; a dual encoder's: a tuple of embeddings [B, E] per
        tower); ``attention_mask`` [B, N] (as `feature_mask` returns it) lets pooling skip padding."""
        expected = f"[batch, tokens, num_features={self.num_features}] (the output of forward_features)"
        parts = features if isinstance(features, tuple) else (features,)
        for part in parts:
            if part is not None and require_tensor(part, "features", expected).shape[-1:] != (self.num_features,):
                raise ValueError(f"features must be {expected}, got shape {list(part.shape)}")
        if attention_mask is not None:
            check_binary_mask(attention_mask)
        return self.head(features, pre_logits=pre_logits, attention_mask=attention_mask)

    def _backbone_mask(self, inputs: tuple, extras: dict) -> Tensor | None:
        """The padding mask aligned with the backbone's features for the backbone's inputs, or None."""
        mapped = getattr(self.backbone, "feature_mask", None)
        if mapped is not None:
            return mapped(*inputs, **extras)
        mask_name = "decoder_attention_mask" if self.backbone.architecture == "encoder-decoder" else "attention_mask"
        return extras.get(mask_name)

    def feature_mask(self, *inputs: Any, **extras: Any) -> Tensor | None:
        """The padding mask aligned with `forward_features`' sequence for these inputs, or None.

        A backbone whose features are not aligned with its input (audio: samples -> time steps)
        maps the mask with its own ``feature_mask``; otherwise it is the input's mask (for a
        head that owns its inputs: the prepared mask, regrouped as the features are).
        """
        inputs, extras, context = self._prepare(inputs, extras)
        return self._restore(self._backbone_mask(inputs, extras), context)

    def forward(self, *inputs: Any, **extras: Any) -> Tensor:
        inputs, extras, context = self._prepare(inputs, extras)
        features = self.backbone(*inputs, **extras)  # the backbone checked the inputs and mask
        return self._restore(self.head(features, attention_mask=self._backbone_mask(inputs, extras)), context)

    def generate(self, *inputs: Any, **options: Any) -> Tensor:
        """Continue token sequences (`zoo.generation.generate` has the options); a task that owns its
        generation (speech-to-text: audio in) runs its own, e.g. ``generate(waveform, language="de")``."""
        own = getattr(self.head, "generate", None)
        if own is not None:
            return own(self, *inputs, **options)
        from ..generation import generate

        return generate(self, *inputs, **options)

    def transcribe(self, audio: Any, **options: Any) -> str | list[str]:
        """Speech-to-text models: a WAV file, a list of them, or waveforms -> text (a list for a batch);
        see `zoo.tasks.transcribe.transcribe` for the options (language, task, long audio)."""
        if getattr(self.head, "generate", None) is None or self.task != "speech-to-text":
            raise AttributeError(f"transcribe needs a speech-to-text model (e.g. zoo.create('whisper-tiny', "
                                 f"pretrained=True)); this is {self.family}/{self.task}")
        from .transcribe import transcribe

        return transcribe(self, audio, **options)

    def loss(self, outputs: Tensor, targets: Any = None) -> Tensor:
        """The task's training loss for ``outputs`` of `forward` (``targets`` as ``head.label_format`` says;
        the contrastive task needs none: image i matches caption i)."""
        return self.head.loss(outputs, targets)

    def encode_image(self, images: Tensor, normalize: bool = True) -> Tensor:
        """Image-text models: images [B, 3, H, W] -> embeddings [B, E], unit length unless ``normalize=False``."""
        return self._dual_encoder("encode_image").encode_image(images, normalize=normalize)

    def encode_text(self, input_ids: Tensor, attention_mask: Tensor | None = None, normalize: bool = True) -> Tensor:
        """Image-text models: token ids [B, T] (+ attention_mask) -> embeddings [B, E] in the images' space."""
        return self._dual_encoder("encode_text").encode_text(input_ids, attention_mask, normalize=normalize)

    def _dual_encoder(self, method: str) -> nn.Module:
        if not hasattr(self.backbone, method):
            raise AttributeError(f"{method} needs an image-text model (both towers: the contrastive or "
                                 f"zero-shot-image-classification task); this is {self.family}/{self.task} with a "
                                 f"{self.backbone.modality} backbone")
        return self.backbone

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` (0 = pooled features)."""
        self.head.reset_classifier(num_classes)
        self.spec = dataclasses.replace(self.spec, num_classes=num_classes)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward to save memory."""
        self.backbone.set_grad_checkpointing(enable)

    def extra_repr(self) -> str:
        return f"family={self.family!r}, task={self.task!r}, card={self.card!r}"
