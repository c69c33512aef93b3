"""Training targets the heads' losses share (class ids, with -100 for positions to skip), and the
helpers their ``example_batch`` methods share to derive example targets from example inputs."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..nn.checks import require_tensor

IGNORE_INDEX = -100  # label value that the losses skip (padding, unmasked tokens), as in transformers


def check_class_ids(labels: Any, num_classes: int, name: str = "labels", *, first: int = 0,
                    note: str = "") -> Tensor:
    """Integer class ids in [first, num_classes) or -100 (ignored) -> the same ids as int64.

    The range check costs one reduction and one host sync, skipped while compiling: an id out
    of range is otherwise an opaque IndexError (CPU) or a device-side assert (CUDA) in the loss.
    ``note`` follows the allowed range in the message (e.g. `` (0 is the blank)``).
    """
    labels = require_tensor(labels, name, "of integer class ids")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class ids, got {labels.dtype}; "
                        "convert with .long()")
    labels = labels.long()
    if not torch.compiler.is_compiling() and labels.numel():
        outside = (labels != IGNORE_INDEX) & ((labels < first) | (labels >= num_classes))
        if bool(outside.any()):
            values = labels[outside].unique()[:5].tolist()
            raise ValueError(f"{name} must be in [{first}, {num_classes - 1}]{note} or {IGNORE_INDEX} (ignored); "
                             f"got {values}")
    return labels


# --- example targets (head.example_batch) -------------------------------------------------

def example_rows(inputs: tuple, extras: dict) -> int:
    """The batch size of example inputs: the first dimension of their first tensor."""
    for value in (*inputs, *extras.values()):
        if isinstance(value, Tensor):
            return value.shape[0]
    raise ValueError("example inputs hold no tensor to take the batch size from")


def example_tokens(inputs: tuple, extras: dict) -> tuple[Tensor, Tensor | None]:
    """(token ids [B, T], keep-mask [B, T] or None) that a text model's features align with:
    the decoder's (``decoder_input_ids``) for an encoder-decoder, else the input ids."""
    if "decoder_input_ids" in extras:
        return extras["decoder_input_ids"], extras.get("decoder_attention_mask")
    ids = inputs[0] if inputs else extras.get("input_ids")
    if not isinstance(ids, Tensor):
        raise ValueError("token-level example targets need token ids: input_ids or decoder_input_ids")
    return ids, extras.get("attention_mask")


def skip_padding(labels: Tensor, mask: Tensor | None) -> Tensor:
    """``labels`` with -100 where ``mask`` (same shape; 1 = token) marks padding."""
    return labels.clone() if mask is None else labels.masked_fill(mask == 0, IGNORE_INDEX)
