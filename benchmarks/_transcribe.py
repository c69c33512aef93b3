"""`python benchmarks/audio.py --task transcribe`: zoo's Whisper ``generate`` against transformers'
``WhisperForConditionalGeneration.generate``, same weights, same clips, same tokens.

Both sides get the same log-mel features [clips, 80, 3000] (30 s each), run the encoder once and
decode greedily with Whisper's prompt (<|startoftranscript|><|en|><|transcribe|><|notimestamps|>)
and suppressed tokens. The reference has random weights (scaled as in the parity tests); both sides
decode exactly ``--new-tokens`` tokens (``min_new_tokens`` equal to ``max_new_tokens``, so an
end-of-text never cuts a run short), and the tokens are compared before any timing: the run stops
if one differs. Throughput is clips/s of the whole call (encoder,
prompt, every decode step); the table adds tokens/s. transformers runs with its default cache, or
its static cache with ``--hf-cache static``. Target: zoo/HF >= 1.5x.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import warnings
from typing import Callable

import torch
import transformers
from torch import nn
from transformers import WhisperConfig, WhisperForConditionalGeneration

import zoo
from _timing import CLOCKS, DTYPES, interleaved, paired_ratio
from zoo.data.text.whisper_tokens import tokens_for_vocab_size

SIZES = {  # --sizes -> (zoo card, Whisper shape)
    "tiny": ("whisper-tiny", dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                                  decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536)),
    "base": ("whisper-base", dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                                  decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048)),
    "small": ("whisper-small", dict(d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
                                    decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072)),
}
TOKENS = tokens_for_vocab_size(51865)
BEGIN_SUPPRESS = [220, TOKENS.eot]  # " " and <|endoftext|>, as Whisper's generation_config


def reference_model(shape: dict) -> WhisperForConditionalGeneration:
    """A random WhisperForConditionalGeneration with a hub checkpoint's generation settings."""
    config = WhisperConfig(vocab_size=51865, pad_token_id=TOKENS.eot, bos_token_id=TOKENS.eot,
                           eos_token_id=TOKENS.eot, decoder_start_token_id=TOKENS.sot, **shape)
    model = WhisperForConditionalGeneration(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
            elif name != "model.encoder.embed_positions.weight":
                param.normal_(0.0, 0.05)
        decoder = model.model.decoder
        decoder.embed_positions.weight.mul_(20.0)
        decoder.layer_norm.bias.zero_()
        for layer in decoder.layers:
            layer.encoder_attn.out_proj.weight.mul_(4.0)
            layer.encoder_attn.v_proj.weight.mul_(4.0)
    settings = model.generation_config
    settings.lang_to_id = {f"<|{code}|>": i for code, i in TOKENS.language_ids.items()}
    settings.task_to_id = {"transcribe": TOKENS.transcribe, "translate": TOKENS.translate}
    settings.no_timestamps_token_id = TOKENS.no_timestamps
    settings.is_multilingual = True
    settings.suppress_tokens = TOKENS.always_suppressed()
    settings.begin_suppress_tokens = BEGIN_SUPPRESS
    return model.eval()


def build_pair(size: str, device: torch.device, dtype: torch.dtype) -> dict[str, nn.Module]:
    card, shape = SIZES[size]
    reference = reference_model(shape)
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        ours = zoo.create(card, weights=tmp)
    return {"zoo": ours.to(device, dtype).eval(), "hf": reference.to(device, dtype)}


def clip_features(model: nn.Module, clips: int) -> torch.Tensor:
    """Log-mel [clips, 80, 3000] of 30 s clips: tones at a different pitch each, gliding, with a little noise."""
    noise = torch.Generator().manual_seed(1)
    t = torch.arange(30 * 16000) / 16000
    waves = torch.stack([0.5 * torch.sin(2 * torch.pi * (200 + 700 * i) * t * (1 + 0.01 * t))
                         + 0.05 * torch.randn(len(t), generator=noise) for i in range(clips)])
    with torch.no_grad():
        return model.backbone.frontend(waves.float())  # computed once, on the CPU, in fp32


def generate_step(name: str, model: nn.Module, features: torch.Tensor, new_tokens: int,
                  hf_cache: str | None) -> Callable[[], torch.Tensor]:
    """One transcription call of every clip; returns the new tokens [clips, new_tokens]."""
    options = dict(language="en", task="transcribe", max_new_tokens=new_tokens, min_new_tokens=new_tokens)

    def step() -> torch.Tensor:
        with torch.inference_mode():
            if name == "zoo":
                return model.generate(spectrogram=features, suppress_tokens=TOKENS.always_suppressed(),
                                      begin_suppress_tokens=BEGIN_SUPPRESS, **options)[:, 4:]
            extra = {"cache_implementation": hf_cache} if hf_cache else {}
            return model.generate(features, **options, **extra)

    return step


def run(args) -> None:
    """The transcription table for ``args.sizes`` (the options of benchmarks/audio.py)."""
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()  # its notes on max_length/min_length, once per call
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    cache = args.hf_cache or "default"
    print(f"zoo whisper generate vs transformers WhisperForConditionalGeneration.generate ({cache} cache) | {device} "
          f"{args.dtype} | threads {torch.get_num_threads()}")
    print(f"{args.batch} clips of 30 s [{args.batch}, 80, 3000], greedy, {args.new_tokens} new tokens each | "
          f"{args.rounds} rounds x {args.iters} calls (warmup {args.warmup}), ABBA order, {args.clock} clock")
    rows = {}
    for size in args.sizes:
        models = build_pair(size, device, dtype)
        features = clip_features(models["zoo"], args.batch).to(device, dtype)
        steps = {name: generate_step(name, m, features, args.new_tokens, args.hf_cache) for name, m in models.items()}
        ours, theirs = steps["zoo"](), steps["hf"]()
        if not torch.equal(ours.cpu(), theirs.cpu()):
            raise SystemExit(f"{SIZES[size][0]}: the generated tokens differ, so the speeds are not comparable")
        distinct = len(set(ours.flatten().tolist()))
        print(f"{SIZES[size][0]}: tokens equal on both sides ({ours.numel()} tokens, {distinct} distinct)")
        results = interleaved(steps, work=args.batch, rounds=args.rounds, iters=args.iters, warmup=args.warmup,
                              device=device, clock=CLOCKS[args.clock])
        ratio, low, high = paired_ratio(results["zoo"], results["hf"])
        rows[size] = (statistics.median(results["zoo"]), statistics.median(results["hf"]), ratio, low, high)
        del models
    print()
    print(f"{'model':<14} {'clips':>5} {'zoo clips/s':>12} {'HF clips/s':>11} {'zoo tok/s':>10} {'HF tok/s':>9} "
          f"{'zoo/HF':>8} {'paired IQR':>12}")
    for size, (ours, ref, ratio, low, high) in rows.items():
        print(f"{SIZES[size][0]:<14} {args.batch:>5} {ours:>12.3f} {ref:>11.3f} {ours * args.new_tokens:>10.1f} "
              f"{ref * args.new_tokens:>9.1f} {ratio:>7.3f}x {low:>6.3f}-{high:.3f}")
    missed = [SIZES[s][0] for s, row in rows.items() if row[2] < 1.5]
    print(f"\ntarget zoo/HF >= 1.5x: {'NOT met (' + ', '.join(missed) + ')' if missed else 'met'}")
