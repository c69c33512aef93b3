"""The Python code blocks of a markdown file, in order, with the reason for any that is not run.

A block runs unless the line right before its opening fence is ``<!-- not run: REASON -->``
(it needs the network, a GPU, or files the reader brings); the reason is required.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>\s*)```python\s*$")  # in a list item too
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None  # the reason, or None for a block that runs


def python_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
            marker = NOT_RUN.match(lines[i - 1].strip()) if i else None
            code = textwrap.dedent("\n".join(lines[i + 1:end])) + "\n"
            blocks.append(Block(path, i + 1, code, marker.group("reason") if marker else None))
            i = end
        i += 1
    return blocks
