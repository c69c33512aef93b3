"""`load_tokenizer`'s readers for the image-text models' tokenizers: CLIP (``vocab.json`` +
``merges.txt``, or its ``tokenizer.json``), SigLIP and plain SentencePiece (a ``.model`` file) and
SigLIP 2 (a Gemma ``tokenizer.json``, lowercased).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .base import Tokenizer, TokenizerError
from .special import config_option, read_json, resolve_special_tokens
from .wrapped import TextTokenizer

LONGEST_DEFAULT = 4096  # a model_max_length above this is transformers' "no limit" placeholder
GEMMA_CLASSES = ("GemmaTokenizer", "GemmaTokenizerFast")


def is_clip_vocab(vocab: Mapping[str, Any]) -> bool:
    """A CLIP vocabulary: OpenAI's start/end-of-text tokens and ``</w>``-ended word symbols."""
    from .clip import OPENAI_TOKENS

    return all(token in vocab for token in OPENAI_TOKENS) and "a</w>" in vocab


def is_clip_backend(backend: Any) -> bool:
    """A ``tokenizer.json`` holding CLIP's BPE (end-of-word suffix ``</w>``, CLIP's special tokens)."""
    from .clip import OPENAI_TOKENS

    model = backend.model
    return (type(model).__name__ == "BPE" and model.end_of_word_suffix == "</w>"
            and all(backend.token_to_id(token) is not None for token in OPENAI_TOKENS))


def load_clip(files: tuple[Path, ...], declared: Mapping[str, str | None], config: dict[str, Any],
              directory: Path, side: str) -> Tokenizer:
    """`ClipTokenizer` from Hugging Face files; special tokens as transformers' CLIPTokenizer defaults them.

    The pad token is the directory's (``<|endoftext|>`` when unnamed, as transformers; some
    open_clip conversions name ``!``, id 0, as open_clip pads); a pad token of null pads with
    end-of-text.
    """
    from .clip import CONTEXT_LENGTH, OPENAI_TOKENS, ClipTokenizer

    vocab, merges = _tokenizer_json_bpe(files[0]) if files[0].suffix == ".json" and len(files) == 1 else (
        read_json(files[0]), _read_merges(files[1]))
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in vocab.values()):
        raise TokenizerError(f"{files[0]}: a vocabulary maps tokens to integer ids")
    bos, eos = declared.get("bos") or OPENAI_TOKENS[0], declared.get("eos") or OPENAI_TOKENS[1]
    usable = len(vocab) - 2 * 256 - 2  # as OpenAI's tokenizer, read only the merges the vocabulary holds
    tok = ClipTokenizer(vocab, merges[:usable] if usable > 0 else merges, special_tokens=(bos, eos),
                        context_length=max_length(config, CONTEXT_LENGTH, directory), padding_side=side)
    pad = declared.get("pad", OPENAI_TOKENS[1])
    if pad is not None:
        if pad not in vocab:
            raise TokenizerError(f"the pad token {pad!r} is not in the CLIP vocabulary {files[0]}")
        tok.pad_token_id = vocab[pad]
    return tok


def load_sentencepiece(path: Path, declared: Mapping[str, str | None], config: dict[str, Any],
                       directory: Path, side: str) -> Tokenizer:
    """SigLIP's tokenizer for ``tokenizer_class`` SiglipTokenizer; plain SentencePiece with no class."""
    from .sentencepiece import CONTROL, read_model, unigram_backend

    model = read_model(path)
    declared_class = config.get("tokenizer_class")
    if declared_class == "SiglipTokenizer":
        from .siglip import MAX_LENGTH, SiglipTokenizer

        return SiglipTokenizer(model, declared, padding_side=side,
                               do_lower_case=config_option(config, "do_lower_case", bool, True, directory),
                               model_max_length=max_length(config, MAX_LENGTH, directory))
    if declared_class is not None:
        raise TokenizerError(f"{path}: SentencePiece models are read for SigLIP (tokenizer_class SiglipTokenizer) "
                             f"and, with no tokenizer_class, as plain SentencePiece; {declared_class} adds its own "
                             f"rules (special tokens, extra ids), so {directory} needs its tokenizer.json")
    backend = unigram_backend(model)
    special = resolve_special_tokens({**model.special_pieces(), **declared}, backend.token_to_id)
    control = [p.piece for p in model.pieces if p.type == CONTROL]
    backend.add_special_tokens(sorted({*control, *(t for t in special.values() if t is not None)}))
    return TextTokenizer(backend, special, padding_side=side)


def is_siglip2(config: dict[str, Any], directory: Path) -> bool:
    """A SigLIP 2 directory: Siglip2Tokenizer or Siglip2Processor declared, or a siglip2 / siglip model
    (config.json) with a Gemma tokenizer (SigLIP 2's fixed-resolution checkpoints say model_type siglip)."""
    declared_class = config.get("tokenizer_class")
    if declared_class == "Siglip2Tokenizer" or config.get("processor_class") == "Siglip2Processor":
        return True
    try:  # the model's config.json, read only for its model_type; unreadable means "not SigLIP 2"
        model_type = read_json(directory / "config.json").get("model_type")
    except TokenizerError:
        model_type = None
    return model_type == "siglip2" or (model_type == "siglip" and declared_class in GEMMA_CLASSES)


def siglip2(backend: Any, special: Mapping[str, str | None], config: dict[str, Any], directory: Path,
            side: str) -> TextTokenizer:
    """SigLIP 2's Gemma tokenizer, lowercased (transformers' Siglip2Tokenizer), padded and truncated to 64."""
    from tokenizers import normalizers

    from .siglip import MAX_LENGTH

    lowercase = normalizers.Lowercase()
    backend.normalizer = lowercase if backend.normalizer is None else normalizers.Sequence(
        [lowercase, backend.normalizer])
    length = max_length(config, MAX_LENGTH, directory)
    return TextTokenizer(backend, special, padding_side=side, model_max_length=length, padding="max_length",
                         truncation=True)


def max_length(config: dict[str, Any], default: int, directory: Path) -> int:
    """The config's ``model_max_length``, or ``default`` when it is absent or transformers' huge placeholder."""
    value = config_option(config, "model_max_length", (int, float, type(None)), None, directory)
    if value is None or value > LONGEST_DEFAULT:
        return default
    if not isinstance(value, int) or value < 1:
        raise TokenizerError(f"{directory / 'tokenizer_config.json'}: model_max_length must be a positive "
                             f"integer; got {value!r}")
    return value


def _read_merges(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"could not read {path}: {exc}") from None
    start = 1 if lines and lines[0].startswith("#version") else 0
    merges = []
    for number, line in enumerate(lines[start:], start + 1):
        if line.strip():
            pair = tuple(line.split())
            if len(pair) != 2:
                raise TokenizerError(f"{path}, line {number}: a merge is two symbols separated by a space; "
                                     f"got {line!r}")
            merges.append(pair)
    return merges  # type: ignore[return-value]


def _tokenizer_json_bpe(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    model = read_json(path).get("model")
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise TokenizerError(f"{path}: a CLIP tokenizer.json holds a BPE model")
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
    return model.get("vocab", {}), merges  # type: ignore[return-value]
