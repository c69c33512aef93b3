"""Real data from local files for the recipes: text lines, JSONL records, WAV folders, transcripts, images.

Each is a map-style torch Dataset that checks its files when created and raises
``DataFileError`` naming the file (and line) for a missing path, an empty folder, a bad row, a
damaged WAV header or an unreadable image, so a recipe fails before training starts rather
than halfway. The checks read headers, not whole files (see `check_wavs`, `check_images`); a
file that still fails when read during training raises ``DataFileError`` naming it.
"""
from __future__ import annotations

import csv
import json
import os
from array import array
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from .wav import WavError, read_wav, wav_info


class DataFileError(ValueError):
    """A data file or folder that is missing, empty or malformed."""


class SampleRateError(DataFileError):
    """WAV files at another sample rate than asked for, with resampling off; ``fix`` says how to turn it on."""

    def __init__(self, path: Path, rate: int, expected: int, others: int = 0,
                 fix: str = "pass resample=True to convert on load (torchaudio.functional.resample)") -> None:
        self.path, self.rate, self.expected, self.others = path, rate, expected, others
        also = f" (and {others} more files not at {expected} Hz)" if others else ""
        super().__init__(f"{path}: sampled at {rate} Hz, expected {expected} Hz{also}; {fix}, or resample the "
                         f"files once")

    def with_fix(self, fix: str) -> SampleRateError:
        """The same error, saying ``fix`` (e.g. a recipe's config key) instead of the keyword argument."""
        return SampleRateError(self.path, self.rate, self.expected, self.others, fix)


def _report(problems: list[tuple[Path, str]]) -> str:
    """One line for one or more bad files: the first one's problem, then how many more and which."""
    message = problems[0][1]
    if len(problems) > 1:
        more = [str(path) for path, _ in problems[1:4]]
        message += f" (and {len(problems) - 1} more bad files: {', '.join(more)}{', ...' if len(problems) > 4 else ''})"
    return message


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
    try:
        wave, rate = read_wav(path)  # [channels, samples]
    except WavError as error:  # the file changed since it was checked
        raise DataFileError(str(error)) from None
    wave = wave.mean(0)  # [samples]
    if rate != sample_rate:
        if not resample:
            raise SampleRateError(path, rate, sample_rate)
        import torchaudio.functional as AF

        wave = AF.resample(wave, rate, sample_rate)
    return wave


def check_wavs(paths: Sequence[Path], sample_rate: int, resample: bool) -> list[int]:
    """Each WAV file's length in samples at ``sample_rate`` (after resampling), from its header alone.

    Raises ``DataFileError`` naming the files that are not readable WAVs or hold no samples,
    and ``SampleRateError`` for files at another rate unless ``resample``.
    """
    lengths, bad, other_rate = [], [], []
    for path in paths:
        try:
            info = wav_info(path)
        except (WavError, OSError) as error:
            bad.append((path, str(error) if isinstance(error, WavError) else f"{path}: {error.strerror}"))
            continue
        if info.frames == 0:
            bad.append((path, f"{path}: no samples (the 'data' chunk is empty)"))
        if info.sample_rate != sample_rate and not resample:
            other_rate.append((path, info.sample_rate))
        lengths.append(-(-info.frames * sample_rate // info.sample_rate))  # torchaudio's resampled length (ceil)
    if bad:
        raise DataFileError(_report(bad))
    if other_rate:
        raise SampleRateError(*other_rate[0], sample_rate, len(other_rate) - 1)
    return lengths


def _check_rate(sample_rate: int, what: str) -> None:
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"{what}: sample_rate must be a positive int, got {sample_rate!r}")


class _WavClips(torch.utils.data.Dataset):
    """WAV clips whose headers were checked when created; ``samples[i]`` is clip i's length at ``sample_rate``."""

    paths: list[Path]

    def _check(self, sample_rate: int, resample: bool) -> None:
        self.samples = check_wavs(self.paths, sample_rate, resample)
        self.sample_rate, self.resample = sample_rate, resample

    def __len__(self) -> int:
        return len(self.paths)

    def waveform(self, index: int) -> Tensor:
        """Clip ``index`` as mono float32 ``[samples]`` at ``sample_rate``."""
        return load_mono(self.paths[index], self.sample_rate, self.resample)

    def check_lengths(self, shortest: int, longest: int | None) -> None:
        """Raise ``DataFileError`` naming the clips shorter than ``shortest`` or longer than ``longest`` samples
        (a model's front end limits: ``frontend.min_samples``, ``frontend.max_samples``)."""
        rate, problems = self.sample_rate, []
        for path, n in zip(self.paths, self.samples):
            if n < shortest:
                problems.append((path, f"{path}: {n} samples ({1000 * n / rate:g} ms at {rate} Hz) is shorter than "
                                       f"the {shortest} samples ({1000 * shortest / rate:g} ms) the model needs"))
            elif longest is not None and n > longest:
                problems.append((path, f"{path}: {n} samples ({n / rate:g} s at {rate} Hz) is longer than the "
                                       f"{longest} samples ({longest / rate:g} s) the model takes; split or crop it"))
        if problems:
            raise DataFileError(_report(problems))


class WavFolder(_WavClips):
    """Clips labelled by folder, as in Speech Commands: ``root/<label>/*.wav`` -> ``(waveform [samples], label)``.

    ``classes`` are the sub-folder names, sorted; folders whose name starts with ``_`` or ``.``
    (Speech Commands' ``_background_noise_``) are not classes and are listed in ``skipped``.
    Waveforms are mono (channels averaged) float32 at ``sample_rate``. Every file's header is
    checked when created (`check_wavs`): a file at another rate raises ``SampleRateError``
    unless ``resample=True``.
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
        self.root, self.paths = root, [path for path, _ in self.files]
        self._check(sample_rate, resample)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.waveform(index), self.files[index][1]

    def __repr__(self) -> str:
        return f"WavFolder({str(self.root)!r}, {len(self)} clips, {len(self.classes)} classes)"


class TranscriptManifest(_WavClips):
    """Speech with transcripts from a CSV manifest: columns ``path,transcript`` -> ``(waveform [samples], str)``.

    Relative paths are taken from the CSV's folder; extra columns are allowed. Every listed file
    must exist and is checked when created (see ``WavFolder``). ``alphabet`` is the sorted set of
    transcript characters. Waveforms are mono float32 at ``sample_rate``.
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
        self.csv_path, self.paths = csv_path, [path for path, _ in self.items]
        self._check(sample_rate, resample)

    def __getitem__(self, index: int) -> tuple[Tensor, str]:
        return self.waveform(index), self.items[index][1]

    def check_transcripts(self, steps: Sequence[int]) -> None:
        """Raise ``DataFileError`` naming the clips whose transcript cannot fit their ``steps[i]`` CTC time steps
        (one per character, plus a blank between repeated characters)."""
        problems = []
        for (path, text), available in zip(self.items, steps):
            needed = len(text) + sum(a == b for a, b in zip(text, text[1:]))
            if needed > available:
                problems.append((path, f"{path}: its transcript ({len(text)} characters) needs {needed} CTC time "
                                       f"steps, but the model gives this clip {available}; check the manifest "
                                       f"{self.csv_path} (a transcript of another clip?)"))
        if problems:
            raise DataFileError(_report(problems))

    def __repr__(self) -> str:
        return f"TranscriptManifest({str(self.csv_path)!r}, {len(self)} clips)"


def _image_problem(error: Exception) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "not an image PIL can read: an unknown format or a damaged header"
    return f"{type(error).__name__}: {error}"


def load_rgb(path: str | os.PathLike) -> Any:
    """An image file as an RGB PIL image (torchvision's loader); a file PIL cannot read raises ``DataFileError``."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, struct.error ... for damaged files
        raise DataFileError(f"{path}: cannot read the image ({_image_problem(error)})") from None


def _jpeg_ends(path: Path) -> bool:
    """Whether the JPEG end-of-image marker is in the file's last 4 KiB; a truncated JPEG lacks it."""
    with open(path, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
        return b"\xff\xd9" in handle.read()


def _check_image(path: Path) -> None:
    """Open an image and check what its format allows cheaply; decode it where that is not enough."""
    from PIL import Image

    with Image.open(path) as image:  # parses the header: format, mode, size
        if image.format == "PNG" or (image.format == "JPEG" and _jpeg_ends(path)):
            image.verify()  # PNG: every chunk and its checksum, to the end of the file
        else:
            image.load()  # a JPEG without its end marker (truncated, or data appended) or a rarer format


def check_images(paths: Sequence[Path]) -> None:
    """Raise ``DataFileError`` naming the image files that PIL cannot read or that are truncated.

    Headers only for JPEG and PNG (about 0.1 ms a file); a JPEG whose end marker is missing
    and any other format is decoded in full. ``verify()`` alone passes a truncated JPEG.
    """
    problems = []
    for path in paths:
        try:
            _check_image(path)
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, struct.error ... for damaged files
            problems.append((path, f"{path}: {_image_problem(error)}"))
    if problems:
        raise DataFileError(_report(problems))


def image_folder(root: str | os.PathLike, transform: Callable | None = None) -> Any:
    """torchvision's ``ImageFolder`` (``root/<class>/*.jpg``, any format PIL reads), every image checked first
    (`check_images`) and read with `load_rgb`, so a damaged file is a ``DataFileError`` naming it."""
    from torchvision.datasets import ImageFolder

    try:
        data = ImageFolder(str(root), transform=transform, loader=load_rgb)
    except FileNotFoundError as error:  # torchvision: no class folders, or a class folder without images
        raise DataFileError(f"{root}: {error}") from None
    check_images([Path(path) for path, _ in data.samples])
    return data
