"""WAV files without extra dependencies: read PCM and float WAVs, write 16-bit PCM atomically.

``read_wav`` parses the RIFF chunks itself (Python 3.11's ``wave`` rejects float and
WAVE_FORMAT_EXTENSIBLE files) and accepts integer PCM of 8, 16, 24 or 32 bits, IEEE float of
32 or 64 bits, plain or extensible, any number of channels. Compressed encodings (ADPCM,
A-law, mu-law, MP3 in a WAV, ...) and damaged files are refused with an error saying what was
found; decode those with another tool first. ``wav_info`` checks a file the same way from its
header alone (format, rate, length), so a folder of clips can be checked before training.
"""
from __future__ import annotations

import os
import struct
import secrets
import sys
from pathlib import Path
from typing import BinaryIO, NamedTuple

import torch
from torch import Tensor

PCM, IEEE_FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_SUPPORTED = "PCM of 8, 16, 24 or 32 bits, or IEEE float of 32 or 64 bits (plain or WAVE_FORMAT_EXTENSIBLE)"
_FORMAT_NAMES = {0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
                 0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MP3", 0x00FF: "AAC", 0x1610: "AAC", 0xF1AC: "FLAC"}


class WavError(ValueError):
    """A file that is not a WAV this module reads, or a waveform it cannot write."""


def _format_name(tag: int) -> str:
    return f"format 0x{tag:04X}" + (f" ({_FORMAT_NAMES[tag]})" if tag in _FORMAT_NAMES else "")


class WavInfo(NamedTuple):
    """What a WAV file's header says: enough to check it and size it without reading the samples."""

    sample_rate: int
    channels: int
    bits: int
    is_float: bool
    frames: int  # samples per channel
    data_offset: int  # where the samples start in the file


def _find_chunks(path: Path, f: BinaryIO, size: int) -> tuple[bytes | None, int | None, int]:
    """(fmt payload, data offset, data size) from the chunk headers, seeking past everything else."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        found = head[:4] + (b" " + head[8:12] if len(head) >= 12 else b"")
        raise WavError(f"{path}: not a RIFF/WAVE file (starts with {found!r}; RIFX and RF64 are not supported "
                       f"either); expected a WAV file with {_SUPPORTED}")
    fmt, pos = None, 12
    while pos + 8 <= size:
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        if pos + 8 + chunk_size > size:
            raise WavError(f"{path}: truncated file: chunk {chunk_id.decode('latin-1')!r} at byte {pos} declares "
                           f"{chunk_size} bytes but only {size - pos - 8} remain")
        if chunk_id == b"data":  # anything after the samples (cue, LIST) is metadata
            return fmt, pos + 8, chunk_size
        if chunk_id == b"fmt ":
            fmt = f.read(chunk_size)
        pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even length
    return fmt, None, 0


def wav_info(path: str | os.PathLike) -> WavInfo:
    """Check a WAV file's header and return its format and length; the samples are not read.

    Raises ``WavError`` for anything `read_wav` would refuse (not a WAV, compressed, truncated,
    inconsistent), and ``FileNotFoundError``. A few hundred bytes are read, whatever the file's size.
    """
    path = Path(path)
    with open(path, "rb") as f:
        fmt, offset, data_size = _find_chunks(path, f, os.fstat(f.fileno()).st_size)
    if fmt is None or len(fmt) < 16:
        raise WavError(f"{path}: no valid 'fmt ' chunk before the samples (truncated or damaged file)")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == EXTENSIBLE:
        if len(fmt) < 40:
            raise WavError(f"{path}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is {len(fmt)} bytes, expected 40")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the sub-format GUID begins with the format code
    if offset is None:
        raise WavError(f"{path}: no 'data' chunk (truncated or damaged file)")
    if tag not in (PCM, IEEE_FLOAT):
        raise WavError(f"{path}: {_format_name(tag)} is compressed or unknown; supported: {_SUPPORTED}")
    is_float = tag == IEEE_FLOAT
    if (is_float and bits not in (32, 64)) or (not is_float and bits not in (8, 16, 24, 32)):
        raise WavError(f"{path}: {bits}-bit {'float' if is_float else 'PCM'} is not supported; supported: {_SUPPORTED}")
    if channels < 1 or rate < 1 or block_align != channels * bits // 8:
        raise WavError(f"{path}: inconsistent 'fmt ' chunk ({channels} channels, {rate} Hz, {bits} bits, "
                       f"block_align {block_align}; block_align must be channels * bytes per sample)")
    if data_size % block_align:
        raise WavError(f"{path}: truncated file: {data_size} data bytes is not a whole number of "
                       f"{block_align}-byte frames")
    return WavInfo(rate, channels, bits, is_float, data_size // block_align, offset)


def _decode(raw: bytes, is_float: bool, width: int) -> Tensor:
    """Little-endian samples -> float32 [n] in [-1, 1] (integer PCM full scale; floats as stored)."""
    if not raw:  # torch.frombuffer refuses an empty buffer
        return torch.zeros(0)
    b = torch.frombuffer(bytearray(raw), dtype=torch.uint8)  # [n * width]
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        return (b.to(torch.float32) - 128.0) / 128.0
    if width == 3:  # no 24-bit dtype: assemble, then sign-extend
        b = b.view(-1, 3).to(torch.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = v - ((v & 0x800000) << 1)
        return (v.to(torch.float64) / 2.0 ** 23).to(torch.float32)
    if sys.byteorder == "big":
        b = b.view(-1, width).flip(-1).reshape(-1)
    if is_float:
        return b.view(torch.float32 if width == 4 else torch.float64).to(torch.float32)
    v = b.view(torch.int16 if width == 2 else torch.int32)
    return (v.to(torch.float64) / 2.0 ** (8 * width - 1)).to(torch.float32)


def read_wav(path: str | os.PathLike) -> tuple[Tensor, int]:
    """Read a WAV file -> ``(waveform [channels, samples] float32, sample_rate)``.

    Integer PCM is scaled by its full scale (int16 / 32768, ...), so it lies in [-1, 1); float
    files are returned as stored. Raises ``WavError`` for anything else (see `wav_info`), and
    ``FileNotFoundError``.
    """
    info = wav_info(path)
    size = info.frames * info.channels * info.bits // 8
    with open(path, "rb") as f:
        f.seek(info.data_offset)
        raw = f.read(size)
    if len(raw) != size:
        raise WavError(f"{path}: truncated file: the samples end early (did the file change while being read?)")
    wave = _decode(raw, info.is_float, info.bits // 8).view(-1, info.channels).t().contiguous()  # [channels, samples]
    return wave, info.sample_rate


def write_wav(path: str | os.PathLike, waveform: Tensor, sample_rate: int) -> None:
    """Write ``waveform`` ``[samples]`` or ``[channels, samples]`` in [-1, 1] as 16-bit PCM.

    Samples are scaled by 32768 and rounded (the inverse of ``read_wav``), so a round trip is
    exact to 1/65536, or 1/32768 at full-scale +1.0 (stored as 32767). Values outside [-1, 1]
    or not finite are an error, not clipped. The file appears whole or not at all (a temporary file, then a rename).
    """
    if not isinstance(waveform, Tensor) or waveform.dim() not in (1, 2) or waveform.numel() == 0 \
            or not waveform.is_floating_point():
        raise WavError(f"write_wav: waveform must be a non-empty float tensor [samples] or [channels, samples], got "
                       f"{type(waveform).__name__} {tuple(getattr(waveform, 'shape', ()))} "
                       f"{getattr(waveform, 'dtype', '')}")
    if not isinstance(sample_rate, int) or not 0 < sample_rate < 2 ** 32:
        raise WavError(f"write_wav: sample_rate must be a positive int, got {sample_rate!r}")
    wave = waveform.detach().to("cpu", torch.float64)
    wave = wave[None] if wave.dim() == 1 else wave  # [channels, samples]
    if not torch.isfinite(wave).all() or wave.abs().max() > 1.0:
        raise WavError(f"write_wav: samples must be finite and in [-1, 1] (found peak {wave.abs().max().item():.4g}); "
                       f"scale or clamp the waveform first")
    channels = wave.shape[0]
    pcm = (wave * 32768.0).round().clamp(-32768, 32767).to(torch.int16)
    pcm = pcm.t().reshape(-1).contiguous()  # [samples * channels], frames interleaved
    raw = pcm.view(torch.uint8)
    if sys.byteorder == "big":
        raw = raw.view(-1, 2).flip(-1)
    raw = raw.numpy().tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(raw), b"WAVE", b"fmt ", 16, PCM, channels,
                         sample_rate, sample_rate * channels * 2, channels * 2, 16, b"data", len(raw))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # same folder: rename is atomic
    try:
        with open(tmp, "xb") as f:  # a new file, with the usual permissions (mkstemp's would be 0600)
            f.write(header + raw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
