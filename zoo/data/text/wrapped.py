"""`TextTokenizer`: a ``tokenizers.Tokenizer`` behind the zoo tokenizer interface."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .base import Tokenizer, TokenizerError, as_id_list
from .special import resolve_special_tokens

if TYPE_CHECKING:
    import tokenizers


class TextTokenizer(Tokenizer):
    """Encode/decode/batch like `ByteTokenizer`, with a Hugging Face ``tokenizers`` backend.

    ``special_tokens`` maps roles (pad, bos, eos, unk, mask, cls, sep) to token strings; roles it
    leaves out are found among well-known tokens of the vocabulary (``[PAD]``, ``<pad>``, ``</s>``,
    ``<|endoftext|>``, ...; bos/eos fall back to cls/sep). With no pad token, padding uses the eos
    id, as is usual for GPT-2-style vocabularies; ``attention_mask`` marks it either way.
    The backend's own padding and truncation settings are switched off: the call decides, with
    defaults from ``model_max_length``, ``padding`` and ``truncation`` (see `Tokenizer`).
    """

    def __init__(self, backend: "tokenizers.Tokenizer", special_tokens: Mapping[str, str | None] | None = None,
                 *, padding_side: str = "right", model_max_length: int | None = None, padding: bool | str = True,
                 truncation: bool = False) -> None:
        super().__init__(padding_side, model_max_length=model_max_length, padding=padding, truncation=truncation)
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.special_tokens = resolve_special_tokens(special_tokens or {}, backend.token_to_id)
        ids = {role: None if token is None else backend.token_to_id(token)
               for role, token in self.special_tokens.items()}
        self.bos_token_id, self.eos_token_id, self.unk_token_id = ids["bos"], ids["eos"], ids["unk"]
        self.mask_token_id, self.cls_token_id, self.sep_token_id = ids["mask"], ids["cls"], ids["sep"]
        self.pad_token_id = ids["pad"] if ids["pad"] is not None else ids["eos"]

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __repr__(self) -> str:
        model = type(self.backend.model).__name__
        return f"TextTokenizer({model}, vocab_size={self.vocab_size}, padding_side={self.padding_side!r})"

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None if it is not in the vocabulary."""
        return self.backend.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        """The token string of ``id``, or None if it is out of range."""
        return self.backend.id_to_token(id)

    def _encode_batch(self, texts: list[str], add_special_tokens: bool, max_length: int | None) -> list[list[int]]:
        if max_length is None:
            return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=add_special_tokens)]
        room = max_length - (self.backend.num_special_tokens_to_add(False) if add_special_tokens else 0)
        if room < 0:
            raise TokenizerError(f"max_length={max_length} leaves no room for the {max_length - room} "
                                 "special tokens added to every text")
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        out = []
        for encoding in encodings:
            encoding.truncate(room)
            if add_special_tokens:
                encoding = self.backend.post_process(encoding, None, True)
            out.append(encoding.ids)
        return out

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text for one sequence of ids, through the backend's decoder (byte-level, WordPiece, ...)."""
        ids = as_id_list(ids)
        bad = next((i for i in ids if not 0 <= i < self.vocab_size), None)
        if bad is not None:
            raise TokenizerError(f"id {bad} is outside the vocabulary (0 to {self.vocab_size - 1})")
        return self.backend.decode(ids, skip_special_tokens=skip_special_tokens)
