"""Weights: reading and saving state dicts, and the helpers a family's key map is written with.

    from zoo.weights import rename_keys, check_hf_config, WeightsError

`rename_keys` renames a foreign state dict's keys by regex rules, `check_hf_config` compares a
Hugging Face ``config.json`` with the spec being built; docs/plugins.md shows both in a key map.
They load on first use, so ``import zoo.weights.errors`` stays torch-free.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {"rename_keys": "keymap", "check_hf_config": "huggingface", "WeightsError": "errors"}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
