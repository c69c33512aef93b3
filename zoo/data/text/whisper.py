"""Whisper's tokenizer: byte-level BPE text tokens, then Whisper's special tokens (`WhisperTokens`).

Three sources give the same tokenizer, built on the ``tokenizers`` library:

- a Hugging Face Whisper directory (``tokenizer.json``, or ``vocab.json`` + ``merges.txt`` with the
  special tokens in ``added_tokens.json`` or ``tokenizer_config.json``), through `load_tokenizer`;
- OpenAI's own vocabulary files (``multilingual.tiktoken``, ``gpt2.tiktoken``: base64 token and rank
  per line), `WhisperTokenizer.from_tiktoken`, with the merges derived from the ranks as
  transformers' ``TikTokenConverter`` derives them (no tiktoken needed);
- `WhisperTokenizer.byte_level`: the 256 bytes as text tokens (no merges, no download), for training a
  small Whisper-shaped model offline.

Text encodes as OpenAI's ``tokenizer.encode(text, allowed_special="all")`` and transformers'
``WhisperTokenizer`` do: special tokens written in the text (``<|en|>``, ``<|0.00|>``) are their ids,
the rest is split with GPT-2's pattern and BPE-encoded. Decoding drops timestamp tokens, as both do.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .base import Tokenizer, TokenizerError, as_id_list
from .special import CONFIG_FILES, config_option, read_json
from .whisper_tokens import LANGUAGES, TASKS, WhisperTokens, language_code

if TYPE_CHECKING:
    import tokenizers

CLASSES = ("WhisperTokenizer", "WhisperTokenizerFast")
END_OF_TEXT, START_OF_TRANSCRIPT, START_OF_PREV = "<|endoftext|>", "<|startoftranscript|>", "<|startofprev|>"
NO_SPEECH_ALIASES = ("<|nospeech|>", "<|nocaptions|>")  # Hugging Face files before large-v3 say <|nocaptions|>
HF_MULTILINGUAL_SIZE = 51865  # Hugging Face's rule: a vocabulary this large or larger is multilingual
SAVED_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json",
               "tokenizer_config.json")
LOOKED_FOR = "tokenizer.json, or vocab.json + merges.txt with the special tokens in added_tokens.json"


class WhisperTokenizer(Tokenizer):
    """Whisper's text ids and the labels sequence ``prefix + text + <|endoftext|>``.

    ``encode(text)`` gives the text's ids alone (as OpenAI's ``tokenizer.encode``); ``tok(texts)``
    gives the labels batch, each row ``prefix_tokens + text ids + [eot]`` as transformers'
    ``tokenizer(text)`` does, padded with ``<|endoftext|>`` (``attention_mask`` 0 there). The prefix is
    set by ``language``/``task``/``timestamps`` here or in `set_prefix`. ``bos_token_id`` is
    ``<|startoftranscript|>`` (every decoder sequence starts with it), ``eos_token_id`` and
    ``pad_token_id`` are ``<|endoftext|>``. ``decode`` keeps special tokens unless told otherwise, as
    OpenAI's and transformers' do. ``layout`` holds every special id. Two tokenizers are equal when
    their vocabulary, merges, splitting, layout and prefix settings are.
    """

    def __init__(self, backend: "tokenizers.Tokenizer", layout: WhisperTokens, *, language: str | None = None,
                 task: str | None = None, timestamps: bool = False, padding_side: str = "right") -> None:
        super().__init__(padding_side)
        backend.no_padding()
        backend.no_truncation()
        backend.post_processor = None  # the prefix and <|endoftext|> are added here, not by the backend
        _check_backend(backend, layout)
        self.backend, self._layout = backend, layout
        self.bos_token_id, self.eos_token_id, self.pad_token_id = layout.sot, layout.eot, layout.eot
        self.set_prefix(language, task, timestamps=timestamps)

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_tiktoken(cls, path: str | os.PathLike, *, num_languages: int = 99, multilingual: bool = True,
                      **options: Any) -> "WhisperTokenizer":
        """OpenAI's vocabulary file (``multilingual.tiktoken``; ``gpt2.tiktoken`` with ``multilingual=False``).

        The ranks become a byte-level BPE: every split of a token into two tokens is a merge, ranked by
        the token (transformers' ``TikTokenConverter``), and a piece that is a token is taken whole, as
        tiktoken does. The special tokens follow the text tokens in OpenAI's order. ``options``:
        ``language``, ``task``, ``timestamps``, ``padding_side``.
        """
        ranks = read_tiktoken(Path(path))
        layout = _layout(len(ranks), num_languages, multilingual)
        vocab, merges = _vocab_and_merges(ranks)
        backend = _byte_level_backend(vocab, merges, ignore_merges=True)
        _add_special_tokens(backend, layout.special_tokens())
        return cls(backend, layout, **options)

    @classmethod
    def byte_level(cls, *, num_languages: int = 1, multilingual: bool = False, **options: Any) -> "WhisperTokenizer":
        """No download: ids 0-255 are the UTF-8 bytes of the text, then Whisper's special tokens (256 is
        ``<|endoftext|>``; ``vocab_size`` is 256 + ``layout.num_special``). For training small models."""
        layout = _layout(256, num_languages, multilingual)
        symbols = bytes_to_unicode()
        backend = _byte_level_backend({symbols[b]: b for b in range(256)}, [], ignore_merges=False)
        _add_special_tokens(backend, layout.special_tokens())
        return cls(backend, layout, **options)

    # --- the vocabulary -----------------------------------------------------------------------------

    @property
    def layout(self) -> WhisperTokens:
        """Where every special token sits: `WhisperTokens` (vocabulary size, languages, multilingual)."""
        return self._layout

    @property
    def vocab_size(self) -> int:
        return self._layout.vocab_size

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None if it is not in the vocabulary."""
        return self.backend.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        """The token string of ``id`` (byte-level symbols for text tokens), or None if it is out of range."""
        return self.backend.id_to_token(id)

    def __repr__(self) -> str:
        layout = self._layout
        return (f"WhisperTokenizer(vocab_size={layout.vocab_size}, num_languages={layout.num_languages}, "
                f"multilingual={layout.multilingual}, prefix_tokens={self.prefix_tokens})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WhisperTokenizer):
            return NotImplemented
        return self._identity() == other._identity()

    __hash__ = None  # type: ignore[assignment]  # mutable (set_prefix), so not hashable

    def _identity(self) -> tuple[Any, ...]:
        data = json.loads(self.backend.to_str())
        added = sorted((t["id"], t["content"]) for t in data["added_tokens"])
        parts = tuple(json.dumps(data[k], sort_keys=True) for k in ("model", "normalizer", "pre_tokenizer", "decoder"))
        return (self._layout, parts, added, self.language, self.task, self.timestamps)

    # --- the prefix ---------------------------------------------------------------------------------

    def set_prefix(self, language: str | None = None, task: str | None = None, *, timestamps: bool = False) -> None:
        """Set the tokens put before the text in labels (all three settings are replaced).

        Multilingual: ``<|startoftranscript|> [language] [task] [<|notimestamps|>]``, each part present
        when given (``language``: a code such as "de" or a name such as "german"; ``task``: "transcribe"
        or "translate"; ``timestamps=True`` leaves out ``<|notimestamps|>``), as transformers'
        ``set_prefix_tokens``. With both set this is ``layout.prompt(language, task)``, the prompt the
        model decodes from. English-only: ``<|startoftranscript|> <|notimestamps|>``, the ``.en`` models'
        prompt (transformers would add the language and task tokens); ``language`` must be English or
        None and ``task`` "transcribe" or None.
        """
        if not isinstance(timestamps, bool):
            raise TokenizerError(f"timestamps must be True or False; got {timestamps!r}")
        if task is not None and task not in TASKS:
            raise TokenizerError(f"task must be one of {', '.join(TASKS)} or None; got {task!r}")
        layout = self._layout
        try:
            code = None if language is None else language_code(language, layout.languages)
            if not layout.multilingual or task is not None:
                prefix = layout.prompt(language, task or "transcribe")
            else:  # no task: transformers leaves the task token out
                prefix = [layout.sot, *([layout.language_id(language)] if language else []), layout.no_timestamps]
        except (ValueError, TypeError) as exc:
            raise TokenizerError(str(exc)) from None
        self.language, self.task, self.timestamps = code, task, timestamps
        self._prefix = prefix[:-1] if timestamps else prefix

    @property
    def prefix_tokens(self) -> list[int]:
        """The ids labels start with (see `set_prefix`)."""
        return list(self._prefix)

    # --- encode and decode --------------------------------------------------------------------------

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """The text's ids (special tokens written in it included); ``add_special_tokens=True`` gives the
        labels sequence ``prefix_tokens + ids + [<|endoftext|>]``."""
        return super().encode(text, add_special_tokens)

    def _encode_batch(self, texts: list[str], add_special_tokens: bool, max_length: int | None) -> list[list[int]]:
        ids = [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]
        if not add_special_tokens:
            return [seq[:max_length] for seq in ids]
        room = None if max_length is None else max_length - len(self._prefix) - 1
        if room is not None and room < 0:
            raise TokenizerError(f"max_length={max_length} leaves no room for the {len(self._prefix) + 1} "
                                 "special tokens added to every text (the prefix and <|endoftext|>)")
        return [self._prefix + seq[:room] + [self._layout.eot] for seq in ids]

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        """Text for one sequence of ids; timestamp tokens are always left out (as OpenAI's and transformers').

        ``skip_special_tokens=True`` keeps text tokens only, after dropping a previous-text prompt
        (ids from ``<|startofprev|>`` up to ``<|startoftranscript|>``) as transformers does.
        """
        ids = as_id_list(ids)
        layout = self._layout
        bad = next((i for i in ids if not 0 <= i < layout.vocab_size), None)
        if bad is not None:
            raise TokenizerError(f"id {bad} is outside the vocabulary (0 to {layout.vocab_size - 1})")
        if skip_special_tokens:
            if ids and ids[0] == layout.start_of_prev:
                ids = ids[ids.index(layout.sot):] if layout.sot in ids else []
            ids = [i for i in ids if i < layout.eot]
        else:
            ids = [i for i in ids if i < layout.timestamp_begin]
        return self.backend.decode(ids, skip_special_tokens=False)

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False) -> list[str]:
        """Text for each sequence of ids (a list of lists or a 2-D tensor); see `decode`."""
        return super().batch_decode(sequences, skip_special_tokens=skip_special_tokens)

    # --- decoding rules -----------------------------------------------------------------------------

    @cached_property
    def non_speech_tokens(self) -> list[int]:
        """OpenAI's ``non_speech_tokens``: the first token of speaker tags, music and other symbols never
        spoken (``♪``, ``[``, ``(``, ``<<``, ...), and " -" / " '" at a word's start; from this vocabulary.

        OpenAI's two "first token" rules assume that token spans at least two bytes (" -" is one token;
        ``♩``..``♯`` share their first two bytes), as in all its vocabularies, where this list equals
        theirs. A first token of one byte is left out: in `byte_level` it would be the space, or the
        lead byte 0xE2 of every character from U+2000 to U+2FFF.
        """
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
        miscellaneous = "♩♪♫♬♭♮♯"  # one token or several; the first is safe to suppress either way
        result = {ids[0] for ids in (self.encode(" -"), self.encode(" '")) if self._spans_bytes(ids[0])}
        for symbol in symbols + list(miscellaneous):
            for tokens in (self.encode(symbol), self.encode(" " + symbol)):
                if len(tokens) == 1 or (symbol in miscellaneous and self._spans_bytes(tokens[0])):
                    result.add(tokens[0])
        return sorted(result)

    def _spans_bytes(self, id: int) -> bool:
        """A text token of two bytes or more (byte-level tokens spell one character per byte)."""
        return len(self.backend.id_to_token(id) or "") >= 2

    @cached_property
    def suppress_tokens(self) -> list[int]:
        """What OpenAI's decoding suppresses at every step by default (``suppress_tokens="-1"``): the
        non-speech tokens and ``layout.always_suppressed()``; sorted, each once."""
        return sorted({*self.non_speech_tokens, *self._layout.always_suppressed()})

    @cached_property
    def begin_suppress_tokens(self) -> list[int]:
        """What OpenAI suppresses at the first sampled step (``suppress_blank``): " " and <|endoftext|>."""
        return [*self.encode(" "), self._layout.eot]

    # --- saving -------------------------------------------------------------------------------------

    saved_files = SAVED_FILES  # what `save` writes (a training run claims them as its own)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write Hugging Face Whisper tokenizer files to ``directory`` (created if needed); returns it.

        Writes (replacing any earlier copies) ``tokenizer.json``, ``vocab.json``, ``merges.txt``,
        ``added_tokens.json``, ``special_tokens_map.json`` and ``tokenizer_config.json``, each to a temporary
        file renamed into place; other files are left alone. `load_tokenizer` and transformers'
        ``WhisperTokenizer.from_pretrained`` read them back. ``tokenizer_config.json`` records the prefix
        settings (``language``, ``task``, ``predict_timestamps``) and ``multilingual``, since a small
        vocabulary would otherwise read as English-only (transformers' rule: multilingual from 51865).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        serialized = self.backend.to_str()
        model = json.loads(serialized)["model"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        layout = self._layout
        special = {self.backend.id_to_token(i): i for i in range(layout.eot, layout.vocab_size)}
        named = [self.backend.id_to_token(i) for i in range(layout.sot, layout.timestamp_begin)]
        texts = {
            "tokenizer.json": serialized,
            "vocab.json": json.dumps(model["vocab"], ensure_ascii=False),
            "merges.txt": "#version: 0.2\n" + "".join(m + "\n" for m in merges),
            "added_tokens.json": json.dumps(special, ensure_ascii=False),
            "special_tokens_map.json": json.dumps(_special_tokens_map(named), indent=2),
            "tokenizer_config.json": json.dumps(self._config(named), indent=2),
        }
        for name in SAVED_FILES:
            _write_text(directory / name, texts[name] + ("" if texts[name].endswith("\n") else "\n"))
        return directory

    def _config(self, named: list[str]) -> dict[str, Any]:
        return {"tokenizer_class": "WhisperTokenizer", **_special_tokens_map(named), "add_prefix_space": False,
                "clean_up_tokenization_spaces": False, "errors": "replace", "padding_side": self.padding_side,
                "language": self.language, "task": self.task, "predict_timestamps": self.timestamps,
                "multilingual": self._layout.multilingual}


# --- reading files ----------------------------------------------------------------------------------


def is_whisper_directory(directory: Path, config: Mapping[str, Any]) -> bool:
    """A directory whose config names a Whisper tokenizer class, or whose added tokens (``added_tokens.json``,
    ``tokenizer_config.json``'s ``added_tokens_decoder``) hold ``<|startoftranscript|>``."""
    if config.get("tokenizer_class") in CLASSES:
        return True
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict) and any(_content(t) == START_OF_TRANSCRIPT for t in decoder.values()):
        return True
    added = directory / "added_tokens.json"
    return added.is_file() and START_OF_TRANSCRIPT in read_json(added)


def is_whisper_backend(backend: "tokenizers.Tokenizer") -> bool:
    """A ``tokenizer.json`` holding Whisper's ``<|startoftranscript|>``."""
    return backend.token_to_id(START_OF_TRANSCRIPT) is not None


def load_whisper(path: Path, config: Mapping[str, Any], side: str,
                 backend: "tokenizers.Tokenizer | None" = None) -> WhisperTokenizer:
    """`WhisperTokenizer` from a Hugging Face directory (or one of its files): ``tokenizer.json`` if there
    (or ``backend``, already read from it), else ``vocab.json`` + ``merges.txt`` with the special tokens
    from ``added_tokens.json`` / the config's ``added_tokens_decoder``.

    The layout comes from the files: ``<|endoftext|>``'s id, the number of language tokens, and
    ``multilingual`` from the config (written by `WhisperTokenizer.save`), else transformers' rule
    (vocabulary size >= 51865). Timestamp tokens that older files lack are added at their ids.
    """
    directory = path if path.is_dir() else path.parent
    if backend is None:
        other_files = ("vocab.json", "merges.txt", "added_tokens.json", *CONFIG_FILES)
        json_file = path if path.is_file() and path.name not in other_files else directory / "tokenizer.json"
        backend = _read_tokenizer_json(json_file) if json_file.is_file() else _read_bpe_files(directory, config)
    eot = backend.token_to_id(END_OF_TEXT)
    if eot is None:
        raise TokenizerError(f"{directory}: not a Whisper tokenizer: {END_OF_TEXT} is in none of its files")
    num_languages = _count_languages(backend, eot)
    size = _layout(eot, num_languages, True).vocab_size
    multilingual = config_option(dict(config), "multilingual", bool, size >= HF_MULTILINGUAL_SIZE, directory)
    layout = _layout(eot, num_languages, multilingual)
    tokens = layout.special_tokens()
    if backend.id_to_token(layout.no_speech) in NO_SPEECH_ALIASES:  # keep the files' name for it
        tokens[layout.no_speech - layout.eot] = backend.id_to_token(layout.no_speech)
    _add_special_tokens(backend, tokens)
    try:
        return WhisperTokenizer(backend, layout, language=config.get("language"), task=config.get("task"),
                                timestamps=config_option(dict(config), "predict_timestamps", bool, False, directory),
                                padding_side=side)
    except TokenizerError as exc:
        raise TokenizerError(f"{directory}: {exc}") from None


def _read_tokenizer_json(path: Path) -> "tokenizers.Tokenizer":
    from tokenizers import Tokenizer as Backend

    try:
        return Backend.from_file(str(path))
    except Exception as exc:  # the Rust reader raises plain Exceptions for malformed files
        raise TokenizerError(f"{path} is not a readable tokenizer.json: {exc}") from None


def _read_bpe_files(directory: Path, config: Mapping[str, Any]) -> "tokenizers.Tokenizer":
    """Byte-level BPE from vocab.json + merges.txt, with the added tokens of added_tokens.json and the config."""
    from tokenizers.models import BPE

    vocab_file, merges_file = directory / "vocab.json", directory / "merges.txt"
    missing = [p.name for p in (vocab_file, merges_file) if not p.is_file()]
    if missing:
        raise TokenizerError(f"{directory}: a Whisper tokenizer needs {LOOKED_FOR}; {' and '.join(missing)} "
                             f"{'are' if len(missing) > 1 else 'is'} missing")
    read_json(vocab_file)  # a clear error for a file that is not a JSON object
    try:
        vocab, merges = BPE.read_file(str(vocab_file), str(merges_file))
    except Exception as exc:
        raise TokenizerError(f"could not read the BPE vocabulary {vocab_file} with {merges_file}: {exc}") from None
    added = _declared_added_tokens(directory, config)
    if START_OF_TRANSCRIPT not in added:
        raise TokenizerError(f"{directory}: no Whisper special tokens ({START_OF_TRANSCRIPT}, languages, ...) in "
                             "added_tokens.json or tokenizer_config.json's added_tokens_decoder")
    text = {t: i for t, i in vocab.items() if t not in added}
    backend = _byte_level_backend(text, merges, ignore_merges=False)
    _add_special_tokens(backend, sorted(added, key=added.__getitem__), expected=added)
    return backend


def _declared_added_tokens(directory: Path, config: Mapping[str, Any]) -> dict[str, int]:
    """Added token -> id from tokenizer_config.json's added_tokens_decoder and added_tokens.json (which wins)."""
    added: dict[str, int] = {}
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, token in decoder.items():
            content = _content(token)
            if content is not None and str(key).isdigit():
                added[content] = int(key)
    path = directory / "added_tokens.json"
    if path.is_file():
        for token, i in read_json(path).items():
            if isinstance(i, bool) or not isinstance(i, int):
                raise TokenizerError(f"{path}: the id of {token!r} must be an integer, got {i!r}")
            added[token] = i
    return added


def _content(token: Any) -> str | None:
    return token.get("content") if isinstance(token, dict) else token if isinstance(token, str) else None


def _count_languages(backend: "tokenizers.Tokenizer", eot: int) -> int:
    """How many of Whisper's languages have their token in order after <|startoftranscript|> (= eot + 1)."""
    count = 0
    for i, code in enumerate(LANGUAGES):
        if backend.token_to_id(f"<|{code}|>") != eot + 2 + i:
            break
        count += 1
    if count == 0:
        raise TokenizerError(f"not a Whisper vocabulary: no language tokens (<|en|>, ...) follow "
                             f"{START_OF_TRANSCRIPT} at id {eot + 1}")
    return count


def read_tiktoken(path: Path) -> dict[bytes, int]:
    """OpenAI's ``.tiktoken`` file: token bytes -> rank, ranks 0..n-1, every single byte a token."""
    ranks: dict[bytes, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"could not read the tiktoken file {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)  # as OpenAI reads it: "=" is the empty token
        except (ValueError, binascii.Error):
            raise TokenizerError(f"{path}, line {number}: expected a base64 token and its rank, got {line[:60]!r}")
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise TokenizerError(f"{path}: ranks must be 0 to {len(ranks) - 1}, each once, one token per line")
    lacking = [b for b in range(256) if bytes([b]) not in ranks]
    if lacking:
        raise TokenizerError(f"{path}: not a byte-level vocabulary: {len(lacking)} single bytes are not tokens "
                             f"(first: {lacking[0]:#04x})")
    return ranks


# --- building ---------------------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from bytes to printable characters (how byte-level BPE files spell bytes)."""
    from .clip import bytes_to_unicode as table

    return table()


def _vocab_and_merges(ranks: Mapping[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level vocabulary and merges from tiktoken ranks: each split of a token into two tokens is a
    merge, ordered by the token's rank, then the parts' ranks (transformers' ``TikTokenConverter``)."""
    table = bytes_to_unicode()
    translate = str.maketrans({chr(b): table[b] for b in range(256)})
    spell = {token: token.decode("latin-1").translate(translate) for token in ranks}
    merges: list[tuple[str, str]] = []
    rank = ranks.get
    for token in sorted(ranks, key=ranks.__getitem__):
        splits = []
        for i in range(1, len(token)):
            left = rank(token[:i])
            right = None if left is None else rank(token[i:])
            if right is not None:
                splits.append((left, right, i))
        splits.sort()
        merges += [(spell[token[:i]], spell[token[i:]]) for *_, i in splits]
    return {spell[token]: rank for token, rank in ranks.items()}, merges


def _byte_level_backend(vocab: dict[str, int], merges: list[tuple[str, str]], *,
                        ignore_merges: bool) -> "tokenizers.Tokenizer":
    """GPT-2's byte-level BPE (its split pattern, no prefix space), as Whisper's files hold it."""
    from tokenizers import Tokenizer as Backend
    from tokenizers import decoders, models, pre_tokenizers

    try:
        model = models.BPE(vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                           fuse_unk=False, ignore_merges=ignore_merges)
    except Exception as exc:  # the Rust side raises plain Exceptions (a merge of unknown symbols, ...)
        raise TokenizerError(f"could not build a byte-level BPE from this vocabulary and merges: {exc}") from None
    backend = Backend(model)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return backend


def _add_special_tokens(backend: "tokenizers.Tokenizer", tokens: list[str],
                        expected: Mapping[str, int] | None = None) -> None:
    """Add ``tokens`` in order (the ones not there yet), matched whole in text as transformers does;
    timestamps as ordinary added tokens, the rest as special ones. With ``expected``: check their ids."""
    from tokenizers import AddedToken

    added = {str(t.content) for t in backend.get_added_tokens_decoder().values()}
    # one call (each call rebuilds the matcher); a token the text vocabulary holds keeps its id
    backend.add_tokens([AddedToken(token, special=not token[2:3].isdigit(), normalized=False)
                        for token in tokens if token not in added])
    for token, i in (expected or {}).items():
        if backend.token_to_id(token) != i:
            raise TokenizerError(f"the added token {token!r} has id {i} in the files, but the text vocabulary "
                                 f"puts it at {backend.token_to_id(token)}")


def _check_backend(backend: "tokenizers.Tokenizer", layout: WhisperTokens) -> None:
    """Every special token at its layout id, text tokens exactly below ``<|endoftext|>``."""
    expected = layout.special_tokens()
    for offset, token in enumerate(expected):
        i = layout.eot + offset
        found = backend.id_to_token(i)
        if found != token and not (i == layout.no_speech and found in NO_SPEECH_ALIASES):
            raise TokenizerError(f"id {i} should be Whisper's {token} (layout of {layout.vocab_size} tokens, "
                                 f"{layout.num_languages} languages), but the vocabulary has {found!r} there")
    size = backend.get_vocab_size(with_added_tokens=True)
    ids = backend.get_vocab(with_added_tokens=False).values()
    text = sum(1 for i in ids if i < layout.eot)
    if size != layout.vocab_size or text != layout.eot or max(ids, default=0) >= layout.vocab_size:
        raise TokenizerError(f"the vocabulary has {size} tokens ({text} text tokens); Whisper's layout with "
                             f"{layout.num_languages} languages needs {layout.eot} text tokens (ids 0 to "
                             f"{layout.eot - 1}) and {layout.num_special} special tokens")


def _layout(text_tokens: int, num_languages: int, multilingual: bool) -> WhisperTokens:
    if isinstance(num_languages, bool) or not isinstance(num_languages, int):
        raise TokenizerError(f"num_languages must be an integer, got {num_languages!r}")
    if not isinstance(multilingual, bool):
        raise TokenizerError(f"multilingual must be True or False, got {multilingual!r}")
    try:
        num_special = WhisperTokens(10**6, num_languages).num_special  # it depends on num_languages alone
        return WhisperTokens(text_tokens + num_special, num_languages, multilingual)
    except ValueError as exc:
        raise TokenizerError(str(exc)) from None


def _special_tokens_map(named: list[str]) -> dict[str, Any]:
    return {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "unk_token": END_OF_TEXT, "pad_token": END_OF_TEXT,
            "additional_special_tokens": named}


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed into place."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
