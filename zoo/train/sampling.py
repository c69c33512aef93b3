"""Which examples each process sees, as a pure function of (seed, epoch, batch, rank).

Every epoch is one seeded permutation of the training set, cut into global batches of
``batch_size * world_size``; process ``rank`` takes its contiguous slice of each. So a
global batch is the same for any number of processes (2 processes x b see what 1 process
x 2b sees), and resuming at ``(epoch, batch)`` needs no state beyond those two numbers.
"""
from __future__ import annotations

from typing import Iterator

import torch


def batches_per_epoch(num_examples: int, batch_size: int, world_size: int = 1) -> int:
    """Full global batches in one epoch (the remainder is dropped, so every step is the same size)."""
    count = num_examples // (batch_size * world_size)
    if count == 0:
        raise ValueError(f"the training set has {num_examples} examples, fewer than one global batch "
                         f"(batch_size {batch_size} x {world_size} processes); use a smaller train.batch_size")
    return count


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_examples, generator=generator)


def train_batches(num_examples: int, batch_size: int, *, seed: int, epoch: int, start: int = 0,
                  rank: int = 0, world_size: int = 1) -> Iterator[list[int]]:
    """This process's example indices for batches ``start, start + 1, ...`` of ``epoch``."""
    order = epoch_permutation(num_examples, seed, epoch)
    global_batch = batch_size * world_size
    for b in range(start, batches_per_epoch(num_examples, batch_size, world_size)):
        first = b * global_batch + rank * batch_size
        yield order[first:first + batch_size].tolist()


def eval_batches(num_examples: int, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 limit: int = 0) -> Iterator[list[int]]:
    """This process's share of the validation set, in order: every example once across processes.

    Each process gets the same number of batches (the last may be short or empty), so
    collective calls inside evaluation stay in step. ``limit`` > 0 keeps the first batches only.
    """
    global_batch = batch_size * world_size
    total = -(-num_examples // global_batch)  # ceil: global batches, split row by row across processes
    if limit:
        total = min(total, limit)
    for b in range(total):
        rows = range(b * global_batch, min((b + 1) * global_batch, num_examples))
        yield list(rows[rank::world_size])
