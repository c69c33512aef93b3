"""Tones, chirps, pulses and noise: the offline default data of the audio-classification recipe.

Each clip holds one sound event (random onset, length, loudness and phase, soft edges) over a
random low noise floor. The classes differ in pitch band, pitch movement, rhythm and spectrum,
the cues a spectrogram model must learn to separate, and no single level statistic does it.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._seed import check_index, check_size, item_generator, item_random

CLASSES = ("low tone", "mid tone", "high tone", "up chirp", "down chirp", "pulses", "chord", "noise")
_BANDS = {"low": (150.0, 350.0), "mid": (600.0, 1200.0), "high": (2000.0, 3500.0)}  # Hz, with gaps between


def _event(kind: str, t: Tensor, rng, gen: torch.Generator) -> Tensor:
    """The unit-peak sound of class ``kind`` at times ``t`` (seconds from its onset) -> same shape as ``t``."""
    phase = rng.uniform(0, 2 * math.pi)
    if kind.endswith(" tone"):
        return torch.sin(2 * math.pi * rng.uniform(*_BANDS[kind.split()[0]]) * t + phase)
    if kind.endswith("chirp"):  # linear sweep over at least an octave
        low, high = rng.uniform(200.0, 1000.0), rng.uniform(2000.0, 3500.0)
        f0, f1 = (low, high) if kind == "up chirp" else (high, low)
        rate = (f1 - f0) / max(float(t[-1]), 1e-3)
        return torch.sin(2 * math.pi * (f0 * t + 0.5 * rate * t * t) + phase)
    if kind == "pulses":  # a mid-band tone switched on and off 4 to 8 times a second
        carrier = torch.sin(2 * math.pi * rng.uniform(500.0, 1500.0) * t + phase)
        gate = (torch.sin(2 * math.pi * rng.uniform(4.0, 8.0) * t + rng.uniform(0, 2 * math.pi)) > 0).to(t.dtype)
        return carrier * gate
    if kind == "chord":  # two tones a fifth to an octave apart
        f = rng.uniform(300.0, 1500.0)
        ratio = rng.uniform(1.5, 2.0)
        return 0.5 * (torch.sin(2 * math.pi * f * t + phase) + torch.sin(2 * math.pi * f * ratio * t))
    if kind == "noise":  # white noise, as loud as the other events
        return torch.randn(t.shape, generator=gen, dtype=t.dtype).clamp_(-3, 3) / 3
    raise ValueError(f"unknown sound class {kind!r}; known: {', '.join(CLASSES)}")


def fade(length: int, ramp: int) -> Tensor:
    """An envelope ``[length]`` rising and falling over ``ramp`` samples (no clicks at the edges)."""
    env = torch.ones(length)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        up = torch.linspace(0.0, 1.0, ramp + 2)[1:-1]
        env[:ramp], env[length - ramp:] = up, up.flip(0)
    return env


class ToneClips(torch.utils.data.Dataset):
    """``size`` clips ``[samples]`` (float32, in [-1, 1]) with labels into ``classes`` (8, balanced).

    The event fills 40% to 100% of the clip at a peak of 0.1 to 0.8 over a noise floor 20 to
    40 dB below it. Item ``i`` depends only on ``(seed, i)``.
    """

    def __init__(self, size: int, *, sample_rate: int = 16000, seconds: float = 1.0, seed: int = 0) -> None:
        check_size("ToneClips", size)
        if not isinstance(sample_rate, int) or sample_rate < 8000:
            raise ValueError(f"ToneClips: sample_rate must be an int >= 8000 (sounds reach 3.5 kHz), "
                             f"got {sample_rate!r}")
        if not seconds > 0.1:
            raise ValueError(f"ToneClips: seconds must be > 0.1, got {seconds!r}")
        self.size, self.sample_rate, self.seconds, self.seed = size, sample_rate, float(seconds), seed
        self.num_samples = round(sample_rate * seconds)
        self.classes = list(CLASSES)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        index = check_index("ToneClips", index, self.size)
        rng, gen = item_random(self.seed, index, salt=4), item_generator(self.seed, index, salt=4)
        label = rng.randrange(len(self.classes))
        length = round(self.num_samples * rng.uniform(0.4, 1.0))
        start = rng.randrange(self.num_samples - length + 1)
        t = torch.arange(length, dtype=torch.float32) / self.sample_rate  # [length] seconds
        peak = rng.uniform(0.1, 0.8)
        event = _event(self.classes[label], t, rng, gen) * fade(length, self.sample_rate // 100) * peak
        floor = peak * 10 ** (-rng.uniform(20.0, 40.0) / 20)
        wave = torch.randn(self.num_samples, generator=gen) * floor  # [samples]
        wave[start:start + length] += event
        return wave.clamp_(-1.0, 1.0), label

    def __repr__(self) -> str:
        return (f"ToneClips(size={self.size}, sample_rate={self.sample_rate}, seconds={self.seconds}, "
                f"seed={self.seed}, classes={len(self.classes)})")
