"""Images with captions from a local file, for the contrastive (image-text) recipe.

    data = ImageCaptions("train.jsonl")   # {"image": "images/0001.jpg", "caption": "a dog on a beach"} a line
    data = ImageCaptions("train.csv")     # a header naming the columns image and caption, then one row a pair
    image, caption = data[0]

Image paths are relative to the file's folder (absolute paths are kept). An image may be listed
more than once, with another caption each time (as COCO has five a picture); ``image_ids`` says
which rows share an image, so retrieval metrics count any of its captions as a hit. Everything
is checked when the dataset is created and a problem raises ``DataFileError`` naming the file and
line: a missing column or field, a caption that is not a string or is empty, a missing image, an
image PIL cannot read (`zoo.data.files.check_images`), a file with no pairs.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from . import files
from .files import DataFileError, _report, load_rgb

FORMATS = {".jsonl": "jsonl", ".csv": "csv"}


def _short(text: str, limit: int = 60) -> str:
    """A caption quoted for an error message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


class ImageCaptions(torch.utils.data.Dataset):
    """``(image, caption)`` pairs listed in a ``.jsonl`` or ``.csv`` file; the image is read on access.

    ``transform`` turns the RGB PIL image into what the items hold (e.g. a tensor ``[3, H, W]``);
    without one, items hold the PIL image. ``image_field`` and ``caption_field`` name the JSON
    fields or CSV columns (default ``image`` and ``caption``); other fields or columns are
    ignored. Attributes: ``path`` (the list file), ``paths`` (each row's image), ``captions``,
    ``lines`` (each row's line in the file), ``image_ids`` (rows listing the same image file share
    an id). ``check_images=False`` skips opening every image when created (missing files are
    still errors); a damaged image is then a ``DataFileError`` when it is read.
    """

    def __init__(self, path: str | os.PathLike, *, transform: Callable | None = None, image_field: str = "image",
                 caption_field: str = "caption", check_images: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFileError(f"ImageCaptions: {self.path} " + ("is not a file" if self.path.exists()
                                                                  else "does not exist"))
        kind = FORMATS.get(self.path.suffix.lower())
        if kind is None:
            raise DataFileError(f"ImageCaptions: {self.path} must be a .jsonl file (one {{\"{image_field}\": ..., "
                                f"\"{caption_field}\": ...}} object a line) or a .csv file with a header naming "
                                f"the columns {image_field} and {caption_field}")
        self.transform, self.image_field, self.caption_field = transform, image_field, caption_field
        rows = self._jsonl() if kind == "jsonl" else self._csv()
        if not rows:
            raise DataFileError(f"ImageCaptions: {self.path} lists no image-caption pairs (the file is empty"
                                + (" but for its header)" if kind == "csv" else ")"))
        self.lines = [line for line, _, _ in rows]
        self.paths = [self._resolve(image) for _, image, _ in rows]
        self.captions = [caption for _, _, caption in rows]
        missing = [(p, f"{self.path}, line {line}: image file {p} does not exist")
                   for line, p in zip(self.lines, self.paths) if not p.is_file()]
        if missing:
            raise DataFileError(_report(missing))
        ids: dict[Path, int] = {}
        self.image_ids = [ids.setdefault(p, len(ids)) for p in self.paths]
        if check_images:
            files.check_images(list(ids))  # each distinct file once

    def _resolve(self, image: str) -> Path:
        return self.path.parent / image  # an absolute path stays as it is

    def _row(self, line: int, image: Any, caption: Any, where: str) -> tuple[int, str, str]:
        if not isinstance(caption, str):
            hint = ("; one caption a row: list the image again on another row for each further caption"
                    if isinstance(caption, list) else "")
            raise DataFileError(f"{self.path}, line {line}: {where} {self.caption_field!r} must be a string, "
                                f"found {type(caption).__name__}{hint}")
        if not isinstance(image, str):
            raise DataFileError(f"{self.path}, line {line}: {where} {self.image_field!r} must be a string (a path), "
                                f"found {type(image).__name__}")
        if not image.strip():
            raise DataFileError(f"{self.path}, line {line}: empty image path")
        if not caption.strip():
            raise DataFileError(f"{self.path}, line {line}: empty caption (image {image})")
        return line, image.strip(), caption

    def _jsonl(self) -> list[tuple[int, str, str]]:
        rows = []
        with open(self.path, encoding="utf-8-sig") as handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as error:
                    raise DataFileError(f"{self.path}, line {number}: invalid JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise DataFileError(f"{self.path}, line {number}: expected a JSON object with the fields "
                                        f"{self.image_field!r} and {self.caption_field!r}, found "
                                        f"{type(record).__name__}")
                absent = [f for f in (self.image_field, self.caption_field) if f not in record]
                if absent:
                    raise DataFileError(f"{self.path}, line {number}: no field {absent[0]!r} (the object has "
                                        f"{sorted(record)})")
                rows.append(self._row(number, record[self.image_field], record[self.caption_field], "field"))
        return rows

    def _csv(self) -> list[tuple[int, str, str]]:
        rows = []
        with open(self.path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return rows
            header = [h.strip() for h in header]
            absent = [f for f in (self.image_field, self.caption_field) if f not in header]
            if absent:
                raise DataFileError(f"{self.path}, line 1: the header must name the columns {self.image_field!r} "
                                    f"and {self.caption_field!r}; found {header}")
            image_column, caption_column = header.index(self.image_field), header.index(self.caption_field)
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1  # a quoted caption may span lines
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataFileError(f"{self.path}, line {line}: {len(row)} fields, expected {len(header)} "
                                        f"({','.join(header)}); quote captions that contain commas")
                rows.append(self._row(line, row[image_column], row[caption_column], "column"))
        return rows

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> tuple[Any, str]:
        image = load_rgb(self.paths[index])
        return (self.transform(image) if self.transform is not None else image), self.captions[index]

    def where(self, index: int) -> str:
        """``"file, line N"`` of row ``index``, for messages."""
        return f"{self.path}, line {self.lines[index]}"

    def check_caption_lengths(self, count: Callable[[Sequence[str]], Sequence[int]], limit: int, fix: str) -> None:
        """Raise ``DataFileError`` naming the captions of more than ``limit`` tokens, as ``count`` (captions ->
        token counts) measures them; ``fix`` says what to do about it."""
        long = [(i, n) for i, n in enumerate(count(self.captions)) if n > limit]
        if long:
            (first, n), more = long[0], [f"line {self.lines[i]}" for i, _ in long[1:4]]
            also = (f" (and {len(long) - 1} more: {', '.join(more)}{', ...' if len(long) > 4 else ''})"
                    if more else "")
            raise DataFileError(f"{self.where(first)}: the caption {_short(self.captions[first])} is {n} tokens, "
                                f"more than the model's context_length={limit}{also}; {fix}")

    def __repr__(self) -> str:
        return f"ImageCaptions({str(self.path)!r}, {len(self)} pairs, {len(set(self.image_ids))} images)"
