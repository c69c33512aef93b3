"""SentencePiece ``.model`` files read without the sentencepiece library, encoded with ``tokenizers``.

A ``.model`` file is one serialized ``ModelProto`` (sentencepiece_model.proto): its pieces (text,
score, type), a ``TrainerSpec`` (model type, special piece ids) and a ``NormalizerSpec``
(precompiled character map, dummy prefix, whitespace handling). `read_model` parses the protobuf
wire format with a small stdlib reader; the field names match the protobuf's, so code written for
``sentencepiece_model_pb2.ModelProto`` (transformers' converters) reads a `SentencePieceModel` too.

`unigram_backend` builds a ``tokenizers`` Unigram model that segments as
``SentencePieceProcessor.encode`` does: the normalizer spec applied in SentencePiece's order
(character map, leading and repeated spaces dropped, spaces written ``▁``, trailing ``▁`` dropped,
then the dummy ``▁`` prefix), and the Viterbi path over the piece scores. Only unigram models are
read (T5, SigLIP, ALBERT, XLNet...); BPE ``.model`` files (Llama's ``tokenizer.model``) need their
``tokenizer.json``. Pieces SentencePiece never emits from text (control pieces such as ``</s>``)
are matched whole in text instead, as transformers does.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .base import TokenizerError

if TYPE_CHECKING:
    import tokenizers

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # SentencePiece.Type
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4  # TrainerSpec.ModelType
MODEL_TYPES = {UNIGRAM: "unigram", BPE: "bpe", WORD: "word", CHAR: "char"}


@dataclass(frozen=True)
class SentencePiece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass(frozen=True)
class TrainerSpec:
    """The training settings a tokenizer needs (the others are skipped); defaults as in the .proto."""
    model_type: int = UNIGRAM
    vocab_size: int = 8000
    byte_fallback: bool = False
    treat_whitespace_as_suffix: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"


@dataclass(frozen=True)
class NormalizerSpec:
    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True


@dataclass(frozen=True)
class SentencePieceModel:
    """A parsed ``ModelProto``: ``pieces[i]`` is id ``i``."""
    pieces: tuple[SentencePiece, ...]
    trainer_spec: TrainerSpec = field(default_factory=TrainerSpec)
    normalizer_spec: NormalizerSpec = field(default_factory=NormalizerSpec)

    def special_pieces(self) -> dict[str, str]:
        """Role (unk, bos, eos, pad) -> piece, for the ids the trainer spec sets (-1 means none)."""
        spec = self.trainer_spec
        ids = {"unk": spec.unk_id, "bos": spec.bos_id, "eos": spec.eos_id, "pad": spec.pad_id}
        return {role: self.pieces[i].piece for role, i in ids.items() if 0 <= i < len(self.pieces)}


# field number -> (name, kind) for the fields read; unknown fields are skipped, as protobuf does
_PIECE = {1: ("piece", "string"), 2: ("score", "float"), 3: ("type", "enum")}
_TRAINER = {3: ("model_type", "enum"), 4: ("vocab_size", "int32"), 35: ("byte_fallback", "bool"),
            24: ("treat_whitespace_as_suffix", "bool"), 40: ("unk_id", "int32"), 41: ("bos_id", "int32"),
            42: ("eos_id", "int32"), 43: ("pad_id", "int32"), 45: ("unk_piece", "string"),
            46: ("bos_piece", "string"), 47: ("eos_piece", "string"), 48: ("pad_piece", "string")}
_NORMALIZER = {1: ("name", "string"), 2: ("precompiled_charsmap", "bytes"), 3: ("add_dummy_prefix", "bool"),
               4: ("remove_extra_whitespaces", "bool"), 5: ("escape_whitespaces", "bool")}
_WIRE = {"string": 2, "bytes": 2, "message": 2, "float": 5, "enum": 0, "int32": 0, "bool": 0}


def read_model(path: str | Path) -> SentencePieceModel:
    """The `SentencePieceModel` in a ``.model`` file; a file that is not one is a `TokenizerError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenizerError(f"could not read the SentencePiece model {path}: {exc}") from None
    return parse_model(data, str(path))


def parse_model(data: bytes, source: str = "the SentencePiece model") -> SentencePieceModel:
    """A `SentencePieceModel` from the bytes of a serialized ``ModelProto``."""
    pieces: list[SentencePiece] = []
    trainer: dict[str, Any] = {}
    normalizer: dict[str, Any] = {}
    try:
        for number, wire, value in _fields(data):
            if number == 1:
                pieces.append(SentencePiece(**_message(_expect(value, wire, 2, "pieces"), _PIECE)))
            elif number == 2:
                trainer.update(_message(_expect(value, wire, 2, "trainer_spec"), _TRAINER))
            elif number == 3:
                normalizer.update(_message(_expect(value, wire, 2, "normalizer_spec"), _NORMALIZER))
    except ValueError as exc:
        raise TokenizerError(f"{source} is not a SentencePiece model (a serialized ModelProto): {exc}") from None
    model = SentencePieceModel(tuple(pieces), TrainerSpec(**trainer), NormalizerSpec(**normalizer))
    _check(model, source)
    return model


def _check(model: SentencePieceModel, source: str) -> None:
    if not model.pieces:
        raise TokenizerError(f"{source} is not a SentencePiece model: it has no pieces")
    seen: set[str] = set()
    for i, piece in enumerate(model.pieces):
        if piece.piece in seen or not piece.piece:
            problem = "an empty piece" if not piece.piece else f"the piece {piece.piece!r} twice"
            raise TokenizerError(f"{source} is not a valid SentencePiece model: it has {problem} (id {i})")
        seen.add(piece.piece)
    unk = model.trainer_spec.unk_id
    if not 0 <= unk < len(model.pieces) or model.pieces[unk].type != UNKNOWN:
        raise TokenizerError(f"{source} is not a valid SentencePiece model: unk_id {unk} is not its unknown piece")


def _expect(value: Any, wire: int, expected: int, name: str) -> Any:
    if wire != expected:
        raise ValueError(f"field {name} has wire type {wire}, expected {expected}")
    return value


def _message(data: bytes, schema: dict[int, tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        out[name] = _scalar(_expect(value, wire, _WIRE[kind], name), kind, name)
    return out


def _scalar(value: Any, kind: str, name: str) -> Any:
    if kind == "string":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"field {name} is not valid UTF-8") from None
    if kind == "float":
        return struct.unpack("<f", value)[0]
    if kind == "bool":
        return value != 0
    if kind in ("int32", "enum"):
        value = value - (1 << 64) if value >= 1 << 63 else value  # negative int32s are 10-byte varints
        if not -(1 << 31) <= value < 1 << 31:
            raise ValueError(f"field {name} ({value}) does not fit in 32 bits")
        return value
    return value  # bytes


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field of one protobuf message."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"field number 0 at byte {i}")
        if wire == 0:
            value, i = _varint(data, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if i + size > len(data):
                raise ValueError("the data ends inside a fixed-size field")
            value, i = data[i:i + size], i + size
        elif wire == 2:
            size, i = _varint(data, i)
            if i + size > len(data):
                raise ValueError(f"a field of {size} bytes runs past the end of its message")
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire} (field {number})")
        yield number, wire, value


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    for n in range(10):
        if i + n >= len(data):
            raise ValueError("the data ends inside a varint")
        byte = data[i + n]
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i + n + 1
    raise ValueError(f"a varint longer than 10 bytes at byte {i}")


def unigram_backend(model: SentencePieceModel, *, add_dummy_prefix: bool | None = None) -> "tokenizers.Tokenizer":
    """A ``tokenizers.Tokenizer`` that segments as ``SentencePieceProcessor.encode`` (no special tokens added).

    ``add_dummy_prefix`` overrides the normalizer spec's (SigLIP writes its own ``▁`` prefix).
    """
    from tokenizers import Regex, decoders, normalizers
    from tokenizers import Tokenizer as Backend
    from tokenizers.models import Unigram

    trainer, spec = model.trainer_spec, model.normalizer_spec
    if trainer.model_type != UNIGRAM:
        kind = MODEL_TYPES.get(trainer.model_type, str(trainer.model_type))
        raise TokenizerError(f"only unigram SentencePiece models are read; this one is a {kind} model "
                             "(Llama-style tokenizer.model files need the directory's tokenizer.json)")
    if trainer.treat_whitespace_as_suffix:
        raise TokenizerError("SentencePiece models with treat_whitespace_as_suffix are not read")
    vocab = [(p.piece, p.score) for p in model.pieces]
    backend = Backend(Unigram(vocab, unk_id=trainer.unk_id, byte_fallback=trainer.byte_fallback))
    steps: list[Any] = []
    if spec.precompiled_charsmap:
        try:
            steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
        except Exception as exc:  # the Rust side rejects a malformed map with a plain Exception
            raise TokenizerError(f"the SentencePiece model's precompiled_charsmap is not readable: {exc}") from None
    space = "▁" if spec.escape_whitespaces else " "
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Replace(Regex(r"\A +"), ""), normalizers.Replace(Regex(" {2,}"), " ")]
    if spec.escape_whitespaces:
        steps.append(normalizers.Replace(" ", "▁"))
    if spec.remove_extra_whitespaces:  # SentencePiece drops trailing ▁, written ones included
        steps.append(normalizers.Replace(Regex(f"{space}+\\z"), ""))
    prefix = spec.add_dummy_prefix if add_dummy_prefix is None else add_dummy_prefix
    if prefix:
        steps.append(normalizers.Prepend(space))  # not on empty text, as SentencePiece
    backend.normalizer = normalizers.Sequence(steps)
    parts: list[Any] = [decoders.Replace("▁", " ")]
    if trainer.byte_fallback:
        parts.append(decoders.ByteFallback())
    parts.append(decoders.Fuse())
    if prefix or spec.escape_whitespaces:
        parts.append(decoders.Strip(" ", 1, 0))
    backend.decoder = decoders.Sequence(parts)
    return backend
