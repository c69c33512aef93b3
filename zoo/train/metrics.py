"""Evaluation metrics as (total, count) pairs, so batches and processes add up exactly.

An evaluation step returns ``{"accuracy": (correct, examples), "loss": (loss_sum, tokens)}``;
the trainer sums the pairs over batches and processes and divides once at the end.
"""
from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor

Pair = tuple[float, float]


def accuracy(logits: Tensor, labels: Tensor) -> Pair:
    """(correct, count) of argmax predictions; logits [B, C], labels [B]."""
    return float((logits.argmax(dim=-1) == labels).sum()), float(labels.numel())


def mean_loss(loss: Tensor, count: int) -> Pair:
    """A batch-mean ``loss`` over ``count`` items as a (sum, count) pair."""
    return float(loss) * count, float(count)


def perplexity(mean_loss: float) -> float:
    """exp(loss in nats per token); inf past float range."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> Pair:
    """(matches, count): strings equal after stripping surrounding whitespace."""
    _check_lengths(predictions, references)
    return float(sum(p.strip() == r.strip() for p, r in zip(predictions, references))), float(len(references))


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning ``a`` into ``b`` (strings, or
    any sequences of comparable items, e.g. lists of words)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def character_errors(predictions: Sequence[str], references: Sequence[str]) -> Pair:
    """(edits, reference characters): their ratio over a data set is the character error rate (CER)."""
    _check_lengths(predictions, references)
    edits = sum(edit_distance(p, r) for p, r in zip(predictions, references))
    return float(edits), float(sum(len(r) for r in references))


def word_errors(predictions: Sequence[str], references: Sequence[str]) -> Pair:
    """(word edits, reference words), words split at whitespace: their ratio over a data set is the word
    error rate (WER)."""
    _check_lengths(predictions, references)
    edits = sum(edit_distance(p.split(), r.split()) for p, r in zip(predictions, references))
    return float(edits), float(sum(len(r.split()) for r in references))


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
