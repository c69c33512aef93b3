"""`load_tokenizer`: a tokenizer from the tokenizer files of a downloaded model directory.

Files are read with Hugging Face's ``tokenizers`` library (the Rust one, not ``transformers``): it
reads every ``tokenizer.json`` format (BPE, WordPiece, Unigram, with their normalizers,
pre-tokenizers and post-processors) exactly as transformers does, since transformers' fast
tokenizers are this library; it needs no torch, is a small wheel, and transformers depends on it
anyway. Older layouts are rebuilt the way transformers builds them:

- ``vocab.json`` + ``merges.txt``: GPT-2 byte-level BPE (``add_prefix_space`` from the config);
  no special tokens are added around the text.
- ``vocab.txt``: BERT WordPiece, lowercased unless ``tokenizer_config.json`` sets
  ``do_lower_case`` false; ``[CLS] text [SEP]``.
- CLIP (``tokenizer_class`` CLIPTokenizer, or a CLIP vocabulary): `ClipTokenizer`, which cleans
  text with ftfy as OpenAI's CLIP and open_clip do (transformers' CLIPTokenizer does not); also
  open_clip's ``bpe_simple_vocab_16e6.txt.gz`` itself.
- A SentencePiece ``.model`` (``spiece.model``) with no ``tokenizer.json``, read without the
  sentencepiece library (`zoo.data.text.sentencepiece`, unigram models): `SiglipTokenizer` when
  the config says SiglipTokenizer; with no ``tokenizer_class``, plain SentencePiece segmentation
  with no tokens added. Other classes (T5's, ALBERT's, ...) add their own rules and need their
  ``tokenizer.json``.

- Whisper (``tokenizer_class`` WhisperTokenizer or WhisperTokenizerFast, or added tokens holding
  ``<|startoftranscript|>``): `WhisperTokenizer`, from ``tokenizer.json`` or ``vocab.json`` +
  ``merges.txt`` + ``added_tokens.json``, with Whisper's special-token layout (languages, tasks,
  timestamps) checked and its labels prefix from the config's ``language`` / ``task``.

SigLIP 2 directories (a Gemma ``tokenizer.json``) read as any ``tokenizer.json``, lowercased as
transformers' ``Siglip2Tokenizer`` does. CLIP and SigLIP tokenizers pad and truncate to the model's
length by default (77, 64). A hub reference (``hf-hub:OWNER/NAME``, as for ``weights=``) fetches
only the tokenizer files (and the small config.json) into huggingface_hub's cache.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import image_text, whisper
from .base import Tokenizer, TokenizerError
from .special import CONFIG_FILES, config_option, read_config, read_json, resolve_special_tokens
from .wrapped import TextTokenizer

LOOKED_FOR = ("tokenizer.json, vocab.json + merges.txt (GPT-2 or CLIP BPE), vocab.txt (BERT WordPiece), "
              "or a SentencePiece .model (spiece.model)")
SENTENCEPIECE = ("spiece.model", "tokenizer.model", "sentencepiece.bpe.model")
HUB_FILES = ["tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "spiece.model", "added_tokens.json",
             *CONFIG_FILES, "config.json"]
CLIP_CLASSES = ("CLIPTokenizer", "CLIPTokenizerFast")


def _hub_directory(reference: str) -> Path:
    """The snapshot holding a hub repository's tokenizer files."""
    from ...weights.errors import WeightsError
    from ...weights.hub import hub_snapshot

    try:
        return hub_snapshot(reference, HUB_FILES)
    except WeightsError as exc:
        raise TokenizerError(str(exc)) from None


def load_tokenizer(path: str | Path, *, padding_side: str | None = None) -> Tokenizer:
    """The tokenizer in a model directory, in one tokenizer file (sibling config files are read too),
    or in a hub repository (``hf-hub:OWNER/NAME[@REVISION]``, e.g. a card's ``weights``).

    In a directory, ``tokenizer_config.json``'s ``tokenizer_class`` picks CLIP's, SigLIP's and
    Whisper's tokenizers (Whisper's also by its ``<|startoftranscript|>`` token); otherwise
    ``tokenizer.json`` is preferred over ``vocab.json`` + ``merges.txt``, then ``vocab.txt``, then a
    SentencePiece ``.model``. Special tokens come from ``tokenizer_config.json``
    / ``special_tokens_map.json`` when present (see `TextTokenizer` for the fallbacks);
    ``padding_side`` defaults to the config's, else "right".
    """
    from ...weights.hub import is_hub_reference

    path = _hub_directory(path) if is_hub_reference(path) else Path(path)
    if not path.exists():
        raise TokenizerError(f"no tokenizer at {path}: expected a local directory (or file) holding {LOOKED_FOR}, "
                             "or a hub reference hf-hub:OWNER/NAME")
    directory = path if path.is_dir() else path.parent
    declared, config = read_config(directory)
    side = padding_side or _option(config, "padding_side", str, "right", directory)
    if side not in ("left", "right"):
        raise TokenizerError(f"padding_side must be 'left' or 'right'; got {side!r}")
    if whisper.is_whisper_directory(directory, config):
        return whisper.load_whisper(path, config, side)
    kind, files = _find_files(path, config)
    if kind == "clip-bpe-file":
        from .clip import ClipTokenizer

        tok = ClipTokenizer.from_bpe_file(files[0])
        tok.padding_side = side
        return tok
    if kind == "sentencepiece":
        return image_text.load_sentencepiece(files[0], declared, config, directory, side)
    if kind == "clip" or (kind == "bpe" and image_text.is_clip_vocab(read_json(files[0]))):
        return image_text.load_clip(files, declared, config, directory, side)
    if kind == "tokenizer.json":
        backend = _read_tokenizer_json(files[0])
        if image_text.is_clip_backend(backend):
            return image_text.load_clip(files, declared, config, directory, side)
        if whisper.is_whisper_backend(backend):
            return whisper.load_whisper(files[0], config, side, backend)
    elif kind == "bpe":
        backend = _build_bpe(*files, add_prefix_space=_option(config, "add_prefix_space", bool, False, directory))
    else:
        backend = _build_wordpiece(files[0], declared, config, directory)
    special = resolve_special_tokens(declared, backend.token_to_id)
    # As in transformers: declared special tokens (and the defaults of the rebuilt layouts) are
    # matched whole in text and skipped on decode; tokenizer.json files already list their own.
    register = declared.values() if kind == "tokenizer.json" else special.values()
    backend.add_special_tokens(sorted({t for t in register if t is not None}))
    if kind == "tokenizer.json" and image_text.is_siglip2(config, directory):
        return image_text.siglip2(backend, special, config, directory, side)
    return TextTokenizer(backend, special, padding_side=side)


def _find_files(path: Path, config: dict[str, Any]) -> tuple[str, tuple[Path, ...]]:
    """(kind, the files to read), kind one of "tokenizer.json", "bpe", "wordpiece", "clip", "clip-bpe-file",
    "sentencepiece"; or an error saying what is missing."""
    if path.is_file():
        name = path.name
        if name in ("vocab.json", "merges.txt"):
            return "bpe", _bpe_pair(path.parent)
        if name == "vocab.txt":
            return "wordpiece", (path,)
        if path.suffix == ".model":
            return "sentencepiece", (path,)
        if name.endswith(".txt.gz"):
            return "clip-bpe-file", (path,)
        if path.suffix == ".json":
            return "tokenizer.json", (path,)
        raise TokenizerError(f"{path}: not a tokenizer file; expected {LOOKED_FOR}, or CLIP's "
                             "bpe_simple_vocab_16e6.txt.gz")
    declared_class = config.get("tokenizer_class")
    sentencepiece = next((path / n for n in SENTENCEPIECE if (path / n).is_file()), None)
    if declared_class in CLIP_CLASSES:
        if (path / "tokenizer.json").is_file() and not any((path / n).is_file() for n in ("vocab.json", "merges.txt")):
            return "clip", (path / "tokenizer.json",)
        return "clip", _bpe_pair(path, "a CLIP")
    if declared_class == "SiglipTokenizer" and sentencepiece is not None:
        return "sentencepiece", (sentencepiece,)
    if (path / "tokenizer.json").is_file():
        return "tokenizer.json", (path / "tokenizer.json",)
    if (path / "vocab.json").is_file() or (path / "merges.txt").is_file():
        return "bpe", _bpe_pair(path)
    if (path / "vocab.txt").is_file():
        return "wordpiece", (path / "vocab.txt",)
    if sentencepiece is not None:
        return "sentencepiece", (sentencepiece,)
    present = sorted(p.name for p in path.iterdir())
    listing = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "") if present else "nothing"
    raise TokenizerError(f"no tokenizer files in {path}: looked for {LOOKED_FOR}; found {listing}")


def _bpe_pair(directory: Path, what: str = "a GPT-2 BPE") -> tuple[Path, Path]:
    vocab, merges = directory / "vocab.json", directory / "merges.txt"
    missing = [p.name for p in (vocab, merges) if not p.is_file()]
    if missing:
        verb = "are" if len(missing) > 1 else "is"
        raise TokenizerError(f"{directory}: {what} tokenizer needs vocab.json and merges.txt; "
                             f"{' and '.join(missing)} {verb} missing")
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


_option = config_option
