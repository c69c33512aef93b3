"""WAV files without extra dependencies: read PCM and float WAVs, write 16-bit PCM atomically.

``read_wav`` parses the RIFF chunks itself (Python 3.11's ``wave`` rejects float and
WAVE_FORMAT_EXTENSIBLE files) and accepts integer PCM of 8, 16, 24 or 32 bits, IEEE float of
32 or 64 bits, plain or extensible, any number of channels. Compressed encodings (ADPCM,
A-law, mu-law, MP3 in a WAV, ...) and damaged files are refused with an error saying what was
found; decode those with another tool first.
"""
from __future__ import annotations

import os
import struct
import secrets
import sys
from pathlib import Path

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


def _chunks(path: Path, data: bytes):
    """Yield ``(chunk_id, payload)`` for every chunk after the RIFF/WAVE header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        found = data[:4] + (b" " + data[8:12] if len(data) >= 12 else b"")
        raise WavError(f"{path}: not a RIFF/WAVE file (starts with {found!r}; RIFX and RF64 are not supported "
                       f"either); expected a WAV file with {_SUPPORTED}")
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + size > len(data):
            raise WavError(f"{path}: truncated file: chunk {chunk_id.decode('latin-1')!r} at byte {pos} declares "
                           f"{size} bytes but only {len(data) - pos - 8} remain")
        yield chunk_id, data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)  # chunks are padded to an even length


def _decode(raw: bytes, is_float: bool, width: int) -> Tensor:
    """Little-endian samples -> float32 [n] in [-1, 1] (integer PCM full scale; floats as stored)."""
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
    files are returned as stored. Raises ``WavError`` for anything else, and ``FileNotFoundError``.
    """
    path = Path(path)
    data = path.read_bytes()
    fmt = raw = None
    for chunk_id, payload in _chunks(path, data):
        if chunk_id == b"fmt ":
            fmt = payload
        elif chunk_id == b"data":
            raw = payload
            break  # anything after the samples (cue, LIST) is metadata
    if fmt is None or len(fmt) < 16:
        raise WavError(f"{path}: no valid 'fmt ' chunk before the samples (truncated or damaged file)")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == EXTENSIBLE:
        if len(fmt) < 40:
            raise WavError(f"{path}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is {len(fmt)} bytes, expected 40")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the sub-format GUID begins with the format code
    if raw is None:
        raise WavError(f"{path}: no 'data' chunk (truncated or damaged file)")
    if tag not in (PCM, IEEE_FLOAT):
        raise WavError(f"{path}: {_format_name(tag)} is compressed or unknown; supported: {_SUPPORTED}")
    is_float = tag == IEEE_FLOAT
    if (is_float and bits not in (32, 64)) or (not is_float and bits not in (8, 16, 24, 32)):
        raise WavError(f"{path}: {bits}-bit {'float' if is_float else 'PCM'} is not supported; supported: {_SUPPORTED}")
    width = bits // 8
    if channels < 1 or rate < 1 or block_align != channels * width:
        raise WavError(f"{path}: inconsistent 'fmt ' chunk ({channels} channels, {rate} Hz, {bits} bits, "
                       f"block_align {block_align}; block_align must be channels * bytes per sample)")
    if len(raw) % block_align:
        raise WavError(f"{path}: truncated file: {len(raw)} data bytes is not a whole number of "
                       f"{block_align}-byte frames")
    wave = _decode(raw, is_float, width).view(-1, channels).t().contiguous()  # [channels, samples]
    return wave, rate


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
