"""CLIP's byte-level BPE tokenizer, tokenizing exactly as OpenAI's CLIP and open_clip do.

OpenAI's ``simple_tokenizer.py`` (copied by open_clip as ``SimpleTokenizer``) cleans the text
first: ``ftfy.fix_text``, HTML entities unescaped twice, whitespace collapsed, lowercased. It then
splits words with one regex (the start/end-of-text tokens, the contractions 's 't 're 've 'm 'll 'd,
letter runs, single digits, runs of other non-space characters; case-insensitive), maps each word's
UTF-8 bytes to printable characters (GPT-2's byte-to-unicode table), runs BPE within the word with
``</w>`` closing its last symbol, and puts ``start``/``end`` of text around the ids.

The cleaning runs here in Python (ftfy is Python); the split and the BPE run in the ``tokenizers``
library. transformers' ``CLIPTokenizer`` uses the same vocabulary but skips ftfy and HTML unescaping
(only NFC, whitespace and lowercase), so it differs on text those fix (mojibake, ``&amp;``, ...);
this tokenizer follows OpenAI/open_clip, what the weights were trained on.

A special token is one only where the split finds it as a word and it is spelled exactly (as in
``SimpleTokenizer``): ``"a<|endoftext|>"`` holds one, ``"a.<|endoftext|>"`` does not (``.<`` is one
run of punctuation).
"""
from __future__ import annotations

import gzip
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .base import Tokenizer, TokenizerError, as_id_list

if TYPE_CHECKING:
    import tokenizers

CONTEXT_LENGTH = 77  # every OpenAI and open_clip CLIP text tower
OPENAI_TOKENS = ("<|startoftext|>", "<|endoftext|>")  # OpenAI's and Hugging Face's vocab.json
OPEN_CLIP_TOKENS = ("<start_of_text>", "<end_of_text>")  # open_clip renamed them; same ids
OPEN_CLIP_MERGES = 49152 - 256 - 2  # SimpleTokenizer reads this many merges after the header line
WORD = r"'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+"


def clean(text: str) -> str:
    """CLIP's text cleaning: ftfy, HTML entities unescaped twice, whitespace collapsed, lowercased."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from bytes to printable characters, in the order CLIP's vocabulary lists them."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}


class ClipTokenizer(Tokenizer):
    """CLIP's tokenizer: ``start text end``, padded and truncated to 77 ids by default.

    ``tok(texts)`` gives ``input_ids`` ``[B, 77]`` as open_clip's ``tokenize`` does: a longer text
    keeps its first 75 tokens and ends with the end-of-text token (pass ``truncation=False`` to get
    an error instead). ``pad_token_id`` fills the rest: 0 for open_clip's vocabulary file (as
    ``open_clip.tokenize``), the directory's pad token for Hugging Face files (usually end-of-text,
    49407). CLIP's text tower is causal and reads the first end-of-text position, so the padding id
    does not change its output; ``attention_mask`` marks the padding either way.
    """

    def __init__(self, vocab: Mapping[str, int], merges: list[tuple[str, str]], *,
                 special_tokens: tuple[str, str] = OPENAI_TOKENS, pad_token_id: int | None = None,
                 context_length: int = CONTEXT_LENGTH, padding_side: str = "right") -> None:
        super().__init__(padding_side, model_max_length=context_length, padding="max_length", truncation=True)
        missing = [t for t in special_tokens if t not in vocab]
        symbols = [c + end for c in bytes_to_unicode().values() for end in ("", "</w>")]
        if missing or any(s not in vocab for s in symbols):
            lacks = ", ".join(map(repr, missing)) if missing else "some of its 512 byte symbols"
            raise TokenizerError(f"not a CLIP vocabulary: it lacks {lacks}")
        self.special_tokens = special_tokens
        self.bos_token_id, self.eos_token_id = (vocab[t] for t in special_tokens)
        self.pad_token_id = self.eos_token_id if pad_token_id is None else pad_token_id
        if not 0 <= self.pad_token_id < len(vocab):
            raise TokenizerError(f"pad_token_id {self.pad_token_id} is outside the vocabulary (0 to {len(vocab) - 1})")
        self.backend, self._words = _build_backend(vocab, merges, special_tokens)  # _words: the word split alone

    @classmethod
    def from_bpe_file(cls, path: str | Path, *, context_length: int = CONTEXT_LENGTH) -> "ClipTokenizer":
        """open_clip's (and OpenAI's) ``bpe_simple_vocab_16e6.txt.gz``, built as ``SimpleTokenizer`` builds it.

        Ids: the 256 byte symbols, the same with ``</w>``, one per merge, then ``<start_of_text>``
        (49406) and ``<end_of_text>`` (49407); padding is 0, as ``open_clip.tokenize`` pads.
        """
        path = Path(path)
        try:
            lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
            raise TokenizerError(f"could not read the CLIP BPE file {path}: {exc}") from None
        while lines and not lines[-1].strip():
            lines.pop()
        merges = [tuple(line.split()) for line in lines[1:OPEN_CLIP_MERGES + 1]]
        bad = next((i for i, m in enumerate(merges) if len(m) != 2), None)
        if len(merges) < OPEN_CLIP_MERGES or bad is not None:
            where = f"it has {len(merges)}" if len(merges) < OPEN_CLIP_MERGES else f"line {bad + 2} is not a pair"
            raise TokenizerError(f"{path} is not CLIP's BPE file: it needs {OPEN_CLIP_MERGES} merges after the "
                                 f"header line; {where}")
        symbols = list(bytes_to_unicode().values())
        tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + list(OPEN_CLIP_TOKENS)
        vocab = {token: i for i, token in enumerate(tokens)}
        return cls(vocab, merges, special_tokens=OPEN_CLIP_TOKENS, pad_token_id=0, context_length=context_length)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def __repr__(self) -> str:
        return (f"ClipTokenizer(vocab_size={self.vocab_size}, model_max_length={self.model_max_length}, "
                f"pad_token_id={self.pad_token_id})")

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None if it is not in the vocabulary."""
        return self.backend.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        """The token string of ``id``, or None if it is out of range."""
        return self.backend.id_to_token(id)

    def _encode_batch(self, texts: list[str], add_special_tokens: bool, max_length: int | None) -> list[list[int]]:
        room = None if max_length is None else max_length - (2 if add_special_tokens else 0)
        if room is not None and room < 0:
            raise TokenizerError(f"max_length={max_length} leaves no room for the 2 special tokens added to every text")
        cleaned = [clean(text) for text in texts]
        ids = [e.ids for e in self.backend.encode_batch(cleaned, add_special_tokens=False)]
        for i, text in enumerate(cleaned):
            if any(token in text for token in self.special_tokens):
                ids[i] = self._encode_with_special_tokens(text)
        if add_special_tokens:
            return [[self.bos_token_id, *seq[:room], self.eos_token_id] for seq in ids]
        return [seq[:room] for seq in ids]

    def _encode_with_special_tokens(self, text: str) -> list[int]:
        """Ids of a text where the word split finds special tokens: those map to their ids, the rest is BPE."""
        ids: list[int] = []
        start = 0
        for word, (begin, end) in self._words.pre_tokenize_str(text):
            if word in self.special_tokens:
                ids += self.backend.encode(text[start:begin], add_special_tokens=False).ids
                ids.append(self.bos_token_id if word == self.special_tokens[0] else self.eos_token_id)
                start = end
        return ids + self.backend.encode(text[start:], add_special_tokens=False).ids

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text for one sequence of ids (lowercased and cleaned, as encoded); ``</w>`` ends a word.

        ``skip_special_tokens`` drops start/end of text and the padding after the text.
        """
        ids = as_id_list(ids)
        bad = next((i for i in ids if not 0 <= i < self.vocab_size), None)
        if bad is not None:
            raise TokenizerError(f"id {bad} is outside the vocabulary (0 to {self.vocab_size - 1})")
        if skip_special_tokens:
            while ids and ids[-1] == self.pad_token_id:
                ids.pop()
            ids = [i for i in ids if i not in (self.bos_token_id, self.eos_token_id)]
        return self.backend.decode(ids, skip_special_tokens=False).replace("</w>", " ").strip()


def _build_backend(vocab: Mapping[str, int], merges: list[tuple[str, str]], special_tokens: tuple[str, str]
                   ) -> tuple["tokenizers.Tokenizer", "tokenizers.pre_tokenizers.PreTokenizer"]:
    """CLIP's BPE in ``tokenizers``, and its word split (special tokens, contractions, letters, digits, other)."""
    from tokenizers import Regex, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as Backend

    try:
        model = models.BPE(dict(vocab), merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="</w>",
                           fuse_unk=False)
    except Exception as exc:  # the Rust side raises plain Exceptions (a merge of unknown symbols, ...)
        raise TokenizerError(f"could not build CLIP's BPE from this vocabulary and merges: {exc}") from None
    specials = "|".join(re.escape(token) for token in special_tokens)
    words = pre_tokenizers.Split(Regex(f"(?i:{specials}|{WORD})"), behavior="removed", invert=True)
    backend = Backend(model)
    backend.pre_tokenizer = pre_tokenizers.Sequence([words, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                      use_regex=False)])
    backend.decoder = decoders.ByteLevel()
    return backend, words
