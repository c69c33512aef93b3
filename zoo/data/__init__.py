"""Data for every modality: tokenizers for text (more to come: transforms, audio front ends).

    from zoo.data import ByteTokenizer, load_tokenizer
    tok = ByteTokenizer()                      # no download; the training recipes' default
    tok = load_tokenizer("path/to/hf-model")   # tokenizer.json, vocab.json + merges.txt, or vocab.txt

Importing this package is cheap: torch and the ``tokenizers`` library load on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "BatchEncoding": "zoo.data.text.base",
    "ByteTokenizer": "zoo.data.text.byte",
    "TextTokenizer": "zoo.data.text.wrapped",
    "Tokenizer": "zoo.data.text.base",
    "TokenizerError": "zoo.data.text.base",
    "load_tokenizer": "zoo.data.text.load",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")
