"""The Python code blocks of a markdown file, in order, with the reason for any that is not run.

A block runs unless the line right before its opening fence is ``<!-- not run: REASON -->``
(it needs the network, a GPU, or files the reader brings); the reason is required.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```python\s*$")
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
        if FENCE.match(lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marker = NOT_RUN.match(lines[i - 1]) if i else None
            blocks.append(Block(path, i + 1, "\n".join(lines[i + 1:end]) + "\n",
                                marker.group("reason") if marker else None))
            i = end
        i += 1
    return blocks
