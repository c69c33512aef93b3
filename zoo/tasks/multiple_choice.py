"""Multiple choice: one score per choice, cross-entropy over the choices (transformers' ``*ForMultipleChoice``).

The task owns its inputs: every tensor input is ``[batch, choices, ...]``; `prepare_inputs`
flattens them to ``[batch * choices, ...]`` for the backbone, the head scores each sequence
(the backbone's pool, dropout, ``Linear(dim, 1)``) and `restore_outputs` regroups the scores
to ``[batch, choices]``. A choice whose mask is all padding is absent (a batch may mix
questions with different numbers of choices): its score is the dtype's minimum.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..nn.checks import check_token_ids, require_tensor
from .classification import class_cross_entropy
from .layers import fresh_linear
from .targets import example_rows

EXAMPLE_CHOICES = 3  # choices per question in example batches (unlike the batch size of 2, to catch mix-ups)
LAYOUT = "[batch, choices, seq_len]"


def _flatten(value: Any, name: str, groups: torch.Size) -> Any:
    """A tensor [batch, choices, ...] -> [batch * choices, ...]; anything else unchanged."""
    if not isinstance(value, Tensor):
        return value
    if value.dim() < 3 or value.shape[:2] != groups:
        raise ValueError(f"multiple-choice {name} must be {LAYOUT} with [batch, choices] = {list(groups)} as in "
                         f"input_ids, got shape {list(value.shape)}")
    return value.flatten(0, 1)


class MultipleChoiceHead(nn.Module):
    """Sequence features [..., T, D] -> one score per sequence [...]: the backbone's pool, dropout, Linear(D, 1).

    The leading dimensions are kept: features [batch * choices, T, D] (from the backbone, in
    ``ZooModel.forward``) give scores [batch * choices]; features [batch, choices, T, D] (from
    ``forward_features``) give [batch, choices]. There are no classes: ``num_classes`` is 0 and
    `reset_classifier` is an error (the number of choices comes with the inputs).
    """

    num_classes = 0
    label_format = ("the right choice's index [batch] in [0, choices) (-100: row skipped), "
                    "or probabilities over the choices [batch, choices]")

    def __init__(self, pool: nn.Module, in_dim: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = pool
        self.drop = nn.Dropout(dropout)
        self.fc = fresh_linear(in_dim, 1)

    def prepare_inputs(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, torch.Size]:
        """Every tensor [batch, choices, ...] -> [batch * choices, ...]; the context is [batch, choices]."""
        ids = inputs[0] if inputs else extras.get("input_ids")
        if check_token_ids(require_tensor(ids, "input_ids", LAYOUT), "input_ids").dim() != 3:
            raise ValueError(f"multiple-choice input_ids must be {LAYOUT} (one sequence per choice, padded to "
                             f"one length), got shape {list(ids.shape)}")
        groups = ids.shape[:2]
        inputs = tuple(_flatten(value, f"input {i}" if i else "input_ids", groups) for i, value in enumerate(inputs))
        return inputs, {name: _flatten(value, name, groups) for name, value in extras.items()}, groups

    def restore_outputs(self, outputs: Tensor, context: torch.Size) -> Tensor:
        """[batch * choices, ...] -> [batch, choices, ...] (scores, and features or masks, alike)."""
        return outputs.unflatten(0, context)

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        groups = features.shape[:-2]  # [batch * choices] or [batch, choices]
        x = features.flatten(0, -3)  # [N, T, D]
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != features.shape[:-1]:
                raise ValueError(f"the multiple-choice mask must be {list(features.shape[:-1])} like the features "
                                 f"less their width, got {list(attention_mask.shape)}")
            mask = attention_mask.flatten(0, -2)  # [N, T]
        pooled = self.drop(self.pool(x, mask))  # [N, D]
        if pre_logits:
            return pooled.unflatten(0, groups)
        scores = self.fc(pooled).squeeze(-1)  # [N]
        if mask is not None:  # an all-padding choice is absent
            scores = scores.masked_fill(~(mask != 0).any(dim=-1), torch.finfo(scores.dtype).min)
        return scores.unflatten(0, groups)

    def loss(self, scores: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy over the choices: scores [batch, choices], targets the right choice [batch]."""
        if require_tensor(scores, "scores", "[batch, choices]").dim() != 2:
            raise ValueError(f"multiple-choice scores must be [batch, choices] (the model's output), "
                             f"got shape {list(scores.shape)}")
        return class_cross_entropy(scores, targets, "choice")

    def reset_classifier(self, num_classes: int) -> None:
        raise ValueError("multiple-choice scores each choice with one output; it has no classes to reset "
                         f"(the number of choices comes from the inputs, {LAYOUT})")

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """Family example inputs [B, ...] -> [B, 3, ...]: choice c of row b is example row (b + c) % B, so the
        choices differ and some are padded; targets: random right choices [B]."""
        rows = example_rows(inputs, extras)
        pick = (torch.arange(rows)[:, None] + torch.arange(EXAMPLE_CHOICES)) % rows  # [B, C]

        def stack(value: Any) -> Any:
            return value[pick] if isinstance(value, Tensor) else value  # [B, ...] -> [B, C, ...]

        return (tuple(stack(v) for v in inputs), {k: stack(v) for k, v in extras.items()},
                torch.randint(0, EXAMPLE_CHOICES, (rows,)))


def build_multiple_choice_head(backbone: nn.Module, spec: Any) -> MultipleChoiceHead:
    return MultipleChoiceHead(backbone.make_pool(), backbone.num_features, dropout=getattr(spec, "dropout", 0.0))
