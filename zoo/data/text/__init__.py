"""Text tokenizers with one interface: the download-free `ByteTokenizer` and `load_tokenizer` for
tokenizer files from Hugging Face model directories (wrapped as `TextTokenizer`).

Nothing here imports torch or ``tokenizers`` at import time.
"""
from .base import BatchEncoding, Tokenizer, TokenizerError
from .byte import ByteTokenizer


def __getattr__(name: str):
    if name == "TextTokenizer":
        from .wrapped import TextTokenizer
        return TextTokenizer
    if name == "load_tokenizer":
        from .load import load_tokenizer
        return load_tokenizer
    raise AttributeError(f"module 'zoo.data.text' has no attribute {name!r}")


__all__ = ["BatchEncoding", "ByteTokenizer", "TextTokenizer", "Tokenizer", "TokenizerError", "load_tokenizer"]
