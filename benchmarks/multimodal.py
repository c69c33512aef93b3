"""Speed of zoo's CLIP against transformers' CLIPModel, with the same weights, in one process.

What it measures, for zoo ``clip-vit-base-patch32`` (or ``--model``) and transformers'
``CLIPModel`` of the same shape:

1. image encoding throughput (images/s): ``encode_image`` vs ``get_image_features``, batch 16;
2. text encoding throughput (captions/s): ``encode_text`` vs ``get_text_features`` on
   77-token padded captions (as both tokenizers pad them), batch 64.

Both run in eval mode under ``torch.inference_mode``; zoo's embeddings are normalised, so the
transformers side normalises too (that is what a user compares). transformers' model is built
with random weights and saved; zoo loads it with ``weights=`` (its key map), and the embeddings
are compared first (max abs difference printed). The models then take turns in ABBA order for
``--rounds`` rounds; the table shows the median throughput, the median paired ratio zoo/HF
(>= 1.0: zoo at least as fast) and its interquartile range (containing 1.0: within noise).

Run (about 2 minutes on 2 idle CPU cores):

    python benchmarks/multimodal.py
    python benchmarks/multimodal.py --threads 1 --clock cpu          # shared machine
    python benchmarks/multimodal.py --device cuda --dtype bfloat16 --rounds 20
"""
from __future__ import annotations

import argparse
import platform
import re
import statistics
import tempfile
from typing import Callable

import torch
import torch.nn.functional as F
import transformers

import zoo
from _timing import CLOCKS, DTYPES, add_run_options, check_run_options, interleaved, paired_ratio  # benchmarks/_timing.py

MODELS = ("clip-vit-base-patch32", "clip-vit-base-patch16", "clip-vit-large-patch14")
PARITY_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 1e-2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, default=MODELS[0])
    add_run_options(parser)
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per model and metric")
    parser.add_argument("--iters", type=int, default=2, help="iterations timed in each round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations per model before timing")
    parser.add_argument("--batch-images", type=int, default=16)
    parser.add_argument("--batch-texts", type=int, default=64)
    args = parser.parse_args(argv)
    check_run_options(parser, args, ("rounds", "iters", "batch_images", "batch_texts"))
    return args


def hf_config(spec) -> transformers.CLIPConfig:
    return transformers.CLIPConfig(
        projection_dim=spec.embed_dim,
        vision_config=dict(hidden_size=spec.vision_width, num_hidden_layers=spec.vision_depth,
                           num_attention_heads=spec.vision_heads, intermediate_size=spec.vision_mlp_dim,
                           image_size=spec.img_size, patch_size=spec.patch_size, hidden_act=spec.activation),
        text_config=dict(hidden_size=spec.text_width, num_hidden_layers=spec.text_depth,
                         num_attention_heads=spec.text_heads, intermediate_size=spec.text_mlp_dim,
                         vocab_size=spec.vocab_size, max_position_embeddings=spec.context_length,
                         hidden_act=spec.activation, eos_token_id=spec.eos_token_id))


def build_pair(card: str, device: torch.device, dtype: torch.dtype) -> dict[str, torch.nn.Module]:
    """zoo's model and transformers' CLIPModel of ``card``, holding the same (random) weights."""
    reference = transformers.CLIPModel(hf_config(_spec(card)))
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        ours = zoo.create(card, weights=tmp)
    return {"zoo": ours.to(device, dtype).eval(), "hf": reference.to(device, dtype).eval()}


def _spec(card: str):
    from zoo.factory import get_family
    from zoo.models.spec import build_spec

    info = zoo.info(card)
    return build_spec(get_family(info["family"]).spec, info["spec"])


def captions(batch: int, spec, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids [batch, 77]: 5-20 tokens between start and end of text, padded with the end-of-text id (as
    transformers' CLIP tokenizer pads), and their mask."""
    lengths = torch.randint(5, 21, (batch,))
    ids = torch.full((batch, spec.context_length), spec.eos_token_id)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths.tolist()):
        ids[row, 0] = spec.eos_token_id - 1  # start of text
        ids[row, 1:length + 1] = torch.randint(1, spec.eos_token_id - 1, (length,))
        mask[row, :length + 2] = 1
    return ids.to(device), mask.to(device)


def image_steps(models: dict, images: torch.Tensor) -> dict[str, Callable[[], object]]:
    def ours() -> object:
        with torch.inference_mode():
            return models["zoo"].encode_image(images)

    def theirs() -> object:
        with torch.inference_mode():
            out = models["hf"].get_image_features(pixel_values=images)
            return F.normalize(getattr(out, "pooler_output", out), dim=-1)

    return {"zoo": ours, "hf": theirs}


def text_steps(models: dict, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, Callable[[], object]]:
    def ours() -> object:
        with torch.inference_mode():
            return models["zoo"].encode_text(ids, mask)

    def theirs() -> object:
        with torch.inference_mode():
            out = models["hf"].get_text_features(input_ids=ids, attention_mask=mask)
            return F.normalize(getattr(out, "pooler_output", out), dim=-1)

    return {"zoo": ours, "hf": theirs}


def check_parity(steps: dict[str, Callable[[], object]], dtype: torch.dtype, what: str) -> float:
    diff = (steps["zoo"]().float() - steps["hf"]().float()).abs().max().item()
    if not diff <= PARITY_TOLERANCE[dtype]:
        raise SystemExit(f"{what} embeddings differ by {diff:.3g}: the models are not equivalent, so their "
                         "speeds are not comparable")
    return diff


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            flags = set(re.findall(r"\b(avx512_bf16|amx_bf16|amx_tile|avx512f|avx2)\b", info.read()))
    except OSError:
        flags = set()
    return f"{platform.processor() or platform.machine()}, flags: {' '.join(sorted(flags)) or 'n/a'}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    models = build_pair(args.model, device, dtype)
    spec = models["zoo"].spec
    print(f"zoo {args.model} vs transformers CLIPModel | {device} {args.dtype} | threads {torch.get_num_threads()} | "
          f"torch {torch.__version__}, transformers {transformers.__version__} | {cpu_flags()}")
    print(f"{args.rounds} rounds x {args.iters} iters (warmup {args.warmup}), ABBA order, median over rounds, "
          f"{args.clock} clock")
    images = torch.randn(args.batch_images, 3, spec.img_size, spec.img_size, device=device, dtype=dtype)
    ids, mask = captions(args.batch_texts, spec, device)
    steps = {"encode_image": (image_steps(models, images), args.batch_images),
             "encode_text": (text_steps(models, ids, mask), args.batch_texts)}
    rows = []
    for metric, (pair, batch) in steps.items():
        diff = check_parity(pair, dtype, metric)
        result = interleaved(pair, work=batch, rounds=args.rounds, iters=args.iters, warmup=args.warmup,
                             device=device, clock=CLOCKS[args.clock])
        ratio, low, high = paired_ratio(result["zoo"], result["hf"])
        rows.append((metric, batch, statistics.median(result["zoo"]), statistics.median(result["hf"]),
                     ratio, low, high, diff))
    print()
    print(f"{'metric':<13} {'batch':>5} {'zoo /s':>9} {'HF /s':>9} {'zoo/HF':>8} {'paired IQR':>12} {'max diff':>9}")
    for metric, batch, ours, theirs, ratio, low, high, diff in rows:
        print(f"{metric:<13} {batch:>5} {ours:>9.1f} {theirs:>9.1f} {ratio:>7.3f}x {low:>6.3f}-{high:.3f} {diff:>9.2g}")
    missed = [row[0] for row in rows if row[4] < 1.0]
    print()
    print(f"target zoo/HF >= 1.0x: {'NOT met (' + ', '.join(missed) + ')' if missed else 'met on both'}")
    noisy = [row[0] for row in rows if row[5] <= 1.0 <= row[6]]
    if noisy:
        print(f"  note: 1.0 lies inside the paired-ratio IQR for {', '.join(noisy)} (within round-to-round noise)")


if __name__ == "__main__":
    main()
