"""Speed of zoo's Whisper encoder against transformers' ``WhisperEncoder`` (``--task encode``, the
default), and of transcription, zoo's ``generate`` against transformers' (``--task transcribe``,
benchmarks/_transcribe.py says how), same weights, one process.

What it measures, for zoo ``whisper-encoder-<size>`` and transformers ``WhisperEncoder`` of the
same shape (``--sizes``, default tiny and base): forward throughput in clips/s, eval mode under
``torch.inference_mode``, on log-mel input ``[batch, 80, 3000]`` (30 s clips, the only length
Hugging Face's encoder accepts), passed to ours as ``model(spectrogram=...)``: neither side runs
a front end, so both compute exactly the same thing. Target: zoo/HF >= 1.0x.

How: the reference is built with random weights (biases and norm weights perturbed away from
0 and 1), its state dict is saved in Hugging Face layout and loaded into ours through
``zoo.create(card, weights=path)`` and our key map; the features are compared first (max abs
difference printed; the run stops if they differ beyond the dtype's tolerance). After warmup
the two models take turns, ABBA order, for ``--rounds`` rounds of ``--iters`` forwards each;
the table reports the median clips/s over rounds per model, the median of the per-round
paired ratios zoo/HF and that ratio's interquartile range: when it contains 1.0 the
difference is within the machine's round-to-round noise. Timing is wall-clock, so run it on
an otherwise idle machine; on a shared CPU box, ``--threads 1 --clock cpu`` counts only this
process's CPU time and is steadier.

Run (defaults: tiny and base, batch 4, fp32 on CPU; about 3 minutes on 2 idle CPU cores):

    python benchmarks/audio.py
    python benchmarks/audio.py --sizes tiny --rounds 10 --threads 2
    python benchmarks/audio.py --threads 1 --clock cpu                      # shared machine
    python benchmarks/audio.py --device cuda --dtype bfloat16 --batch 16 --rounds 20 --iters 5
    python benchmarks/audio.py --task transcribe --threads 1 --clock cpu --rounds 5     # whisper-tiny, -base
    python benchmarks/audio.py --task transcribe --hf-cache static                      # their static cache
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import warnings
from typing import Callable

import torch
import transformers
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

import zoo
from _timing import CLOCKS, DTYPES, add_run_options, check_run_options, interleaved, paired_ratio  # benchmarks/_timing.py, next to this script

SIZES = {  # --sizes -> (zoo card, Whisper encoder shape)
    "tiny": ("whisper-encoder-tiny", dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536)),
    "base": ("whisper-encoder-base", dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048)),
    "small": ("whisper-encoder-small", dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072)),
}
FRAMES = 3000
PARITY_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-1, torch.float16: 1e-2}  # relative to max |features|


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("encode", "transcribe"), default="encode",
                        help="encode: the encoders' forward; transcribe: greedy generate of whole models")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["tiny", "base"])
    parser.add_argument("--new-tokens", type=int, default=96, help="transcribe: tokens decoded per clip")
    parser.add_argument("--hf-cache", choices=("static",), help="transcribe: transformers' cache_implementation")
    add_run_options(parser)
    parser.add_argument("--batch", type=int, default=4, help="clips per forward")
    parser.add_argument("--rounds", type=int, default=8, help="timed rounds per model")
    parser.add_argument("--iters", type=int, default=1, help="forwards timed in each round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards per model before timing")
    args = parser.parse_args(argv)
    check_run_options(parser, args, ("batch", "rounds", "iters", "new_tokens"))
    return args


def build_pair(size: str, device: torch.device, dtype: torch.dtype) -> dict[str, nn.Module]:
    """zoo's and transformers' encoder of ``size``, holding the same (random) weights."""
    card, shape = SIZES[size]
    reference = WhisperEncoder(WhisperConfig(num_mel_bins=80, **shape))
    with torch.no_grad():
        for param in reference.parameters():
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "whisper-encoder.pth")
        torch.save({f"model.encoder.{k}": v for k, v in reference.state_dict().items()}, path)
        ours = zoo.create(card, weights=path)
    return {"zoo": ours.to(device, dtype).eval(), "hf": reference.to(device, dtype).eval()}


def forward_step(name: str, model: nn.Module, features: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            if name == "zoo":
                model(spectrogram=features)
            else:
                model(features)

    return step


def check_parity(models: dict[str, nn.Module], features: torch.Tensor) -> float:
    """Max abs difference of the features; raises if the models do not compute the same thing."""
    with torch.inference_mode():
        ours = models["zoo"](spectrogram=features).float()
        reference = models["hf"](features).last_hidden_state.float()
    diff = (ours - reference).abs().max().item()
    tolerance = PARITY_TOLERANCE[features.dtype] * max(1.0, reference.abs().max().item())
    if not diff <= tolerance:
        raise SystemExit(f"features differ by {diff:.3g} (> {tolerance:.3g}): the models are not equivalent, "
                         "so their speeds are not comparable")
    return diff


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.task == "transcribe":
        from _transcribe import run

        torch.manual_seed(args.seed)
        return run(args)
    warnings.filterwarnings("ignore", message="Whisper checkpoint")
    torch.manual_seed(args.seed)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    print(f"zoo whisper-encoder vs transformers WhisperEncoder | {device} {args.dtype} | threads "
          f"{torch.get_num_threads()} | torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"input [{args.batch}, 80, {FRAMES}] | {args.rounds} rounds x {args.iters} forwards (warmup "
          f"{args.warmup}), ABBA order, median over rounds, {args.clock} clock")
    rows = {}
    for size in args.sizes:
        models = build_pair(size, device, dtype)
        features = torch.randn(args.batch, 80, FRAMES, device=device, dtype=dtype)
        print(f"{SIZES[size][0]}: parity max |zoo - HF| = {check_parity(models, features):.3g}")
        results = interleaved({name: forward_step(name, m, features) for name, m in models.items()},
                              work=args.batch, rounds=args.rounds, iters=args.iters, warmup=args.warmup,
                              device=device, clock=CLOCKS[args.clock])
        ratio, low, high = paired_ratio(results["zoo"], results["hf"])
        rows[size] = (statistics.median(results["zoo"]), statistics.median(results["hf"]), ratio, low, high)
        del models
    print()
    print(f"{'model':<22} {'batch':>5} {'zoo clips/s':>12} {'HF clips/s':>11} {'zoo/HF':>8} {'paired IQR':>12}")
    for size, (ours, ref, ratio, low, high) in rows.items():
        print(f"{SIZES[size][0]:<22} {args.batch:>5} {ours:>12.3f} {ref:>11.3f} {ratio:>7.3f}x {low:>6.3f}-{high:.3f}")
    print()
    missed = [SIZES[s][0] for s, row in rows.items() if row[2] < 1.0]
    noisy = [SIZES[s][0] for s, row in rows.items() if row[3] <= 1.0 <= row[4]]
    print(f"target zoo/HF >= 1.0x: {'NOT met (' + ', '.join(missed) + ')' if missed else 'met'}")
    if noisy:
        print(f"  note: 1.0 lies inside the paired-ratio IQR for {', '.join(noisy)}: within round-to-round noise")


if __name__ == "__main__":
    main()
