"""The interface every zoo tokenizer shares: encode/decode one text, and batch to padded tensors.

Subclasses supply `_encode_batch` (ids per text, truncated to a length that includes the special
tokens) and `decode`; the padding, truncation and tensor logic here is shared, so the byte tokenizer
and wrapped Hugging Face tokenizers batch the same way.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

PADDING = (True, False, "longest", "max_length", "do_not_pad")
SIDES = ("right", "left")
RETURN_TENSORS = ("pt", None)


class TokenizerError(ValueError):
    """A tokenizer that cannot be loaded, or text/ids/options a tokenizer cannot handle."""


class BatchEncoding(dict):
    """``input_ids`` and ``attention_mask`` (tensors or lists); keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no {name!r}; keys: {', '.join(self)}") from None

    def to(self, device: Any) -> "BatchEncoding":
        """A copy with every tensor moved to ``device`` (for ``return_tensors="pt"`` batches)."""
        return BatchEncoding({k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()})


def as_id_list(ids: Any) -> list[int]:
    """One sequence of ids (list, tuple, or 1-D tensor) as a list of Python ints."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        ids = [ids]
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TokenizerError("decode takes one sequence of integer ids (a list or a 1-D tensor); "
                             "use batch_decode for a batch")
    return list(ids)


class Tokenizer(ABC):
    """Shared behaviour; see `ByteTokenizer` and `TextTokenizer`.

    Special token ids are ``None`` where the vocabulary has no such token. ``padding_side`` is the
    default for batches ("left" for batched generation with decoders, "right" otherwise).

    The call's defaults are the tokenizer's, since some models need fixed-length input: most
    tokenizers pad to the longest text and never truncate (``model_max_length`` None), while CLIP's
    pads and truncates to its 77 positions and SigLIP's to 64 (``padding="max_length"``,
    ``truncation=True``), as those models were trained.
    """

    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    unk_token_id: int | None = None
    mask_token_id: int | None = None
    model_max_length: int | None = None
    default_padding: bool | str = True
    default_truncation: bool = False

    def __init__(self, padding_side: str = "right", *, model_max_length: int | None = None,
                 padding: bool | str = True, truncation: bool = False) -> None:
        self.padding_side = padding_side
        _check_options(padding, padding_side, model_max_length, truncation, "pt")
        self.model_max_length = model_max_length  # the call's default max_length (None: no limit)
        self.default_padding = padding
        self.default_truncation = truncation

    @property
    def padding_side(self) -> str:
        return self._padding_side

    @padding_side.setter
    def padding_side(self, side: str) -> None:
        if side not in SIDES:
            raise TokenizerError(f"padding_side must be one of {', '.join(map(repr, SIDES))}; got {side!r}")
        self._padding_side = side

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (the embedding table size a model needs)."""

    def __len__(self) -> int:
        return self.vocab_size

    @abstractmethod
    def _encode_batch(self, texts: list[str], add_special_tokens: bool, max_length: int | None) -> list[list[int]]:
        """Ids per text; with ``max_length``, text tokens are cut so ids incl. specials fit in it."""

    @abstractmethod
    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text for one sequence of ids."""

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Ids for one text, with the tokenizer's special tokens around it if ``add_special_tokens``."""
        if not isinstance(text, str):
            raise TokenizerError(f"encode takes one string, got {type(text).__name__}; "
                                 "call the tokenizer itself on a list of strings for a batch")
        return self._encode_batch([text], add_special_tokens, None)[0]

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = True) -> list[str]:
        """Text for each sequence of ids (a list of lists or a 2-D tensor)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens=skip_special_tokens) for ids in sequences]

    def __call__(self, texts: str | Sequence[str], *, padding: bool | str | None = None,
                 padding_side: str | None = None, max_length: int | None = None, truncation: bool | None = None,
                 add_special_tokens: bool = True, return_tensors: str | None = "pt") -> BatchEncoding:
        """Encode a batch: ``input_ids`` and ``attention_mask`` (1 = token, 0 = padding), ``[B, T]``.

        ``padding``: True/"longest" pads to the longest text, "max_length" to ``max_length``,
        False/"do_not_pad" not at all. ``truncation=True`` cuts each text to ``max_length`` ids
        (special tokens kept, text cut on the right); without it a longer text is an error.
        ``return_tensors="pt"`` gives torch.long tensors, ``None`` gives lists. A single string
        is a batch of one. Options left as None take the tokenizer's defaults: ``default_padding``
        (True unless the model needs fixed-length input), ``model_max_length`` for ``max_length``
        (None for most), ``default_truncation`` (False for most).
        """
        batch = _as_texts(texts, "the tokenizer")
        side = self.padding_side if padding_side is None else padding_side
        padding = self.default_padding if padding is None else padding
        truncation = self.default_truncation if truncation is None else truncation
        max_length = self.model_max_length if max_length is None else max_length
        _check_options(padding, side, max_length, truncation, return_tensors)
        ids = self._encode_batch(batch, add_special_tokens, max_length if truncation else None)
        if max_length is not None and not truncation:
            too_long = [i for i, seq in enumerate(ids) if len(seq) > max_length]
            if too_long:
                raise TokenizerError(f"text {too_long[0]} has {len(ids[too_long[0]])} tokens, more than "
                                     f"max_length={max_length}; pass truncation=True to cut it")
        if padding in (False, "do_not_pad"):
            target = None
        else:
            target = max_length if padding == "max_length" else max((len(seq) for seq in ids), default=0)
        masks = [[1] * len(seq) for seq in ids]
        if target is not None and any(len(seq) < target for seq in ids):
            if self.pad_token_id is None:
                raise TokenizerError("this tokenizer has no pad token, so it cannot pad; pass padding=False")
            ids = [_pad(seq, target, self.pad_token_id, side) for seq in ids]
            masks = [_pad(mask, target, 0, side) for mask in masks]
        if return_tensors is None:
            return BatchEncoding(input_ids=ids, attention_mask=masks)
        lengths = {len(seq) for seq in ids}
        if len(lengths) > 1:
            raise TokenizerError(f"texts have different lengths ({min(lengths)} to {max(lengths)} tokens) and "
                                 "cannot form one tensor; pass padding=True, or return_tensors=None for lists")
        import torch

        width = lengths.pop() if lengths else 0
        as_tensor = lambda rows: torch.tensor(rows, dtype=torch.long).reshape(len(rows), width)  # noqa: E731
        return BatchEncoding(input_ids=as_tensor(ids), attention_mask=as_tensor(masks))


def _as_texts(texts: Any, where: str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (list, tuple)) and all(isinstance(t, str) for t in texts):
        return list(texts)
    raise TokenizerError(f"{where} takes a string or a list of strings; got {type(texts).__name__}"
                         + (" with non-string items" if isinstance(texts, (list, tuple)) else ""))


def _check_options(padding: Any, side: str, max_length: Any, truncation: Any, return_tensors: Any) -> None:
    if not any(padding is p or (isinstance(p, str) and padding == p) for p in PADDING):
        raise TokenizerError(f"padding must be one of {', '.join(map(repr, PADDING))}; got {padding!r}")
    if side not in SIDES:
        raise TokenizerError(f"padding_side must be one of {', '.join(map(repr, SIDES))}; got {side!r}")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise TokenizerError(f"max_length must be a positive integer or None; got {max_length!r}")
    if not isinstance(truncation, bool):
        raise TokenizerError(f"truncation must be True or False; got {truncation!r}")
    if truncation and max_length is None:
        raise TokenizerError("truncation=True needs max_length (the tokenizer has no default length)")
    if padding == "max_length" and max_length is None:
        raise TokenizerError('padding="max_length" needs max_length')
    if return_tensors not in RETURN_TENSORS:
        raise TokenizerError(f"return_tensors must be 'pt' or None; got {return_tensors!r}")


def _pad(seq: list[int], length: int, value: int, side: str) -> list[int]:
    fill = [value] * (length - len(seq))
    return seq + fill if side == "right" else fill + seq
