"""Rules on the next-token scores before a token is chosen, as transformers' logits processors:
``repetition_penalty``, ``no_repeat_ngram_size``, ``min_new_tokens``, ``suppress_tokens`` and
``begin_suppress_tokens`` (Whisper's), applied in that order
(greedy and sampling: to the logits, before temperature, top-k and top-p; beam search: to the
log-probabilities).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Rule = Callable[[Tensor, Tensor], Tensor]  # (history [R, L] token ids so far, scores [R, V]) -> scores


def check_rules(repetition_penalty: float, no_repeat_ngram_size: int, min_new_tokens: int) -> None:
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0 (1.0 = off, > 1 discourages repeats), got {repetition_penalty}")
    if no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be >= 0 (0 = off), got {no_repeat_ngram_size}")
    if min_new_tokens < 0:
        raise ValueError(f"min_new_tokens must be >= 0, got {min_new_tokens}")


def penalize_repeats(penalty: float, skip: Tensor | None) -> Rule:
    """Every token already in a row's history: positive scores divided by ``penalty``, negative ones
    multiplied (CTRL's rule). ``skip`` [R]: leading positions (left padding) that do not count."""
    def rule(history: Tensor, scores: Tensor) -> Tensor:
        vocab = scores.shape[-1]
        ids = history.clamp(max=vocab)
        if skip is not None:
            positions = torch.arange(history.shape[1], device=history.device)
            ids = ids.masked_fill(positions[None, :] < skip[:, None], vocab)  # to a spare column, dropped below
        padded = F.pad(scores, (0, 1))  # [R, V + 1]
        seen = padded.gather(1, ids)
        seen = torch.where(seen < 0, seen * penalty, seen / penalty)
        return padded.scatter(1, ids, seen)[:, :vocab]
    return rule


def ban_repeated_ngrams(n: int) -> Rule:
    """No n-gram twice in a row's history: a token that would complete a repeat gets -inf."""
    def rule(history: Tensor, scores: Tensor) -> Tensor:
        length = history.shape[1]
        if length + 1 < n:
            return scores
        scores = scores.clone()
        for row, tokens in enumerate(history.tolist()):
            prefix = tokens[length - n + 1 :]
            banned = {tokens[i + n - 1] for i in range(length - n + 1) if tokens[i : i + n - 1] == prefix}
            if banned:
                scores[row, list(banned)] = float("-inf")
        return scores
    return rule


def ban_tokens(tokens: list[int], when: Callable[[int], bool] = lambda length: True) -> Rule:
    """``tokens`` get -inf while ``when(history length)`` holds (by default always)."""
    def rule(history: Tensor, scores: Tensor) -> Tensor:
        if not when(history.shape[1]):
            return scores
        scores = scores.clone()
        scores[:, tokens] = float("-inf")
        return scores
    return rule


def forbid_eos_before(min_new_tokens: int, start: int, eos: list[int]) -> Rule:
    """No EOS until ``min_new_tokens`` tokens follow the ``start`` tokens of the prompt."""
    return ban_tokens(eos, when=lambda length: length - start < min_new_tokens)


def token_rules(*, repetition_penalty: float, no_repeat_ngram_size: int, min_new_tokens: int, eos: list[int],
                start: int, prompt_padding: Tensor | None, suppress: list[int] | None = None,
                begin_suppress: list[int] | None = None) -> Rule | None:
    """The rules these options ask for, as one function, or None when none applies."""
    rules = []
    if repetition_penalty != 1.0:
        rules.append(penalize_repeats(repetition_penalty, prompt_padding))
    if no_repeat_ngram_size > 0:
        rules.append(ban_repeated_ngrams(no_repeat_ngram_size))
    if min_new_tokens > 0 and eos:
        rules.append(forbid_eos_before(min_new_tokens, start, eos))
    if suppress:
        rules.append(ban_tokens(suppress))
    if begin_suppress:
        rules.append(ban_tokens(begin_suppress, when=lambda length: length == start))  # the first new token
    if not rules:
        return None

    def apply(history: Tensor, scores: Tensor) -> Tensor:
        for rule in rules:
            scores = rule(history, scores)
        return scores
    return apply
