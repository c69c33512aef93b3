"""Speed of zoo's ViT against timm's, with the same weights, in one process.

What it measures, for zoo ``vit-<size>`` and timm ``vit_<size>_patch16_224``:

1. forward throughput (images/s): eval mode under ``torch.inference_mode``, batch 8;
2. training-step throughput (images/s): train mode, forward + cross-entropy + backward
   + AdamW step (one optimizer per model), batch 16.

How: timm's model is built with random weights, its state dict is saved to a temporary
file and loaded into zoo's through ``zoo.create(..., weights=path)``; the logits are
compared first (max abs diff printed) so both models compute the same thing. After a few
warmup iterations the two models take turns, ABBA order (zoo, timm, timm, zoo, ...), for
``--rounds`` rounds of ``--iters`` timed iterations each; the table reports the median
images/s over rounds for each model, the median over rounds of the paired ratio zoo/timm
(>= 1.0 means zoo is at least as fast) and that ratio's interquartile range: when it
contains 1.0 the difference is within the machine's round-to-round noise. Timing is
wall-clock, so run it on an otherwise idle machine; on a shared CPU box, ``--threads 1
--clock cpu`` counts only this process's CPU time and is steadier.

Run (defaults: vit-small, fp32 on CPU; about 2 minutes on 2 idle CPU cores):

    python benchmarks/vision.py
    python benchmarks/vision.py --model-size tiny --rounds 10 --threads 2
    python benchmarks/vision.py --threads 1 --clock cpu        # shared machine
    python benchmarks/vision.py --device cuda --dtype bfloat16 --rounds 20 --iters 10
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from typing import Callable

import timm
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from _timing import CLOCKS, DTYPES, add_run_options, check_run_options, interleaved, paired_ratio  # benchmarks/_timing.py, next to this script

SIZES = {  # --model-size -> (zoo card, timm model name)
    "tiny": ("vit-tiny", "vit_tiny_patch16_224"),
    "small": ("vit-small", "vit_small_patch16_224"),
    "base": ("vit-base", "vit_base_patch16_224"),
}
DEFAULT_ITERS = {"forward": 4, "train": 1}  # a train step costs ~10x a forward at these batches on CPU
PARITY_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-1, torch.float16: 1e-2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-size", choices=sorted(SIZES), default="small")
    add_run_options(parser)
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per model and metric")
    parser.add_argument("--iters", type=int, default=None,
                        help=f"iterations timed in each round (default: {DEFAULT_ITERS['forward']} forward, "
                             f"{DEFAULT_ITERS['train']} train step)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations per model before timing")
    parser.add_argument("--batch-forward", type=int, default=8)
    parser.add_argument("--batch-train", type=int, default=16)
    args = parser.parse_args(argv)
    check_run_options(parser, args, ("rounds", "iters", "batch_forward", "batch_train"))
    return args


def build_pair(size: str, device: torch.device, dtype: torch.dtype) -> dict[str, nn.Module]:
    """zoo's and timm's model of ``size``, holding the same (random) weights."""
    card, timm_name = SIZES[size]
    reference = timm.create_model(timm_name, pretrained=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{timm_name}.pth")
        torch.save(reference.state_dict(), path)
        ours = zoo.create(card, weights=path)
    return {"zoo": ours.to(device, dtype), "timm": reference.to(device, dtype)}


def check_parity(models: dict[str, nn.Module], images: torch.Tensor) -> float:
    """Max abs difference of the logits; raises if the models do not compute the same thing."""
    with torch.inference_mode():
        logits = {name: model.eval()(images).float() for name, model in models.items()}
    diff = (logits["zoo"] - logits["timm"]).abs().max().item()
    tolerance = PARITY_TOLERANCE[images.dtype]
    if not diff <= tolerance:
        raise SystemExit(f"logits differ by {diff:.3g} (> {tolerance:g}): the models are not equivalent, "
                         "so their speeds are not comparable")
    return diff


def forward_step(model: nn.Module, images: torch.Tensor) -> Callable[[], None]:
    """One eval forward under inference mode."""
    model.eval()

    def step() -> None:
        with torch.inference_mode():
            model(images)

    return step


def train_step(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> Callable[[], None]:
    """One optimisation step: forward, cross-entropy, backward, AdamW (its own optimizer)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), targets).backward()
        optimizer.step()

    return step


def summarise(metric: str, batch: int, results: dict[str, list[float]]) -> tuple[str, float, bool]:
    """A table row, the ratio zoo/timm, and whether 1.0 lies inside the noise.

    The ratio is the median of the per-round paired ratios (zoo and timm timed back to back
    in the same round; see `_timing.paired_ratio`); the noise is their interquartile range.
    """
    ratio, low, high = paired_ratio(results["zoo"], results["timm"])
    zoo_ips, timm_ips = statistics.median(results["zoo"]), statistics.median(results["timm"])
    row = f"{metric:<12} {batch:>5} {zoo_ips:>11.2f} {timm_ips:>11.2f} {ratio:>8.3f}x {low:>6.3f}-{high:.3f}"
    return row, ratio, low <= 1.0 <= high


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    card, timm_name = SIZES[args.model_size]
    models = build_pair(args.model_size, device, dtype)
    num_classes = models["timm"].num_classes

    print(f"zoo {card} vs timm {timm_name} | {device} {args.dtype} | threads {torch.get_num_threads()} | "
          f"torch {torch.__version__}, timm {timm.__version__}")
    iters = {metric: args.iters or default for metric, default in DEFAULT_ITERS.items()}
    print(f"{args.rounds} rounds x {iters['forward']} forward / {iters['train']} train iters "
          f"(warmup {args.warmup}), ABBA order, median over rounds, {args.clock} clock")
    fwd_images = torch.randn(args.batch_forward, 3, 224, 224, device=device, dtype=dtype)
    print(f"parity: max |logits zoo - timm| = {check_parity(models, fwd_images):.3g}")

    forward = interleaved({name: forward_step(m, fwd_images) for name, m in models.items()},
                          work=args.batch_forward, rounds=args.rounds, iters=iters["forward"],
                          warmup=args.warmup, device=device, clock=CLOCKS[args.clock])
    train_images = torch.randn(args.batch_train, 3, 224, 224, device=device, dtype=dtype)
    targets = torch.randint(0, num_classes, (args.batch_train,), device=device)
    train = interleaved({name: train_step(m, train_images, targets) for name, m in models.items()},
                        work=args.batch_train, rounds=args.rounds, iters=iters["train"],
                        warmup=args.warmup, device=device, clock=CLOCKS[args.clock])

    rows = {"forward": summarise("forward", args.batch_forward, forward),
            "train step": summarise("train step", args.batch_train, train)}
    print()
    print(f"{'metric':<12} {'batch':>5} {'zoo img/s':>11} {'timm img/s':>11} {'zoo/timm':>9} {'paired IQR':>12}")
    for row, _, _ in rows.values():
        print(row)
    print()
    missed = [metric for metric, (_, ratio, _) in rows.items() if ratio < 1.0]
    within_noise = [metric for metric, (_, _, noisy) in rows.items() if noisy]
    verdict = f"NOT met ({', '.join(missed)} below 1.0x)" if missed else "met on both metrics"
    print(f"target zoo/timm >= 1.0x: {verdict}")
    if within_noise:
        print(f"  note: 1.0 lies inside the paired-ratio IQR for {', '.join(within_noise)}: "
              "the difference there is within round-to-round noise")


if __name__ == "__main__":
    main()
