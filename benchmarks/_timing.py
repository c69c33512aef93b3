"""Timing shared by the side-by-side benchmarks: interleaved ABBA rounds and paired ratios.

A benchmark hands `interleaved` one zero-argument step per model (a forward, a train step,
a whole ``generate`` call) and how much work one step does (images, tokens); it gets back
the work per second of every round for each model. `paired_ratio` turns two such lists
into the median of the per-round ratios and that ratio's interquartile range.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}  # cpu: this process's CPU time


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """--device, --dtype, --threads, --clock and --seed, the same for every benchmark."""
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: CPU time of this process, steadier on a shared machine "
                             "(use with --threads 1, CPU only: idle-waiting threads and the GPU are not counted)")
    parser.add_argument("--seed", type=int, default=0)


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace, counts: tuple[str, ...]) -> None:
    """Reject --clock cpu off the CPU, counts (``counts`` plus --threads) below 1 and a negative --warmup."""
    if args.clock == "cpu" and torch.device(args.device).type != "cpu":
        parser.error("--clock cpu measures CPU time, so it needs --device cpu")
    for name in (*counts, "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step: Callable[[], object], iters: int, work: float, device: torch.device,
         clock: Callable[[], float]) -> float:
    """Work per second over ``iters`` back-to-back calls of ``step``, each doing ``work`` units."""
    sync(device)
    start = clock()
    for _ in range(iters):
        step()
    sync(device)
    return iters * work / (clock() - start)


def interleaved(steps: dict[str, Callable[[], object]], *, work: float, rounds: int, iters: int, warmup: int,
                device: torch.device, clock: Callable[[], float]) -> dict[str, list[float]]:
    """Work/s per round for each step, alternating the models ABBA so drift hits both alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    sync(device)
    names = list(steps)
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(rate(steps[name], iters, work, device, clock))
    return results


def paired_ratio(ours: list[float], reference: list[float]) -> tuple[float, float, float]:
    """(median, lower quartile, upper quartile) of the per-round ratios ours/reference.

    Each round times both models back to back, so the paired ratio cancels drift of the
    machine's speed better than a ratio of medians; the quartiles show the round-to-round
    noise (with one round all three are that round's ratio).
    """
    paired = [o / r for o, r in zip(ours, reference)]
    ratio = statistics.median(paired)
    low, _, high = statistics.quantiles(paired, n=4) if len(paired) > 1 else (ratio,) * 3
    return ratio, low, high
