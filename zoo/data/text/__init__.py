"""Text tokenizers with one interface: the download-free `ByteTokenizer` and `load_tokenizer` for
tokenizer files from Hugging Face model directories (wrapped as `TextTokenizer`, or CLIP's,
SigLIP's and Whisper's own `ClipTokenizer`, `SiglipTokenizer` and `WhisperTokenizer`).

Nothing here imports torch, ``tokenizers`` or ftfy at import time.
"""
from importlib import import_module

from .base import BatchEncoding, Tokenizer, TokenizerError
from .byte import ByteTokenizer

_LAZY = {"TextTokenizer": ".wrapped", "load_tokenizer": ".load", "ClipTokenizer": ".clip",
         "SiglipTokenizer": ".siglip", "WhisperTokenizer": ".whisper"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'zoo.data.text' has no attribute {name!r}")


__all__ = ["BatchEncoding", "ByteTokenizer", "ClipTokenizer", "SiglipTokenizer", "TextTokenizer", "Tokenizer",
           "TokenizerError", "WhisperTokenizer", "load_tokenizer"]
