"""Per-item random streams: item ``i`` of a dataset depends only on ``(seed, i)``.

A splitmix64 mix turns the pair into one 64-bit seed, so neighbouring items and neighbouring
seeds get unrelated streams, and any item can be regenerated alone (random access, workers).
"""
from __future__ import annotations

import random

import torch

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def item_seed(seed: int, index: int, salt: int = 0) -> int:
    """A 63-bit seed for item ``index`` of the dataset seeded ``seed`` (``salt`` separates datasets)."""
    return _splitmix64(_splitmix64(_splitmix64(salt) ^ (seed & _MASK)) ^ (index & _MASK)) >> 1


def item_random(seed: int, index: int, salt: int = 0) -> random.Random:
    """A Python RNG for one item (cheap; for choosing symbols, sizes and durations)."""
    return random.Random(item_seed(seed, index, salt))


def item_generator(seed: int, index: int, salt: int = 0) -> torch.Generator:
    """A CPU torch generator for one item (for noise tensors)."""
    return torch.Generator().manual_seed(item_seed(seed, index, salt))


def check_size(name: str, size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{name}: size must be a non-negative int, got {size!r}")


def check_index(name: str, index: int, size: int) -> int:
    """Python-style index (negatives count from the end); IndexError outside the dataset."""
    i = index if isinstance(index, int) else int(index)  # numpy / torch integer scalars from samplers
    if i < 0:
        i += size
    if not 0 <= i < size:
        raise IndexError(f"{name} index {index} out of range for a dataset of size {size}")
    return i
