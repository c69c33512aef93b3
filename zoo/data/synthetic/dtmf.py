"""Touch-tone (DTMF) digit strings with their transcripts: the offline default data of the CTC recipe.

Each key is the sum of a low "row" tone and a high "column" tone (ITU-T Q.23). A clip is a
random string of keys, each held for a random time and separated by random silences (so
repeated keys stay separate, as CTC needs), in noise. The transcript is the string of keys.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._seed import check_index, check_size, item_generator, item_random
from .tones import fade

_ROWS = (697.0, 770.0, 852.0, 941.0)
_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD = ("123A", "456B", "789C", "*0#D")
FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (_ROWS[r], _COLUMNS[c]) for r, keys in enumerate(_KEYPAD) for c, key in enumerate(keys)}
"""Each key's (low, high) tone in Hz."""


LEAD_MS, GAP_MS, KEY_MS, TRAIL_MS = (0, 200), (40, 120), (60, 150), (0, 200)  # ranges of each piece's length


class DTMFClips(torch.utils.data.Dataset):
    """``size`` clips ``[samples]`` (float32, in [-1, 1], variable length) with their transcripts.

    A transcript is ``min_digits`` to ``max_digits`` keys drawn uniformly from ``alphabet``
    (the ten digits by default; any of ``"0123456789*#ABCD"``). Each key sounds for 60 to 150 ms
    with both tones at one random level (each tone 0.05 to 0.4, within 1% of its nominal
    frequency), separated by 40 to 120 ms of silence, after 0 to 200 ms of leading and before
    0 to 200 ms of trailing silence, all under a noise floor of 0.001 to 0.02. Clips are at
    most about 1.9 s (6 keys); ``zoo.data.pad_waveforms`` batches them.
    """

    def __init__(self, size: int, *, sample_rate: int = 16000, seed: int = 0, min_digits: int = 2,
                 max_digits: int = 6, alphabet: str = "0123456789") -> None:
        check_size("DTMFClips", size)
        if not isinstance(sample_rate, int) or sample_rate < 4000:
            raise ValueError(f"DTMFClips: sample_rate must be an int >= 4000 (the highest tone is 1633 Hz), "
                             f"got {sample_rate!r}")
        if not (isinstance(min_digits, int) and isinstance(max_digits, int) and 1 <= min_digits <= max_digits):
            raise ValueError(f"DTMFClips: need ints 1 <= min_digits <= max_digits, got {min_digits!r}, {max_digits!r}")
        unknown = sorted(set(alphabet) - set(FREQUENCIES))
        if not alphabet or unknown or len(set(alphabet)) != len(alphabet):
            raise ValueError(f"DTMFClips: alphabet must be distinct keys from {''.join(FREQUENCIES)!r}, got {alphabet!r}")
        self.size, self.sample_rate, self.seed = size, sample_rate, seed
        self.min_digits, self.max_digits, self.alphabet = min_digits, max_digits, alphabet

    def __len__(self) -> int:
        return self.size

    @property
    def max_samples(self) -> int:
        """Samples in the longest clip these can draw (every piece at its longest), known without drawing any."""
        ms = lambda length: round(length / 1000 * self.sample_rate)  # noqa: E731  (as `_samples` rounds)
        return (ms(LEAD_MS[1]) + self.max_digits * ms(KEY_MS[1]) + (self.max_digits - 1) * ms(GAP_MS[1])
                + ms(TRAIL_MS[1]))

    def _samples(self, rng, low_ms: float, high_ms: float) -> int:
        return round(rng.uniform(low_ms, high_ms) / 1000 * self.sample_rate)

    def __getitem__(self, index: int) -> tuple[Tensor, str]:
        index = check_index("DTMFClips", index, self.size)
        rng, gen = item_random(self.seed, index, salt=5), item_generator(self.seed, index, salt=5)
        keys = "".join(rng.choice(self.alphabet) for _ in range(rng.randint(self.min_digits, self.max_digits)))
        pieces = [torch.zeros(self._samples(rng, *LEAD_MS))]
        for i, key in enumerate(keys):
            if i:
                pieces.append(torch.zeros(self._samples(rng, *GAP_MS)))
            length = self._samples(rng, *KEY_MS)
            t = torch.arange(length, dtype=torch.float32) / self.sample_rate  # [length] seconds
            level = rng.uniform(0.05, 0.4)
            tone = sum(torch.sin(2 * math.pi * f * rng.uniform(0.99, 1.01) * t + rng.uniform(0, 2 * math.pi))
                       for f in FREQUENCIES[key])
            pieces.append(level * tone * fade(length, self.sample_rate // 200))
        pieces.append(torch.zeros(self._samples(rng, *TRAIL_MS)))
        wave = torch.cat(pieces)  # [samples]
        wave += torch.randn(wave.shape, generator=gen) * rng.uniform(0.001, 0.02)
        return wave.clamp_(-1.0, 1.0), keys

    def __repr__(self) -> str:
        return (f"DTMFClips(size={self.size}, sample_rate={self.sample_rate}, seed={self.seed}, "
                f"digits={self.min_digits}..{self.max_digits}, alphabet={self.alphabet!r})")
