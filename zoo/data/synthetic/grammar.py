"""Sentences from a small probabilistic grammar: the offline default corpus of the LM recipes.

The grammar has structure a language model can learn beyond byte frequencies: a fixed
vocabulary (spelling makes most bytes predictable from the previous ones), word order,
number agreement between subject and verb (``the cat sees`` / ``the cats see``) across
adjectives and relative clauses, transitive verbs that always take an object, "a" / "an". A model that
learns it reaches a loss well below the corpus's unigram entropy (``unigram_entropy``).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable

import torch

from ._seed import check_index, check_size, item_random

_NOUNS = [("cat", "cats"), ("dog", "dogs"), ("bird", "birds"), ("fox", "foxes"), ("child", "children"),
          ("teacher", "teachers"), ("robot", "robots"), ("farmer", "farmers"), ("mouse", "mice"),
          ("horse", "horses"), ("baker", "bakers"), ("sailor", "sailors")]
_ADJECTIVES = ["small", "big", "red", "green", "old", "young", "quiet", "clever", "happy", "lazy"]
_TRANSITIVE = [("sees", "see"), ("chases", "chase"), ("likes", "like"), ("helps", "help"), ("follows", "follow"),
               ("finds", "find"), ("watches", "watch")]
_INTRANSITIVE = [("sleeps", "sleep"), ("runs", "run"), ("sings", "sing"), ("waits", "wait"), ("laughs", "laugh")]
_ADVERBS = ["quickly", "slowly", "today", "again", "happily"]
_PLACES = ["in the garden", "near the river", "on the hill", "at home", "under the tree", "by the sea"]
_DETERMINERS = {False: ["the", "a", "every", "this"], True: ["the", "some", "many", "these", "two", "three"]}


def _noun_phrase(rng: random.Random, plural: bool, depth: int) -> str:
    words = [rng.choice(_DETERMINERS[plural])]
    words += rng.sample(_ADJECTIVES, k=rng.choice((0, 0, 1, 1, 2)))
    words.append(rng.choice(_NOUNS)[plural])
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    if depth < 1 and rng.random() < 0.25:  # "the cat that chases the dogs": the head noun sets the verb's number
        words += ["that", _verb_phrase(rng, plural, depth + 1)]
    return " ".join(words)


def _verb_phrase(rng: random.Random, plural: bool, depth: int) -> str:
    if rng.random() < 0.65:
        words = [rng.choice(_TRANSITIVE)[plural], _noun_phrase(rng, rng.random() < 0.5, depth)]
    else:
        words = [rng.choice(_INTRANSITIVE)[plural]]
    if rng.random() < 0.3:
        words.append(rng.choice(_ADVERBS))
    if rng.random() < 0.3:
        words.append(rng.choice(_PLACES))
    return " ".join(words)


def sentence(rng: random.Random) -> str:
    """One sentence: a noun phrase, an agreeing verb phrase, sometimes two clauses joined by "and"."""
    clauses = []
    for _ in range(2 if rng.random() < 0.2 else 1):
        plural = rng.random() < 0.5
        clauses.append(f"{_noun_phrase(rng, plural, 0)} {_verb_phrase(rng, plural, 0)}")
    text = " and ".join(clauses) + "."
    return text[0].upper() + text[1:]


class GrammarText(torch.utils.data.Dataset):
    """``size`` lines of text, each one sentence of the grammar (ASCII, about 10 to 220 bytes, 58 on average)."""

    def __init__(self, size: int, *, seed: int = 0) -> None:
        check_size("GrammarText", size)
        self.size, self.seed = size, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> str:
        index = check_index("GrammarText", index, self.size)
        return sentence(item_random(self.seed, index, salt=3))

    def __repr__(self) -> str:
        return f"GrammarText(size={self.size}, seed={self.seed})"


def unigram_entropy(texts: Iterable[str]) -> float:
    """Entropy of the UTF-8 byte frequencies of ``texts``, in nats per byte.

    It is the loss of the best model that ignores context, in the byte tokenizer's unit (nats,
    as ``cross_entropy`` reports): a language model that has learnt anything beyond byte
    frequencies ends well below it. Special tokens (bos, eos, padding) are not counted.
    """
    counts: Counter[int] = Counter()
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"unigram_entropy: item {i} is {type(text).__name__}, expected str")
        counts.update(text.encode("utf-8"))
    total = sum(counts.values())
    if total == 0:
        raise ValueError("unigram_entropy: the texts contain no bytes")
    return -sum(n / total * math.log(n / total) for n in counts.values())
