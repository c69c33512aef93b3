"""Speed of zoo's text models against Hugging Face transformers, with the same weights, in one process.

What it measures (tokens/s; fp32 on CPU by default):

1. ``bert``: forward of zoo ``bert-base`` (task ``feature-extraction``) against transformers'
   ``BertModel`` (no pooler, so both compute the same features): batch 8 x 128 positions, eval
   mode under ``torch.inference_mode``, with an attention mask that pads three of the rows;
   tokens counted are batch x positions. Target: zoo/HF >= 1.0x.
2. ``gpt2``: greedy generation of zoo ``gpt2`` against ``GPT2LMHeadModel.generate(do_sample=False)``:
   batch 1, a 64-token prompt, 128 new tokens. Neither side has an EOS token, so both always
   produce exactly 128 tokens; pad_token_id is set. Target: zoo/HF >= 1.5x.
3. ``t5``: greedy generation of zoo ``t5-small`` against ``T5ForConditionalGeneration.generate``:
   batch 1, a 64-token source, 64 new tokens, no EOS (no early stop). Target: zoo/HF >= 1.5x.

Generation tokens/s is new tokens over the time of the whole ``generate`` call (prompt
prefill or encoding included), the number a user sees.

How: each reference model is built with random weights (biases and norm weights perturbed,
so the comparison cannot hide behind zeros and ones; for GPT-2 and T5 some projections are
also scaled up, because a random decoder otherwise repeats one token forever and equal
outputs would prove little; values change, the work does not), saved with
``save_pretrained`` and loaded into ours with ``zoo.create(card, weights=dir)``. Outputs are
compared first: the max abs difference of the BERT features over real tokens (tolerance
relative to the features' largest magnitude), and the token ids GPT-2 and T5 generate, which
must be identical in float32 (in bfloat16/float16 the agreeing prefix is reported and timing
goes on: both sides still generate the same number of tokens). Then the two models take
turns, ABBA order, for ``--rounds`` rounds of ``--iters`` calls; the table reports the median
tokens/s over rounds, the median of the per-round paired ratios zoo/HF and that ratio's
interquartile range: when it contains the target, meeting or missing the target is within
the machine's round-to-round noise. Timing is wall-clock, so run it on an otherwise idle
machine (the load average, and on Linux the CPUs other processes kept busy just then, are
printed at the start and the end); on a shared CPU box, ``--threads 1 --clock cpu`` counts
only this process's CPU time and is steadier.

``--beams K`` runs both generation benchmarks with beam search (``num_beams=K`` on both sides;
tokens/s still counts the new tokens of the returned sequence). The targets stay those of
greedy decoding.

``--compile zoo`` generates with ``compile=True`` on our side (the decode step through
``torch.compile``; the untimed parity call compiles it) against HF's default ``generate``;
``--compile both`` also gives HF its own compiled path (a static cache, with the forward
compiled on every device type), so compiled is timed against compiled. BERT is never compiled.

Run (defaults: all three, fp32 on CPU, 10 rounds; about 3.5 minutes on 2 idle CPU cores):

    python benchmarks/text.py
    python benchmarks/text.py --only gpt2 t5 --rounds 12
    python benchmarks/text.py --threads 1 --clock cpu          # shared machine
    python benchmarks/text.py --device cuda --dtype bfloat16 --rounds 20 --iters 5
    python benchmarks/text.py --only gpt2 t5 --compile both    # compiled decode steps on both sides
    python benchmarks/text.py --only gpt2 t5 --beams 4         # beam search on both sides
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import torch
import transformers
from torch import Tensor, nn

import zoo
from _timing import CLOCKS, DTYPES, add_run_options, check_run_options, interleaved, paired_ratio  # benchmarks/_timing.py, next to this script

BENCHMARKS = ("bert", "gpt2", "t5")
TARGETS = {"bert": 1.0, "gpt2": 1.5, "t5": 1.5}  # zoo/HF tokens/s
DEFAULT_ITERS = {"bert": 3, "gpt2": 1, "t5": 3}  # ~2.5 s per model and round on 2 CPU cores (gpt2 ~4 s)
BERT_BATCH, BERT_LEN = 8, 128
BERT_PADDED = {1: 100, 4: 77, 6: 31}  # row -> real tokens; the other rows are full
GPT2_PROMPT, GPT2_NEW = 64, 128
T5_SOURCE, T5_NEW = 64, 64
PAD_TOKEN_ID = 0
PARITY_TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 5e-2, torch.float16: 5e-3}  # relative to max |features|


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), metavar="NAME",
                        help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default: all)")
    add_run_options(parser)
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per model and benchmark")
    parser.add_argument("--iters", type=int, default=None,
                        help="calls (forwards or generate calls) timed in each round (default: "
                             + ", ".join(f"{name} {n}" for name, n in DEFAULT_ITERS.items()) + ")")
    parser.add_argument("--compile", choices=("none", "zoo", "both"), default="none",
                        help="compile the generation decode steps: ours only, or ours and HF's (static cache)")
    parser.add_argument("--beams", type=int, default=1, help="num_beams of both generation benchmarks (1: greedy)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="untimed calls per model before timing, besides the parity check's one")
    args = parser.parse_args(argv)
    check_run_options(parser, args, ("rounds", "iters", "beams"))
    args.only = [name for name in BENCHMARKS if name in args.only]  # table order, no repeats
    return args


@dataclass
class Case:
    """One benchmark, ready to time: a zero-argument call per model and how many tokens each does."""

    label: str  # table row
    shape: str  # batch x tokens, as printed
    tokens: int  # tokens per call: positions for a forward, new tokens for generate
    calls: dict[str, Callable[[], Tensor]]  # {"zoo": ..., "hf": ...}
    parity: str  # what the output check found
    comparable: bool  # False: the outputs disagree, so the speeds are not comparable


def perturbed(model: nn.Module, *, scale: dict[str, float] | None = None, keep: tuple[str, ...] = ()) -> nn.Module:
    """Random biases and norm weights so a wrong key map cannot hide behind zeros and ones.

    ``scale`` multiplies the parameters whose names end with a key (livelier generations);
    parameters whose names start with one of ``keep`` are left alone.
    """
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(keep):
                continue
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
            for suffix, factor in (scale or {}).items():
                if name.endswith(suffix):
                    param.mul_(factor)
    return model.eval()


def load_ours(reference: transformers.PreTrainedModel, card: str, task: str | None = None) -> nn.Module:
    """zoo's ``card`` holding ``reference``'s weights, through the Hugging Face directory layout."""
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        return zoo.create(card, task=task, weights=tmp).eval()


def inference(fn: Callable[[], Tensor]) -> Callable[[], Tensor]:
    def call() -> Tensor:
        with torch.inference_mode():
            return fn()

    return call


def compare_tokens(ours: Tensor, reference: Tensor, start: int, dtype: torch.dtype) -> tuple[str, bool]:
    """Whether two generations [1, start + new] agree; differences in reduced precision are reported, not fatal."""
    new = reference.shape[1] - start
    if ours.shape != reference.shape:
        return f"output shapes differ: zoo {list(ours.shape)}, HF {list(reference.shape)}", False
    distinct = len(set(ours[0, start:].tolist()))
    if torch.equal(ours, reference):
        return f"generated tokens identical ({new}/{new} new tokens, {distinct} distinct)", True
    agree = int((ours[0, start:] == reference[0, start:]).long().cumprod(0).sum())
    message = f"generated tokens agree for the first {agree}/{new} new tokens only"
    if dtype == torch.float32:
        return message, False
    return f"{message} (expected in reduced precision; both still generate {new} tokens)", True


def bert_case(device: torch.device, dtype: torch.dtype, compile: str) -> Case:
    reference = perturbed(transformers.BertModel(transformers.BertConfig(), add_pooling_layer=False))
    ours = load_ours(reference, "bert-base", task="feature-extraction")
    ours, reference = ours.to(device, dtype), reference.to(device, dtype)
    ids = torch.randint(1, reference.config.vocab_size, (BERT_BATCH, BERT_LEN), device=device)
    mask = torch.ones_like(ids)
    for row, length in BERT_PADDED.items():
        mask[row, length:] = 0
    ids = ids.masked_fill(mask == 0, PAD_TOKEN_ID)
    calls = {"zoo": inference(lambda: ours(ids, attention_mask=mask)),
             "hf": inference(lambda: reference(input_ids=ids, attention_mask=mask).last_hidden_state)}
    real = mask.bool()
    got, expected = calls["zoo"]()[real].float(), calls["hf"]()[real].float()
    diff, scale = (got - expected).abs().max().item(), expected.abs().max().item()
    tolerance = PARITY_TOLERANCE[dtype] * scale
    attn = reference.config._attn_implementation
    return Case("bert forward", f"{BERT_BATCH}x{BERT_LEN}", BERT_BATCH * BERT_LEN, calls,
                f"max |features zoo - HF| over real tokens = {diff:.3g} (tolerance {tolerance:.2g}: "
                f"{PARITY_TOLERANCE[dtype]:g} x max |features| {scale:.3g}; HF attention: {attn})", diff <= tolerance)


def configure_hf_generation(reference: transformers.PreTrainedModel, compile: str) -> None:
    """No early stop (no EOS: exactly the asked-for tokens), our pad id, and with ``--compile both``
    HF's own compiled generation: a static cache, and its forward compiled on any device type."""
    reference.generation_config.eos_token_id = None
    reference.generation_config.pad_token_id = PAD_TOKEN_ID
    if compile == "both":
        reference.generation_config.cache_implementation = "static"
        config = transformers.CompileConfig(dynamic=None)
        config._compile_all_devices = True  # HF compiles only on accelerators unless told so
        reference.generation_config.compile_config = config


def hf_compiled(reference: transformers.PreTrainedModel) -> str:
    """Whether HF's generate really took its compiled path (it builds ``_compiled_call`` when it does)."""
    return "; HF forward compiled" if hasattr(reference, "_compiled_call") else ""


def search(beams: int) -> str:
    return "generate" if beams == 1 else f"beam {beams}"


def gpt2_case(device: torch.device, dtype: torch.dtype, compile: str, beams: int) -> Case:
    config = transformers.GPT2Config(bos_token_id=None, eos_token_id=None, pad_token_id=PAD_TOKEN_ID)
    # sharper attention, stronger branches; a perturbed final-norm bias would pick one token whatever the input
    reference = perturbed(transformers.GPT2LMHeadModel(config), keep=("transformer.ln_f.",),
                          scale={"attn.c_attn.weight": 5.0, "mlp.c_fc.weight": 5.0, "c_proj.weight": 5.0})
    ours = load_ours(reference, "gpt2")
    ours, reference = ours.to(device, dtype), reference.to(device, dtype)
    configure_hf_generation(reference, compile)
    prompt = torch.randint(0, config.vocab_size, (1, GPT2_PROMPT), device=device)
    mask = torch.ones_like(prompt)  # what a tokenizer returns; both take their unpadded fast path
    calls = {"zoo": inference(lambda: ours.generate(prompt, attention_mask=mask, max_new_tokens=GPT2_NEW,
                                                    pad_token_id=PAD_TOKEN_ID, compile=compile != "none",
                                                    num_beams=beams)),
             "hf": inference(lambda: reference.generate(prompt, attention_mask=mask, do_sample=False,
                                                        max_new_tokens=GPT2_NEW, pad_token_id=PAD_TOKEN_ID,
                                                        num_beams=beams))}
    parity, ok = compare_tokens(calls["zoo"](), calls["hf"](), GPT2_PROMPT, dtype)
    attn = reference.config._attn_implementation
    return Case(f"gpt2 {search(beams)}", f"1x{GPT2_PROMPT}+{GPT2_NEW}", GPT2_NEW, calls,
                f"{parity} (HF attention: {attn}{hf_compiled(reference)})", ok)


def t5_case(device: torch.device, dtype: torch.dtype, compile: str, beams: int) -> Case:
    config = transformers.T5Config(decoder_start_token_id=PAD_TOKEN_ID)  # the defaults are t5-small
    # stronger residual branches, sharper attention and position biases (as tests/models/test_t5.py does)
    reference = perturbed(transformers.T5ForConditionalGeneration(config),
                          scale={".o.weight": 30.0, ".wo.weight": 30.0, ".q.weight": 10.0,
                                 "relative_attention_bias.weight": 10.0})
    ours = load_ours(reference, "t5-small")
    ours, reference = ours.to(device, dtype), reference.to(device, dtype)
    configure_hf_generation(reference, compile)
    source = torch.randint(2, config.vocab_size, (1, T5_SOURCE), device=device)  # 0 pad and 1 EOS left out
    mask = torch.ones_like(source)
    calls = {"zoo": inference(lambda: ours.generate(source, attention_mask=mask, max_new_tokens=T5_NEW,
                                                    pad_token_id=PAD_TOKEN_ID, compile=compile != "none",
                                                    num_beams=beams)),
             "hf": inference(lambda: reference.generate(input_ids=source, attention_mask=mask, do_sample=False,
                                                        max_new_tokens=T5_NEW, pad_token_id=PAD_TOKEN_ID,
                                                        num_beams=beams))}
    parity, ok = compare_tokens(calls["zoo"](), calls["hf"](), 1, dtype)  # both start with the start token
    attn = reference.config._attn_implementation
    return Case(f"t5 {search(beams)}", f"1x{T5_SOURCE}->{T5_NEW}", T5_NEW, calls,
                f"{parity} (HF attention: {attn}{hf_compiled(reference)})", ok)


CASES = {"bert": bert_case, "gpt2": gpt2_case, "t5": t5_case}


def busy_cpus(interval: float = 0.5) -> float | None:
    """CPUs kept busy by other processes over the next ``interval`` seconds (Linux /proc/stat), or None."""
    def sample() -> tuple[float, float]:
        with open("/proc/stat") as stat:
            ticks = [float(v) for v in stat.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        own = os.times()
        return sum(ticks) - ticks[3] - ticks[4], own.user + own.system

    try:
        busy_start, own_start = sample()
        time.sleep(interval)
        busy_end, own_end = sample()
    except (OSError, ValueError, IndexError):
        return None
    seconds = (busy_end - busy_start) / os.sysconf("SC_CLK_TCK") - (own_end - own_start)
    return max(seconds, 0.0) / interval


def load_note() -> tuple[str, float]:
    """The machine's load as printed, and the CPUs that other processes keep busy (load average if unknown)."""
    one, five, fifteen = os.getloadavg()
    note = f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"
    busy = busy_cpus()
    if busy is None:
        return note, one
    return f"{note}; other processes busy on {busy:.2f} CPUs just now", busy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()  # generation-config chatter, not results
    transformers.utils.logging.disable_progress_bar()
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    clock = CLOCKS[args.clock]

    print(f"zoo vs Hugging Face transformers | {device} {args.dtype} | threads {torch.get_num_threads()} | "
          f"torch {torch.__version__}, transformers {transformers.__version__}")
    iters = {name: args.iters or DEFAULT_ITERS[name] for name in args.only}
    print(f"{args.rounds} rounds x ({', '.join(f'{name} {n}' for name, n in iters.items())}) calls "
          f"(warmup: the parity call + {args.warmup}), ABBA order, median over rounds, {args.clock} clock; "
          f"compiled generation: {args.compile}")
    note, busy = load_note()
    print(f"start: {note}")
    if device.type == "cpu" and args.clock == "wall" and busy > 0.25:
        print("  warning: the machine is not idle; wall-clock ratios will be noisy "
              "(--threads 1 --clock cpu is steadier)")

    rows: dict[str, tuple[str, float, float, float]] = {}  # name -> (row, ratio, low, high)
    failed: list[str] = []
    for name in args.only:
        torch.manual_seed(args.seed)
        case = CASES[name](device, dtype, args.compile) if name == "bert" else \
            CASES[name](device, dtype, args.compile, args.beams)
        print(f"{name} parity: {case.parity}")
        if not case.comparable:
            failed.append(name)
            print(f"  {name}: the models do not compute the same thing, so their speeds are not compared")
            continue
        results = interleaved(case.calls, work=case.tokens, rounds=args.rounds, iters=iters[name],
                              warmup=args.warmup, device=device, clock=clock)
        ratio, low, high = paired_ratio(results["zoo"], results["hf"])
        zoo_tps, hf_tps = statistics.median(results["zoo"]), statistics.median(results["hf"])
        rows[name] = (f"{case.label:<14} {case.shape:>10} {zoo_tps:>11.1f} {hf_tps:>11.1f} {ratio:>8.3f}x "
                      f"{low:>6.3f}-{high:.3f} {TARGETS[name]:>6.1f}x", ratio, low, high)
        del case  # free the pair before building the next one

    print()
    print(f"{'benchmark':<14} {'shape':>10} {'zoo tok/s':>11} {'HF tok/s':>11} {'zoo/HF':>9} {'paired IQR':>12} "
          f"{'target':>7}")
    for row, *_ in rows.values():
        print(row)
    print()
    for name in args.only:
        target = TARGETS[name]
        if name in failed:
            print(f"target {name} zoo/HF >= {target:.1f}x: not measured (outputs differ)")
            continue
        ratio = rows[name][1]
        verdict = "met" if ratio >= target else f"NOT met ({ratio:.2f}x)"
        print(f"target {name} zoo/HF >= {target:.1f}x: {verdict}")
    met = [name for name in rows if rows[name][1] >= TARGETS[name]]
    print(f"targets met: {len(met)} of {len(args.only)}" + (f" ({', '.join(met)})" if met else ""))
    within_noise = [name for name, (_, _, low, high) in rows.items() if low <= TARGETS[name] <= high]
    if within_noise:
        print(f"  note: the target lies inside the paired-ratio IQR for {', '.join(within_noise)}: "
              "meeting or missing it there is within round-to-round noise")
    print(f"end: {load_note()[0]} (the load average includes this run)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
