"""Local-file datasets: text lines, JSONL, WAV folders, transcript manifests, and their errors."""
from __future__ import annotations

import json

import pytest
import torch

from zoo.data.files import (DataFileError, JsonlPairs, JsonlTexts, SampleRateError, TextLines, TranscriptManifest,
                            WavFolder, check_images, check_wavs)
from zoo.data.wav import write_wav


def test_text_lines_file_and_folder(tmp_path):
    (tmp_path / "b.txt").write_bytes("\ufeffsecond file\r\n\n   \nlast line without newline".encode())
    (tmp_path / "a.txt").write_text("héllo wörld\n\nline two  \n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("nested\n")
    (tmp_path / "notes.md").write_text("not text data\n")
    lines = TextLines(tmp_path)
    assert [lines[i] for i in range(len(lines))] == [
        "héllo wörld", "line two  ", "second file", "last line without newline", "nested"]
    single = TextLines(tmp_path / "a.txt")
    assert len(single) == 2 and single[1] == "line two  "


def test_text_lines_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        TextLines(tmp_path / "missing.txt")
    with pytest.raises(DataFileError, match="no .txt files in the folder"):
        TextLines(tmp_path)
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(DataFileError, match="no non-empty lines"):
        TextLines(tmp_path / "blank.txt")
    (tmp_path / "bad.txt").write_bytes(b"fine\nbad \xff byte\n")
    with pytest.raises(DataFileError, match=r"bad.txt, line 2: not valid UTF-8"):
        TextLines(tmp_path / "bad.txt")


def test_jsonl(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": "one", "source": "1+1", "target": "2"}, {"text": "two", "source": "2+2", "target": "4", "x": 1}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    texts = JsonlTexts(path)
    assert [texts[i] for i in range(len(texts))] == ["one", "two"]
    assert [JsonlTexts(tmp_path, field="source")[i] for i in range(2)] == ["1+1", "2+2"]
    pairs = JsonlPairs(path)
    assert len(pairs) == 2 and pairs[1] == ("2+2", "4")
    assert JsonlPairs(path, source="text", target="source")[0] == ("one", "1+1")


@pytest.mark.parametrize("line, match", [
    ("{not json", "line 2: invalid JSON"),
    ("[1, 2]", "line 2: expected a JSON object, found list"),
    ('{"txt": "x"}', "line 2: field 'text' must be a string \\(no such field; the object has \\['txt'\\]\\)"),
    ('{"text": 3}', "line 2: field 'text' must be a string \\(int"),
])
def test_jsonl_errors(tmp_path, line, match):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(DataFileError, match=match) as info:
        JsonlTexts(path)
    assert "d.jsonl" in str(info.value)


def test_jsonl_empty(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(DataFileError, match="no records"):
        JsonlPairs(tmp_path / "e.jsonl")


def speech_commands(root, rate=16000):
    """A tiny Speech Commands layout: two words, a background-noise folder, one stereo clip."""
    for label, clips in {"yes": 3, "no": 2}.items():
        (root / label).mkdir(parents=True)
        for i in range(clips):
            write_wav(root / label / f"{i}.wav", torch.full((100 + i,), 0.25 if label == "yes" else -0.25), rate)
    write_wav(root / "no" / "stereo.wav", torch.stack([torch.full((50,), 0.5), torch.zeros(50)]), rate)
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "n.wav", torch.zeros(10), rate)


def test_wav_folder(tmp_path):
    speech_commands(tmp_path)
    data = WavFolder(tmp_path, sample_rate=16000)
    assert data.classes == ["no", "yes"] and data.skipped == ["_background_noise_"] and len(data) == 6
    labels = [data[i][1] for i in range(len(data))]
    assert labels == [0, 0, 0, 1, 1, 1]
    wave, label = data[3]
    assert wave.shape == (100,) and wave.dtype == torch.float32 and torch.allclose(wave, torch.full((100,), 0.25))
    stereo = data[2][0]
    assert stereo.shape == (50,) and torch.allclose(stereo, torch.full((50,), 0.25))  # channels averaged


def test_wav_folder_sample_rate(tmp_path):
    speech_commands(tmp_path, rate=8000)
    with pytest.raises(SampleRateError, match="no/0.wav: sampled at 8000 Hz, expected 16000 Hz \\(and 5 more files "
                                              "not at 16000 Hz\\); pass resample=True"):
        WavFolder(tmp_path, sample_rate=16000)  # every header is checked when created, not when read
    data = WavFolder(tmp_path, sample_rate=16000, resample=True)
    wave, _ = data[3]
    assert wave.shape == (200,) and data.samples[3] == 200  # 100 samples at 8 kHz


def test_check_wavs_reads_headers_and_names_every_bad_file(tmp_path):
    import torchaudio.functional as AF

    write_wav(tmp_path / "odd.wav", torch.rand(1001) * 0.1, 22050)
    resampled = len(AF.resample(torch.rand(1001), 22050, 16000))
    assert check_wavs([tmp_path / "odd.wav"], 16000, resample=True) == [resampled]
    for name in ("a", "b", "c", "d", "e"):
        (tmp_path / f"{name}.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")  # a header, no chunks
    with pytest.raises(DataFileError, match=r"a.wav: no valid 'fmt ' chunk .* \(and 4 more bad files: .*b.wav, "
                                            r".*c.wav, .*d.wav, \.\.\.\)$"):
        check_wavs(sorted(tmp_path.glob("*.wav")), 16000, resample=True)


def test_a_wav_damaged_after_the_check_is_a_data_file_error_when_read(tmp_path):
    speech_commands(tmp_path)
    data = WavFolder(tmp_path, sample_rate=16000)
    data.paths[0].write_bytes(b"junk")
    with pytest.raises(DataFileError, match="no/0.wav: not a RIFF/WAVE file"):
        data[0]


def test_check_images_decodes_a_jpeg_without_its_end_marker(tmp_path):
    from PIL import Image

    Image.effect_noise((128, 128), 40).convert("RGB").save(tmp_path / "a.jpg")  # headers: the first 600 bytes
    (tmp_path / "b.jpg").write_bytes((tmp_path / "a.jpg").read_bytes() + bytes(5000))  # data after the end marker
    check_images([tmp_path / "a.jpg", tmp_path / "b.jpg"])  # b is decoded in full, and it is fine
    whole = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "c.jpg").write_bytes(whole[:len(whole) // 2])  # verify() passes it; decoding finds it truncated
    with pytest.raises(DataFileError, match="c.jpg: OSError: image file is truncated"):  # by decoding
        check_images([tmp_path / "c.jpg"])


def test_wav_folder_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        WavFolder(tmp_path / "nope", sample_rate=16000)
    with pytest.raises(DataFileError, match="no class sub-folders"):
        WavFolder(tmp_path, sample_rate=16000)
    (tmp_path / "yes").mkdir()
    with pytest.raises(DataFileError, match="class folder .*yes has no .wav files"):
        WavFolder(tmp_path, sample_rate=16000)
    write_wav(tmp_path / "loose.wav", torch.zeros(4), 16000)
    with pytest.raises(DataFileError, match="directly inside"):
        WavFolder(tmp_path, sample_rate=16000)
    with pytest.raises(ValueError, match="sample_rate"):
        WavFolder(tmp_path, sample_rate=0)


def test_transcript_manifest(tmp_path):
    (tmp_path / "clips").mkdir()
    write_wav(tmp_path / "clips" / "a.wav", torch.full((80,), 0.5), 16000)
    write_wav(tmp_path / "b.wav", torch.zeros(40), 16000)
    (tmp_path / "train.csv").write_text('path,transcript,speaker\nclips/a.wav,"hello, world",x\n\nb.wav,,y\n',
                                        encoding="utf-8-sig")
    data = TranscriptManifest(tmp_path / "train.csv", sample_rate=16000)
    assert len(data) == 2 and data.alphabet == " ,dehlorw"
    wave, text = data[0]
    assert text == "hello, world" and wave.shape == (80,) and torch.allclose(wave, torch.full((80,), 0.5))
    assert data[1][1] == "" and data[1][0].shape == (40,)


@pytest.mark.parametrize("content, match", [
    ("file,text\na.wav,hi\n", "line 1: the header must name the columns 'path' and 'transcript'"),
    ("", "line 1: the header"),
    ("path,transcript\na.wav,hi\nmissing.wav,yo\n", "line 3: audio file .*missing.wav does not exist"),
    ("path,transcript\na.wav,hi,extra\n", "line 2: 3 fields, expected 2"),
    ("path,transcript\n ,hi\n", "line 2: empty path"),
    ("path,transcript\n", "lists no files"),
])
def test_transcript_manifest_errors(tmp_path, content, match):
    write_wav(tmp_path / "a.wav", torch.zeros(4), 16000)
    (tmp_path / "m.csv").write_text(content)
    with pytest.raises(DataFileError, match=match):
        TranscriptManifest(tmp_path / "m.csv", sample_rate=16000)


def test_transcript_manifest_missing(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        TranscriptManifest(tmp_path / "none.csv", sample_rate=16000)
