"""What a run wrote: ``run_dir/run_files.json`` records every output before it is written.

A run writes ``config.toml``, ``metrics.jsonl``, ``plot.png``, ``checkpoints/`` and ``model/``
inside its ``output_dir``, a folder the user chose and that may hold their own files. The
record lets a run remove or overwrite only what a run wrote there: ``resume=false`` removes
the recorded files and refuses to start while ``checkpoints/`` or ``model/`` hold anything
else, and no run writes over a file it did not record. A name is recorded before its file is
written, so a crash leaves at worst a recorded name without a file, never an unrecorded file.
The temporary files the atomic writers use (``.NAME.tmp``, ``.NAME.XXXX.tmp``) count as the
recorded file's own.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

RECORD_NAME = "run_files.json"
FORMAT = "transformer-zoo-run-files-v1"
TOP_LEVEL = ("config.toml", "metrics.jsonl", "plot.png")  # besides checkpoints/ and model/
FOLDERS = ("checkpoints", "model")


class ForeignFilesError(RuntimeError):
    """The run directory holds files this run would overwrite or remove but did not write."""


class RunFiles:
    """The record of one run directory's outputs (relative POSIX paths). Only rank 0 keeps one."""

    def __init__(self, run_dir: Path, *, enabled: bool = True) -> None:
        self.run_dir, self.enabled = Path(run_dir), enabled
        self.path = self.run_dir / RECORD_NAME
        self._names: set[str] | None = None

    @property
    def names(self) -> set[str]:
        if self._names is None:
            self._names = self._read()
        return self._names

    def _read(self) -> set[str]:
        if not self.path.exists():
            return set()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or not all(isinstance(n, str) for n in data["files"]):
                raise ValueError("unknown format")
            return set(data["files"])
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
            raise ForeignFilesError(f"{self.path} is not a readable record of this run's files ({exc}); "
                                    "without it the run cannot tell its files from yours: move the run's "
                                    "files away or use another output_dir") from None

    def _write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "files": sorted(self.names)}, indent=1) + "\n",
                       encoding="utf-8")
        os.replace(tmp, self.path)

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.run_dir).as_posix()

    def claim(self, *paths: Path) -> None:
        """Record ``paths`` (inside the run directory) as this run's, before writing them."""
        new = {self.relative(p) for p in paths} - self.names
        if self.enabled and new:
            self.names.update(new)
            self._write()

    def forget(self, *paths: Path) -> None:
        """Drop ``paths`` from the record (after they were removed or renamed)."""
        gone = {self.relative(p) for p in paths} & self.names
        if self.enabled and gone:
            self.names.difference_update(gone)
            self._write()

    def owns(self, path: Path) -> bool:
        """``path`` is recorded, or is the temporary file of a recorded one."""
        name = self.relative(path)
        if name in self.names:
            return True
        parent, base = name.rpartition("/")[0], Path(name).name
        if not (base.startswith(".") and base.endswith(".tmp")):
            return False
        return any(base.startswith(f".{Path(r).name}.") and r.rpartition("/")[0] == parent for r in self.names)

    def outputs(self, *, whole_folders: bool) -> list[Path]:
        """Existing files at the run's output names: the top-level files, checkpoints, the saved model;
        with ``whole_folders``, everything inside ``checkpoints/`` and ``model/``."""
        found = [self.run_dir / name for name in TOP_LEVEL]
        for folder in FOLDERS:
            root = self.run_dir / folder
            if whole_folders:
                found += [p for p in root.rglob("*") if not p.is_dir()] if root.is_dir() else []
            elif folder == "model":
                found += [root / "config.json", root / "model.safetensors"]
            else:
                found += list(root.glob("step_*.pt")) if root.is_dir() else []
        return sorted(p for p in found if p.exists() or p.is_symlink())

    def foreign(self, *, whole_folders: bool) -> list[Path]:
        """Files among `outputs` that no run recorded: the run must not overwrite or remove them."""
        return [p for p in self.outputs(whole_folders=whole_folders) if not self.owns(p)]

    def check_no_foreign(self, *, fresh: bool) -> None:
        """Raise `ForeignFilesError` naming the files this run would overwrite (or, ``fresh``, remove)
        that it did not write."""
        foreign = self.foreign(whole_folders=fresh)
        if not foreign:
            return
        shown = ", ".join(self.relative(p) for p in foreign[:10]) + (" ..." if len(foreign) > 10 else "")
        what = ("resume=false would clear checkpoints/ and model/, which hold" if fresh
                else "this run would overwrite or append to")
        raise ForeignFilesError(
            f"{self.run_dir}: {what} files no run recorded writing (not in {RECORD_NAME}): {shown}. "
            "Move them out of the run directory or use another output_dir; nothing was changed")

    def remove_all(self) -> list[Path]:
        """Remove every recorded file (after `check_no_foreign(fresh=True)`); returns what was removed."""
        removed = []
        for path in self.outputs(whole_folders=True):
            if self.owns(path):
                path.unlink()
                removed.append(path)
        self.forget(*[p for p in (self.run_dir / n for n in sorted(self.names)) if not p.exists()])
        return removed
