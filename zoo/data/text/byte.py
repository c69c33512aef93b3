"""A byte-level tokenizer: UTF-8 bytes are the ids, so it needs no vocabulary file or download.

It is the default tokenizer of the training recipes. Any text encodes (there is no unknown token)
and any id sequence decodes: bytes that are not valid UTF-8, as a model may generate, become U+FFFD.
"""
from __future__ import annotations

from typing import Any

from .base import Tokenizer, TokenizerError, as_id_list


class ByteTokenizer(Tokenizer):
    """Ids 0..255 are the UTF-8 bytes of the text; special tokens follow at fixed ids.

    ========  ===  ==========================================================
    pad       256  fills batches; attention_mask is 0 there
    bos       257  added before the text when ``add_special_tokens`` (``add_bos``)
    eos       258  added after the text when ``add_special_tokens`` and ``add_eos``
    mask      259  for masked language modelling
    ========  ===  ==========================================================

    ``vocab_size`` is 260 and ``unk_token_id`` is None (every text is bytes). Special tokens are
    never read from text: ``"<eos>"`` encodes as its five bytes. The defaults (bos only) suit
    decoders, where a prompt must not end in eos; pass ``add_eos=True`` for whole documents or
    encoders. Truncation counts bytes, so it may cut a character; decoding shows that as U+FFFD.
    """

    PAD, BOS, EOS, MASK = 256, 257, 258, 259
    SPECIAL_TOKENS = {PAD: "<pad>", BOS: "<bos>", EOS: "<eos>", MASK: "<mask>"}

    def __init__(self, *, add_bos: bool = True, add_eos: bool = False, padding_side: str = "right") -> None:
        super().__init__(padding_side)
        self.add_bos, self.add_eos = add_bos, add_eos
        self.pad_token_id, self.bos_token_id, self.eos_token_id, self.mask_token_id = (
            self.PAD, self.BOS, self.EOS, self.MASK)

    @property
    def vocab_size(self) -> int:
        return 260

    def __repr__(self) -> str:
        return (f"ByteTokenizer(vocab_size={self.vocab_size}, add_bos={self.add_bos}, add_eos={self.add_eos}, "
                f"padding_side={self.padding_side!r})")

    def _encode_batch(self, texts: list[str], add_special_tokens: bool, max_length: int | None) -> list[list[int]]:
        head = [self.BOS] if add_special_tokens and self.add_bos else []
        tail = [self.EOS] if add_special_tokens and self.add_eos else []
        room = None
        if max_length is not None:
            room = max_length - len(head) - len(tail)
            if room < 0:
                raise TokenizerError(f"max_length={max_length} leaves no room for the "
                                     f"{len(head) + len(tail)} special tokens added to every text")
        return [head + list(text.encode("utf-8")[:room]) + tail for text in texts]

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text for one sequence of ids; special tokens are dropped, or shown as ``<pad>`` etc."""
        pieces: list[str] = []
        run = bytearray()
        for i in as_id_list(ids):
            if 0 <= i < 256:
                run.append(i)
            elif i in self.SPECIAL_TOKENS:
                if not skip_special_tokens:
                    pieces += [run.decode("utf-8", errors="replace"), self.SPECIAL_TOKENS[i]]
                    run = bytearray()
            else:
                raise TokenizerError(f"id {i} is outside the byte tokenizer's vocabulary (0 to {self.vocab_size - 1})")
        return "".join(pieces) + run.decode("utf-8", errors="replace")
