"""zoo.generation.token_rules against transformers' own logits processors on the same random histories and scores."""
from __future__ import annotations

import pytest
import torch
from transformers.generation.logits_process import (
    MinNewTokensLengthLogitsProcessor, NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor,
)

from zoo.generation.token_rules import ban_repeated_ngrams, forbid_eos_before, penalize_repeats


def histories(rows: int = 4, length: int = 14, vocab: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, vocab, (rows, length), generator=g), torch.randn(rows, vocab, generator=g) * 3


@pytest.mark.parametrize("penalty", [1.5, 0.7])
def test_repetition_penalty_with_left_padding(penalty):
    history, scores = histories()
    skip = torch.tensor([0, 3, 7, 13])  # left-padding lengths: those positions are not the row's history
    theirs = RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=skip)(history, scores.clone())
    ours = penalize_repeats(penalty, skip)(history, scores.clone())
    assert torch.equal(ours, theirs)
    assert torch.equal(penalize_repeats(penalty, None)(history, scores.clone()),
                       RepetitionPenaltyLogitsProcessor(penalty)(history, scores.clone()))


@pytest.mark.parametrize("n", [1, 2, 3, 15])
def test_no_repeat_ngram(n):
    history, scores = histories(vocab=4)  # a small vocabulary: many repeats
    theirs = NoRepeatNGramLogitsProcessor(n)(history, scores.clone())
    ours = ban_repeated_ngrams(n)(history, scores.clone())
    assert torch.equal(ours, theirs)
    assert n == 15 or torch.isinf(ours).any()


@pytest.mark.parametrize("length", [5, 8, 9, 12])
def test_min_new_tokens(length):
    history, scores = histories(length=length)
    theirs = MinNewTokensLengthLogitsProcessor(4, 5, eos_token_id=[2, 6])(history, scores.clone())
    assert torch.equal(forbid_eos_before(5, 4, [2, 6])(history, scores.clone()), theirs)
