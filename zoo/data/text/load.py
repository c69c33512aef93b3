"""`load_tokenizer`: a `TextTokenizer` from the tokenizer files of a downloaded model directory.

Files are read with Hugging Face's ``tokenizers`` library (the Rust one, not ``transformers``): it
reads every ``tokenizer.json`` format (BPE, WordPiece, Unigram, with their normalizers,
pre-tokenizers and post-processors) exactly as transformers does, since transformers' fast
tokenizers are this library; it needs no torch, is a small wheel, and transformers depends on it
anyway. Older layouts are rebuilt the way transformers builds them:

- ``vocab.json`` + ``merges.txt``: GPT-2 byte-level BPE (``add_prefix_space`` from the config);
  no special tokens are added around the text.
- ``vocab.txt``: BERT WordPiece, lowercased unless ``tokenizer_config.json`` sets
  ``do_lower_case`` false; ``[CLS] text [SEP]``.

SentencePiece ``.model`` files (T5's ``spiece.model``, Llama's ``tokenizer.model``) are not read;
those directories need their ``tokenizer.json``. A hub reference (``hf-hub:OWNER/NAME``, as for
``weights=``) fetches only the tokenizer files into huggingface_hub's cache; nothing else is
downloaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import TokenizerError
from .special import CONFIG_FILES, read_config, read_json, resolve_special_tokens
from .wrapped import TextTokenizer

LOOKED_FOR = "tokenizer.json, vocab.json + merges.txt (GPT-2 BPE), or vocab.txt (BERT WordPiece)"
SENTENCEPIECE = ("spiece.model", "tokenizer.model", "sentencepiece.bpe.model")
HUB_FILES = ["tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", *CONFIG_FILES]


def _hub_directory(reference: str) -> Path:
    """The snapshot holding a hub repository's tokenizer files."""
    from ...weights.errors import WeightsError
    from ...weights.hub import hub_snapshot

    try:
        return hub_snapshot(reference, HUB_FILES)
    except WeightsError as exc:
        raise TokenizerError(str(exc)) from None


def load_tokenizer(path: str | Path, *, padding_side: str | None = None) -> TextTokenizer:
    """The tokenizer in a model directory, in one tokenizer file (sibling config files are read too),
    or in a hub repository (``hf-hub:OWNER/NAME[@REVISION]``, e.g. a card's ``weights``).

    In a directory, ``tokenizer.json`` is preferred over ``vocab.json`` + ``merges.txt``, then
    ``vocab.txt``. Special tokens come from ``tokenizer_config.json`` / ``special_tokens_map.json``
    when present (see `TextTokenizer` for the fallbacks); ``padding_side`` defaults to the
    config's, else "right".
    """
    from ...weights.hub import is_hub_reference

    path = _hub_directory(path) if is_hub_reference(path) else Path(path)
    if not path.exists():
        raise TokenizerError(f"no tokenizer at {path}: expected a local directory (or file) holding {LOOKED_FOR}, "
                             "or a hub reference hf-hub:OWNER/NAME")
    kind, files = _find_files(path)
    directory = path if path.is_dir() else path.parent
    declared, config = read_config(directory)
    if kind == "tokenizer.json":
        backend = _read_tokenizer_json(files[0])
    elif kind == "bpe":
        backend = _build_bpe(*files, add_prefix_space=_option(config, "add_prefix_space", bool, False, directory))
    else:
        backend = _build_wordpiece(files[0], declared, config, directory)
    special = resolve_special_tokens(declared, backend.token_to_id)
    # As in transformers: declared special tokens (and the defaults of the rebuilt layouts) are
    # matched whole in text and skipped on decode; tokenizer.json files already list their own.
    register = declared.values() if kind == "tokenizer.json" else special.values()
    backend.add_special_tokens(sorted({t for t in register if t is not None}))
    side = padding_side or _option(config, "padding_side", str, "right", directory)
    if side not in ("left", "right"):
        raise TokenizerError(f"padding_side must be 'left' or 'right'; got {side!r}")
    return TextTokenizer(backend, special, padding_side=side)


def _find_files(path: Path) -> tuple[str, tuple[Path, ...]]:
    """("tokenizer.json" | "bpe" | "wordpiece", the files to read), or an error saying what is missing."""
    if path.is_file():
        name = path.name
        if name in ("vocab.json", "merges.txt"):
            return "bpe", _bpe_pair(path.parent)
        if name == "vocab.txt":
            return "wordpiece", (path,)
        if path.suffix == ".model":
            raise TokenizerError(f"{path} is a SentencePiece model, which is not read directly; "
                                 "T5 (and other SentencePiece) model directories need their tokenizer.json")
        if path.suffix == ".json":
            return "tokenizer.json", (path,)
        raise TokenizerError(f"{path}: not a tokenizer file; expected {LOOKED_FOR}")
    if (path / "tokenizer.json").is_file():
        return "tokenizer.json", (path / "tokenizer.json",)
    if (path / "vocab.json").is_file() or (path / "merges.txt").is_file():
        return "bpe", _bpe_pair(path)
    if (path / "vocab.txt").is_file():
        return "wordpiece", (path / "vocab.txt",)
    present = sorted(p.name for p in path.iterdir())
    hint = ""
    if any(name in present for name in SENTENCEPIECE):
        hint = ("; SentencePiece models (spiece.model, tokenizer.model) are not read directly: "
                "T5 (and other SentencePiece) model directories need their tokenizer.json")
    listing = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "") if present else "nothing"
    raise TokenizerError(f"no tokenizer files in {path}: looked for {LOOKED_FOR}; found {listing}{hint}")


def _bpe_pair(directory: Path) -> tuple[Path, Path]:
    vocab, merges = directory / "vocab.json", directory / "merges.txt"
    missing = [p.name for p in (vocab, merges) if not p.is_file()]
    if missing:
        raise TokenizerError(f"{directory}: a GPT-2 BPE tokenizer needs vocab.json and merges.txt; "
                             f"{' and '.join(missing)} is missing")
    return vocab, merges


def _read_tokenizer_json(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust reader raises plain Exceptions for malformed files
        raise TokenizerError(f"{path} is not a readable tokenizer.json: {exc}") from None


def _build_bpe(vocab: Path, merges: Path, *, add_prefix_space: bool) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    read_json(vocab)  # a clear error for a file that is not a JSON object
    try:
        model = models.BPE.from_file(str(vocab), str(merges), dropout=None, continuing_subword_prefix="",
                                     end_of_word_suffix="", fuse_unk=False)
    except Exception as exc:
        raise TokenizerError(f"could not read the BPE vocabulary {vocab} with {merges}: {exc}") from None
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    return backend


def _build_wordpiece(vocab: Path, declared: dict[str, str | None], config: dict[str, Any], directory: Path) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    try:
        table = models.WordPiece.read_file(str(vocab))
    except Exception as exc:
        raise TokenizerError(f"could not read the WordPiece vocabulary {vocab}: {exc}") from None
    tokens = {role: declared.get(role) or default
              for role, default in (("unk", "[UNK]"), ("cls", "[CLS]"), ("sep", "[SEP]"))}
    missing = [f"{role} token {token!r}" for role, token in tokens.items() if token not in table]
    if missing:
        raise TokenizerError(f"{vocab} lacks the {', '.join(missing)} that BERT tokenization needs")
    backend = Tokenizer(models.WordPiece(table, unk_token=tokens["unk"]))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=_option(config, "tokenize_chinese_chars", bool, True, directory),
        strip_accents=_option(config, "strip_accents", (bool, type(None)), None, directory),
        lowercase=_option(config, "do_lower_case", bool, True, directory))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    cls, sep = tokens["cls"], tokens["sep"]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, table[cls]), (sep, table[sep])])
    return backend


def _option(config: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, directory: Path) -> Any:
    """``config[key]`` checked against ``kind``, or ``default`` when absent."""
    value = config.get(key, default)
    if not isinstance(value, kind):
        raise TokenizerError(f"{directory / 'tokenizer_config.json'}: {key} has the wrong type ({value!r})")
    return value
