"""WAV reading and writing: round trips, files from Python's ``wave`` and hand-built headers, clear errors."""
from __future__ import annotations

import os
import struct
import wave

import pytest
import torch

from zoo.data.wav import WavError, WavInfo, read_wav, wav_info, write_wav

PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_* after the code


def riff(fmt: bytes, data: bytes, *, extra: list[tuple[bytes, bytes]] = (), data_size: int | None = None) -> bytes:
    """A RIFF/WAVE file from a fmt payload and sample bytes; ``extra`` chunks go between fmt and data."""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    for chunk_id, payload in extra:
        body += chunk_id + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    body += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, *, extensible_tag: int | None = None) -> bytes:
    block = channels * bits // 8
    head = struct.pack("<HHIIHH", 0xFFFE if extensible_tag is not None else tag, channels, rate, rate * block, block, bits)
    if extensible_tag is None:
        return head
    return head + struct.pack("<HHI", 22, bits, 0x3 if channels == 2 else 0x4) + struct.pack("<H", extensible_tag) \
        + PCM_GUID_TAIL


@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip_16_bit(tmp_path, channels):
    torch.manual_seed(0)
    x = torch.rand(channels, 4000) * 2 - 1
    x[0, :3] = torch.tensor([1.0, -1.0, 0.0])                        # the extremes survive too
    path = tmp_path / "clip.wav"
    write_wav(path, x if channels == 2 else x[0], 22050)
    y, rate = read_wav(path)
    assert rate == 22050 and y.shape == (channels, 4000) and y.dtype == torch.float32
    assert (y - x).abs().max() <= 1 / 32768
    assert (y - x)[:, 1:].abs().max() <= 0.5 / 32768 + 1e-7          # half a step except full-scale +1.0
    with wave.open(str(path)) as w:                                  # the standard library agrees on the header
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (channels, 2, 22050, 4000)


def test_write_is_atomic_and_checks_input(tmp_path, monkeypatch):
    path = tmp_path / "a.wav"
    write_wav(path, torch.zeros(10), 8000)
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_wav(path, torch.ones(20) * 0.5, 8000)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    for bad, match in [(torch.tensor([0.5, 1.5]), "in \\[-1, 1\\]"), (torch.tensor([float("nan")]), "finite"),
                       (torch.zeros(2, 2, 2), "\\[channels, samples\\]"), (torch.zeros(3, dtype=torch.int16), "float"),
                       (torch.zeros(0), "non-empty")]:
        with pytest.raises(WavError, match=match):
            write_wav(tmp_path / "b.wav", bad, 8000)
    with pytest.raises(WavError, match="sample_rate"):
        write_wav(tmp_path / "b.wav", torch.zeros(3), 0)
    assert not (tmp_path / "b.wav").exists()


@pytest.mark.parametrize("width, values, expected", [
    (1, bytes([0, 128, 255, 64]), [-1.0, 0.0, 127 / 128, -0.5]),
    (2, struct.pack("<4h", -32768, 0, 32767, 16384), [-1.0, 0.0, 32767 / 32768, 0.5]),
    (3, b"\x00\x00\x80" + b"\x00\x00\x00" + b"\xff\xff\x7f" + b"\x00\x00\x40", [-1.0, 0.0, (2**23 - 1) / 2**23, 0.5]),
    (4, struct.pack("<4i", -2**31, 0, 2**31 - 1, 2**30), [-1.0, 0.0, 1.0, 0.5]),
])
def test_reads_files_written_by_the_wave_module(tmp_path, width, values, expected):
    path = tmp_path / f"w{width}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(width)
        w.setframerate(11025)
        w.writeframes(values)
    x, rate = read_wav(path)
    assert rate == 11025 and x.shape == (2, 2)
    torch.testing.assert_close(x, torch.tensor(expected).view(2, 2).t(), atol=1e-7, rtol=0)  # frames interleave


@pytest.mark.parametrize("bits, dtype", [(32, "<f"), (64, "<d")])
@pytest.mark.parametrize("extensible", [False, True])
def test_reads_float_files(tmp_path, bits, dtype, extensible):
    samples = [0.25, -0.5, 1.25, 0.0]  # floats are returned as stored, even beyond full scale
    fmt = fmt_chunk(3, 1, 48000, bits, extensible_tag=3 if extensible else None)
    path = tmp_path / "f.wav"
    path.write_bytes(riff(fmt, struct.pack(f"{dtype[0]}4{dtype[1]}", *samples)))
    x, rate = read_wav(path)
    assert rate == 48000 and x.dtype == torch.float32 and x.tolist() == [samples]


def test_reads_extensible_pcm_with_extra_chunks(tmp_path):
    data = b"\x00\x00\x40" + b"\x00\x00\xc0" + b"\x00\x00\x20" + b"\x00\x00\xe0"  # 24-bit stereo, 2 frames
    extra = [(b"LIST", b"INFOISFT\x03\x00\x00\x00zo\x00"), (b"odd ", b"abc")]  # odd sizes are padded
    path = tmp_path / "e.wav"
    path.write_bytes(riff(fmt_chunk(1, 2, 16000, 24, extensible_tag=1), data, extra=extra) + b"cue \x00\x00\x00\x00")
    x, rate = read_wav(path)
    assert rate == 16000 and x.tolist() == [[0.5, 0.25], [-0.5, -0.25]]


@pytest.mark.parametrize("content, match", [
    (b"", "not a RIFF/WAVE file"),
    (b"fLaC\x00\x00\x00\x22" + bytes(40), "not a RIFF/WAVE file .*b'fLaC"),
    (b"RIFF\x10\x00\x00\x00AVI LIST", "not a RIFF/WAVE file"),
    (riff(fmt_chunk(0x11, 1, 8000, 4), bytes(16)), "0x0011 \\(IMA ADPCM\\) is compressed.*supported: PCM"),
    (riff(fmt_chunk(7, 1, 8000, 8), bytes(16)), "mu-law"),
    (riff(fmt_chunk(1, 1, 8000, 16, extensible_tag=0x55), bytes(16)), "MP3"),
    (riff(fmt_chunk(1, 1, 8000, 12), bytes(16)), "12-bit PCM is not supported"),
    (riff(fmt_chunk(3, 1, 8000, 16), bytes(16)), "16-bit float is not supported"),
    (riff(fmt_chunk(1, 1, 8000, 16), bytes(100), data_size=200), "truncated file: chunk 'data'"),
    (riff(fmt_chunk(1, 2, 8000, 16), bytes(6)), "truncated file: 6 data bytes is not a whole number of 4-byte frames"),
    (riff(fmt_chunk(1, 1, 8000, 16), bytes(8))[:40], "no 'data' chunk"),
    (b"RIFF\x04\x00\x00\x00WAVEdata\x02\x00\x00\x00\x00\x00", "no valid 'fmt ' chunk"),
])
def test_clear_errors(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    for read in (read_wav, wav_info):  # the header check refuses exactly what reading refuses
        with pytest.raises(WavError, match=match) as info:
            read(path)
        assert str(path) in str(info.value)


def test_wav_info_reads_the_header_only(tmp_path):
    path = tmp_path / "x.wav"
    data = struct.pack("<4h", 1, 2, 3, 4)
    path.write_bytes(riff(fmt_chunk(1, 2, 16000, 16), data, extra=[(b"LIST", b"abc")]) + b"cue \x00\x00\x00\x00")
    assert wav_info(path) == WavInfo(sample_rate=16000, channels=2, bits=16, is_float=False, frames=2,
                                     data_offset=path.read_bytes().index(data))
    path.write_bytes(riff(fmt_chunk(1, 1, 8000, 16), b""))
    assert wav_info(path).frames == 0 and read_wav(path)[0].shape == (1, 0)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nope.wav")
