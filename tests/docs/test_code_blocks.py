"""Every Python code block in the README and docs/ runs, in order, one namespace per file.

Blocks run in a temporary working directory, so examples that save models or write files
leave nothing behind. A block that cannot run here (it downloads weights, needs a GPU or the
reader's own files) is marked ``<!-- not run: REASON -->`` on the line before it; the reason
is checked to be there, so nothing is skipped silently.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from markdown_blocks import python_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "examples" / "zoo-plugin-example" / "README.md"])
WITH_CODE = [p for p in DOCS if python_blocks(p)]


@pytest.mark.parametrize("path", WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(path, tmp_path, monkeypatch):
    """The file's blocks run as one module would, as a reader pasting them into a script gets: their own
    ``__future__`` flags (not this file's), and a module in sys.modules (dataclasses look theirs up)."""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    module = types.ModuleType(f"doc_{path.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in python_blocks(path):
        if block.not_run is not None:
            assert block.not_run, f"{path.name}:{block.line}: '<!-- not run: -->' needs a reason"
            continue
        try:
            exec(compile(block.code, f"{path.relative_to(ROOT)}:{block.line}", "exec", dont_inherit=True),
                 module.__dict__)
        except Exception as exc:
            raise AssertionError(f"the code block at {path.relative_to(ROOT)}:{block.line} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc


def test_blocks_are_found_and_markers_read(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```python\nx = 1\n```\n<!-- not run: downloads weights -->\n```python\nraise SystemExit\n```\n")
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.not_run) for b in blocks] == [(2, "x = 1\n", None), (6, "raise SystemExit\n",
                                                                                      "downloads weights")]
    page.write_text("- a list item:\n\n  ```python\n  y = 2\n  ```\n")  # an indented fence is found too
    assert [(b.line, b.code) for b in python_blocks(page)] == [(3, "y = 2\n")]
