"""Text tokenizers with one interface: the download-free `ByteTokenizer` and `load_tokenizer` for
tokenizer files from Hugging Face model directories (wrapped as `TextTokenizer`, or CLIP's and
SigLIP's own `ClipTokenizer` and `SiglipTokenizer`).

Nothing here imports torch, ``tokenizers`` or ftfy at import time.
"""
from importlib import import_module

from .base import BatchEncoding, Tokenizer, TokenizerError
from .byte import ByteTokenizer

_LAZY = {"TextTokenizer": ".wrapped", "load_tokenizer": ".load", "ClipTokenizer": ".clip",
         "SiglipTokenizer": ".siglip"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'zoo.data.text' has no attribute {name!r}")


__all__ = ["BatchEncoding", "ByteTokenizer", "ClipTokenizer", "SiglipTokenizer", "TextTokenizer", "Tokenizer",
           "TokenizerError", "load_tokenizer"]
