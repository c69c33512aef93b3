"""Regex key renaming shared by the families' foreign-layout key maps."""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from torch import Tensor


def rename_keys(state: Mapping[str, Tensor], rules: Sequence[tuple[str, str]]) -> dict[str, Tensor]:
    """Apply the first matching ``(pattern, replacement)`` rule to each key.

    Keys no rule matches pass through unchanged, so strict loading reports them as unexpected
    instead of them being silently dropped.
    """
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]
    out = {}
    for key, value in state.items():
        for pattern, replacement in compiled:
            if pattern.match(key):
                key = pattern.sub(replacement, key, count=1)
                break
        out[key] = value
    return out
