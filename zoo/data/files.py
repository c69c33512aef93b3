"""Real data from local files for the recipes: text lines, JSONL records, WAV folders, transcripts.

Each is a map-style torch Dataset that checks its files when created and raises
``DataFileError`` naming the file (and line) for a missing path, an empty folder or a bad row,
so a recipe fails before training starts rather than halfway. Images need no wrapper here:
the recipes use ``torchvision.datasets.CIFAR10`` and ``ImageFolder`` directly.
"""
from __future__ import annotations

import csv
import json
import os
from array import array
from pathlib import Path

import torch
from torch import Tensor

from .wav import read_wav


class DataFileError(ValueError):
    """A data file or folder that is missing, empty or malformed."""


def _files(path: str | os.PathLike, suffix: str, what: str) -> list[Path]:
    """``path`` itself if it is a file, else every ``*suffix`` file under it (recursively, sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise DataFileError(f"{what}: {path} does not exist")
    files = sorted(p for p in path.rglob(f"*{suffix}") if p.is_file())
    if not files:
        raise DataFileError(f"{what}: no {suffix} files in the folder {path}")
    return files


class TextLines(torch.utils.data.Dataset):
    """The non-empty lines of a UTF-8 text file, or of every ``.txt`` file under a folder (sorted).

    Items are the lines without their line ending; lines of only whitespace are skipped. Only the
    byte offsets of the lines are kept in memory (8 bytes a line); each item is read on access.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.files = _files(path, ".txt", "TextLines")
        self._file, self._offset = array("l"), array("q")  # per line: which file, where it starts
        for f, file in enumerate(self.files):
            with open(file, "rb") as handle:
                offset = 0
                for number, line in enumerate(handle, 1):
                    if number == 1 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not text
                        line, offset = line[3:], 3
                    try:
                        text = line.decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise DataFileError(f"{file}, line {number}: not valid UTF-8 ({error.reason} at byte "
                                            f"{error.start})") from None
                    if text.strip():
                        self._file.append(f)
                        self._offset.append(offset)
                    offset += len(line)
        if not self._offset:
            raise DataFileError(f"TextLines: no non-empty lines in {', '.join(map(str, self.files))}")

    def __len__(self) -> int:
        return len(self._offset)

    def __getitem__(self, index: int) -> str:
        with open(self.files[self._file[index]], "rb") as handle:
            handle.seek(self._offset[index])
            return handle.readline().decode("utf-8").rstrip("\r\n")

    def __repr__(self) -> str:
        return f"TextLines({len(self)} lines from {len(self.files)} file(s))"


def _jsonl_records(path: str | os.PathLike, fields: tuple[str, ...], what: str) -> list[tuple[str, ...]]:
    """The string values of ``fields`` in every non-empty line of the ``.jsonl`` file(s) at ``path``."""
    records = []
    for file in _files(path, ".jsonl", what):
        with open(file, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataFileError(f"{file}, line {number}: invalid JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise DataFileError(f"{file}, line {number}: expected a JSON object, found {type(record).__name__}")
                for field in fields:
                    if not isinstance(record.get(field), str):
                        found = "no such field" if field not in record else type(record[field]).__name__
                        raise DataFileError(f"{file}, line {number}: field {field!r} must be a string ({found}; the "
                                            f"object has {sorted(record)})")
                records.append(tuple(record[field] for field in fields))
    if not records:
        raise DataFileError(f"{what}: no records in {path}")
    return records


class JsonlTexts(torch.utils.data.Dataset):
    """The ``field`` string of every record of a ``.jsonl`` file (or all under a folder), in memory."""

    def __init__(self, path: str | os.PathLike, field: str = "text") -> None:
        self.texts = [text for (text,) in _jsonl_records(path, (field,), "JsonlTexts")]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> str:
        return self.texts[index]


class JsonlPairs(torch.utils.data.Dataset):
    """``(source, target)`` string pairs from the records of a ``.jsonl`` file (or all under a folder)."""

    def __init__(self, path: str | os.PathLike, source: str = "source", target: str = "target") -> None:
        self.pairs = _jsonl_records(path, (source, target), "JsonlPairs")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[str, str]:
        return self.pairs[index]


def load_mono(path: Path, sample_rate: int, resample: bool) -> Tensor:
    """A WAV file as mono float32 ``[samples]`` at ``sample_rate``; channels are averaged.

    A file at another rate is an error unless ``resample`` (then torchaudio's resampler converts it).
    """
    wave, rate = read_wav(path)  # [channels, samples]
    wave = wave.mean(0)  # [samples]
    if rate != sample_rate:
        if not resample:
            raise DataFileError(f"{path}: sampled at {rate} Hz, expected {sample_rate} Hz; pass resample=True to "
                                f"convert on load (torchaudio.functional.resample), or resample the files once")
        import torchaudio.functional as AF

        wave = AF.resample(wave, rate, sample_rate)
    return wave


def _check_rate(sample_rate: int, what: str) -> None:
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"{what}: sample_rate must be a positive int, got {sample_rate!r}")


class WavFolder(torch.utils.data.Dataset):
    """Clips labelled by folder, as in Speech Commands: ``root/<label>/*.wav`` -> ``(waveform [samples], label)``.

    ``classes`` are the sub-folder names, sorted; folders whose name starts with ``_`` or ``.``
    (Speech Commands' ``_background_noise_``) are not classes and are listed in ``skipped``.
    Waveforms are mono (channels averaged) float32 at ``sample_rate``: a file at another rate
    raises ``DataFileError`` when read, unless ``resample=True``.
    """

    def __init__(self, root: str | os.PathLike, *, sample_rate: int, resample: bool = False) -> None:
        _check_rate(sample_rate, "WavFolder")
        root = Path(root)
        if not root.is_dir():
            raise DataFileError(f"WavFolder: {root} is not a folder" + ("" if root.exists() else " (it does not exist)"))
        stray = sorted(p.name for p in root.glob("*.wav"))
        if stray:
            raise DataFileError(f"WavFolder: {root} has .wav files directly inside ({', '.join(stray[:3])}...); "
                                f"expected root/<label>/*.wav, one sub-folder per class")
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        self.skipped = [p.name for p in folders if p.name[0] in "_."]
        self.classes = [p.name for p in folders if p.name[0] not in "_."]
        if not self.classes:
            raise DataFileError(f"WavFolder: no class sub-folders in {root}; expected root/<label>/*.wav")
        self.files: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            clips = sorted(p for p in (root / name).rglob("*.wav") if p.is_file())
            if not clips:
                raise DataFileError(f"WavFolder: the class folder {root / name} has no .wav files")
            self.files += [(clip, label) for clip in clips]
        self.root, self.sample_rate, self.resample = root, sample_rate, resample

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.files[index]
        return load_mono(path, self.sample_rate, self.resample), label

    def __repr__(self) -> str:
        return f"WavFolder({str(self.root)!r}, {len(self)} clips, {len(self.classes)} classes)"


class TranscriptManifest(torch.utils.data.Dataset):
    """Speech with transcripts from a CSV manifest: columns ``path,transcript`` -> ``(waveform [samples], str)``.

    Relative paths are taken from the CSV's folder; extra columns are allowed. Every listed file
    must exist (checked when created). ``alphabet`` is the sorted set of transcript characters.
    Waveforms are mono float32 at ``sample_rate`` (see ``WavFolder`` for ``resample``).
    """

    def __init__(self, csv_path: str | os.PathLike, *, sample_rate: int, resample: bool = False) -> None:
        _check_rate(sample_rate, "TranscriptManifest")
        csv_path = Path(csv_path)
        if not csv_path.is_file():
            raise DataFileError(f"TranscriptManifest: {csv_path} " + ("is not a file" if csv_path.exists()
                                                                      else "does not exist"))
        self.items: list[tuple[Path, str]] = []
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or not {"path", "transcript"} <= {h.strip() for h in header}:
                raise DataFileError(f"{csv_path}, line 1: the header must name the columns 'path' and 'transcript', "
                                    f"found {header}")
            header = [h.strip() for h in header]
            column_path, column_text = header.index("path"), header.index("transcript")
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataFileError(f"{csv_path}, line {reader.line_num}: {len(row)} fields, expected "
                                        f"{len(header)} ({','.join(header)}); quote transcripts that contain commas")
                if not row[column_path].strip():
                    raise DataFileError(f"{csv_path}, line {reader.line_num}: empty path")
                audio = csv_path.parent / row[column_path].strip()
                if not audio.is_file():
                    raise DataFileError(f"{csv_path}, line {reader.line_num}: audio file {audio} does not exist")
                self.items.append((audio, row[column_text]))
        if not self.items:
            raise DataFileError(f"TranscriptManifest: {csv_path} lists no files")
        self.alphabet = "".join(sorted({c for _, text in self.items for c in text}))
        self.csv_path, self.sample_rate, self.resample = csv_path, sample_rate, resample

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Tensor, str]:
        path, transcript = self.items[index]
        return load_mono(path, self.sample_rate, self.resample), transcript

    def __repr__(self) -> str:
        return f"TranscriptManifest({str(self.csv_path)!r}, {len(self)} clips)"
