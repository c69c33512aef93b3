"""SigLIP's tokenizer: its SentencePiece model with the text canonicalized first, as transformers'
``SiglipTokenizer`` does (the class HF SigLIP checkpoints declare; it needs the sentencepiece library
there, not here).

Per text: split at the special tokens (``</s>``, ``<unk>``, the pad token) written in it; each other
chunk is lowercased (``do_lower_case``), stripped of ASCII punctuation (``string.punctuation``)
with whitespace collapsed, and segmented without SentencePiece's dummy prefix, except that the first
chunk starts with ``▁``; ``</s>`` closes the ids unless they already end with it. Unlike
open_clip's and big_vision's ``canonicalize_text``, transformers' does not turn ``_`` into a space
first (``a_b`` becomes ``ab``); this follows transformers.
"""
from __future__ import annotations

import re
import string
from typing import Any, Mapping

from .base import TokenizerError
from .sentencepiece import SentencePieceModel, unigram_backend
from .wrapped import TextTokenizer

MAX_LENGTH = 64  # SigLIP's text length
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_SPACES = re.compile(r"\s+")


def canonicalize(text: str, *, lowercase: bool = True) -> str:
    """transformers' ``SiglipTokenizer.canonicalize_text``: lowercase, drop ASCII punctuation, collapse spaces."""
    if lowercase:
        text = text.lower()
    return _SPACES.sub(" ", text.translate(_PUNCTUATION)).strip()


class SiglipTokenizer(TextTokenizer):
    """SigLIP's text ids: ``tok(texts)`` pads (with the config's pad token, ``</s>``) and truncates to 64.

    SigLIP's text tower was trained on exactly 64 positions with no attention mask (it attends to
    the padding and pools the last position), so ``padding="max_length"`` is the default;
    ``attention_mask`` is still returned, for models that use one.
    """

    def __init__(self, model: SentencePieceModel, special_tokens: Mapping[str, str | None] | None = None, *,
                 do_lower_case: bool = True, model_max_length: int = MAX_LENGTH, padding_side: str = "right") -> None:
        backend = unigram_backend(model, add_dummy_prefix=False)
        unk = model.pieces[model.trainer_spec.unk_id].piece
        super().__init__(backend, {"eos": "</s>", "unk": unk, "pad": "</s>", **(special_tokens or {})},
                         padding_side=padding_side, model_max_length=model_max_length, padding="max_length",
                         truncation=True)
        if self.eos_token_id is None:
            raise TokenizerError("a SigLIP tokenizer needs an eos token (</s>) in its vocabulary")
        specials = sorted({t for t in self.special_tokens.values() if t}, key=len, reverse=True)
        backend.add_special_tokens(specials)
        self.do_lower_case = do_lower_case
        self._specials = {t: backend.token_to_id(t) for t in specials}
        self._split = re.compile("(" + "|".join(map(re.escape, specials)) + ")")

    def __repr__(self) -> str:
        return (f"SiglipTokenizer(vocab_size={self.vocab_size}, model_max_length={self.model_max_length}, "
                f"do_lower_case={self.do_lower_case})")

    def _encode_batch(self, texts: list[str], add_special_tokens: bool, max_length: int | None) -> list[list[int]]:
        room = None if max_length is None else max_length - (1 if add_special_tokens else 0)
        if room is not None and room < 0:
            raise TokenizerError(f"max_length={max_length} leaves no room for the 1 special token added to every text")
        texts = ["▁" + text.replace("▁", " ") for text in texts]  # SiglipTokenizer.tokenize's own prefix
        special = {i for i, text in enumerate(texts) if self._split.search(text)}
        plain = [i for i in range(len(texts)) if i not in special]
        ids: list[list[int]] = [[] for _ in texts]
        canonical = [canonicalize(texts[i], lowercase=self.do_lower_case) for i in plain]
        for i, encoding in zip(plain, self.backend.encode_batch(canonical, add_special_tokens=False)):
            ids[i] = encoding.ids
        for i in special:
            ids[i] = self._encode_with_special_tokens(texts[i])
        eos = self.eos_token_id
        if add_special_tokens:  # transformers adds </s> unless the (cut) ids already end with it
            return [seq[:room] + ([] if seq[:room][-1:] == [eos] else [eos]) for seq in ids]
        return [seq[:room] for seq in ids]

    def _encode_with_special_tokens(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in self._split.split(text):
            if chunk in self._specials:
                ids.append(self._specials[chunk])
            elif chunk:
                ids += self.backend.encode(canonicalize(chunk, lowercase=self.do_lower_case),
                                           add_special_tokens=False).ids
        return ids

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text for one sequence of ids (canonicalized, as encoded)."""
        return super().decode(ids, skip_special_tokens=skip_special_tokens).strip()
