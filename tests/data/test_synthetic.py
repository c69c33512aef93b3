"""Synthetic recipe data: deterministic per (seed, index), well-formed, balanced, and carrying the signal.

DTMF clips are decoded back to their transcripts with an FFT; the grammar corpus must have
structure beyond byte frequencies (a bigram model beats the unigram entropy on a held-out seed);
tone classes must be separable by simple spectral features.
"""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from zoo.data.synthetic import (ArithmeticPairs, DTMFClips, GrammarText, ShapesDataset, ToneClips,
                                unigram_entropy)
from zoo.data.synthetic.dtmf import FREQUENCIES

SMALL = {
    "shapes": lambda seed: ShapesDataset(64, seed=seed),
    "arithmetic": lambda seed: ArithmeticPairs(64, seed=seed),
    "grammar": lambda seed: GrammarText(64, seed=seed),
    "tones": lambda seed: ToneClips(16, seed=seed),
    "dtmf": lambda seed: DTMFClips(16, seed=seed),
}


def same(a, b) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    return a == b


@pytest.mark.parametrize("name", list(SMALL))
def test_deterministic_per_seed_and_index(name):
    make = SMALL[name]
    a, b, other = make(0), make(0), make(1)
    assert same(a[5], b[5]) and same(a[5], a[5])             # regenerated, not cached state
    assert same(a[-1], a[len(a) - 1])
    assert not same(a[5], other[5])                          # another seed, another split
    assert len({repr(a[i]) for i in range(8)}) == 8          # items differ from each other
    with pytest.raises(IndexError, match="out of range"):
        a[len(a)]
    assert same(a[torch.tensor(3)], a[3])                    # samplers may hand out tensor indices


def test_sizes_are_checked():
    for make in (ShapesDataset, ArithmeticPairs, GrammarText, ToneClips, DTMFClips):
        with pytest.raises(ValueError, match="size must be a non-negative int"):
            make(-1)
        assert len(make(0)) == 0


def balanced(labels: list[int], num_classes: int) -> None:
    counts = Counter(labels)
    expected = len(labels) / num_classes
    assert set(counts) == set(range(num_classes))
    assert all(0.6 * expected < n < 1.4 * expected for n in counts.values()), counts


def test_shapes():
    data = ShapesDataset(600, image_size=24, seed=3)
    image, label = data[0]
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and isinstance(label, int)
    assert len(data.classes) == len(set(data.classes)) == 12
    balanced([data[i][1] for i in range(len(data))], len(data.classes))
    with pytest.raises(ValueError, match="image_size"):
        ShapesDataset(4, image_size=4)


def test_shapes_colour_and_shape_are_in_the_pixels():
    """The brightest channel inside the shape is the class colour; the shape covers a plausible area."""
    data = ShapesDataset(60, seed=4)
    for i in range(len(data)):
        image, label = data[i]
        colour, shape = data.classes[label].split()
        strongest = image.amax(0) > 0.6                       # [H, W] shape pixels (the background is <= ~0.6)
        assert 0.02 < strongest.float().mean() < 0.6, (i, shape)
        channel = image[:, strongest].mean(1).argmax().item()
        assert ("red", "green", "blue")[channel] == colour, (i, data.classes[label])


@pytest.mark.parametrize("operators", ["+", "-", "*", "+-*"])
def test_arithmetic_answers_are_right(operators):
    data = ArithmeticPairs(300, seed=1, max_digits=4, operators=operators)
    lengths = Counter()
    for source, target in (data[i] for i in range(len(data))):
        assert set(source + target) <= set(data.alphabet)
        a, op, b = next((source[:k], source[k], source[k + 1:]) for k in range(1, len(source)) if source[k] in "+-*")
        assert op in operators and a.isdigit() and b.isdigit()
        assert int(target) == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        lengths.update([len(a), len(b)])
    assert set(lengths) == {1, 2, 3, 4} and min(lengths.values()) > 100  # operand lengths are uniform


def test_arithmetic_rejects_bad_options():
    with pytest.raises(ValueError, match="operators"):
        ArithmeticPairs(3, operators="/")
    with pytest.raises(ValueError, match="max_digits"):
        ArithmeticPairs(3, max_digits=0)


def test_arithmetic_is_mostly_unseen_across_seeds():
    train = {ArithmeticPairs(5000, seed=0)[i] for i in range(5000)}
    val = [ArithmeticPairs(500, seed=1)[i] for i in range(500)]
    assert sum(pair in train for pair in val) < 150  # short operands repeat; long ones almost never


def test_grammar_text():
    data = GrammarText(500, seed=2)
    texts = [data[i] for i in range(len(data))]
    assert all(t.isascii() and t.endswith(".") and t[0].isupper() and "  " not in t for t in texts)
    assert len(set(texts)) > 450
    checked = 0
    for t in texts:  # subject-verb agreement on the simplest pattern, "The cat(s) verb(s)."
        words = t.rstrip(".").lower().split()
        if len(words) == 3:
            plural_noun = words[1].endswith("s") or words[1] in ("children", "mice")
            assert words[2].endswith("s") != plural_noun, t
            checked += 1
    assert checked > 5


def test_unigram_entropy():
    assert unigram_entropy(["abab"]) == pytest.approx(math.log(2))
    assert unigram_entropy(["aaaa", "bbbb", "cccc", "dddd"]) == pytest.approx(math.log(4))
    assert unigram_entropy(["é"]) == pytest.approx(math.log(2))  # two UTF-8 bytes
    with pytest.raises(ValueError, match="no bytes"):
        unigram_entropy(["", ""])
    with pytest.raises(TypeError, match="item 1"):
        unigram_entropy(["a", b"b"])


def test_grammar_has_structure_beyond_unigrams():
    """A smoothed byte bigram model fit on one seed beats the unigram entropy on another by far."""
    train = [GrammarText(3000, seed=0)[i] for i in range(3000)]
    val = [GrammarText(500, seed=1)[i] for i in range(500)]
    unigram = unigram_entropy(val)
    pairs, firsts = Counter(), Counter()
    for t in train:
        b = t.encode()
        pairs.update(zip(b, b[1:]))
        firsts.update(b[:-1])
    nll, n = 0.0, 0
    for t in val:
        b = t.encode()
        for x, y in zip(b, b[1:]):
            nll -= math.log((pairs[x, y] + 0.01) / (firsts[x] + 0.01 * 256))
            n += 1
    bigram = nll / n
    assert 2.5 < unigram < 3.3 and bigram < 0.65 * unigram, (unigram, bigram)


def test_tone_clips(one_thread):
    data = ToneClips(400, sample_rate=8000, seconds=0.5, seed=5)
    wave, label = data[0]
    assert wave.shape == (4000,) and wave.dtype == torch.float32 and data.sample_rate == 8000
    assert len(data.classes) == 8
    waves = [data[i] for i in range(len(data))]
    assert all(w.abs().max() <= 1.0 and w.abs().max() > 0.05 for w, _ in waves)
    balanced([y for _, y in waves], len(data.classes))
    with pytest.raises(ValueError, match="sample_rate"):
        ToneClips(1, sample_rate=4000)


def spectral_features(wave: torch.Tensor) -> torch.Tensor:
    """Per clip: log energy in 24 bands (time-averaged over loud frames), its spread over time, and the pitch slope."""
    spec = torch.stft(wave, 512, 256, window=torch.hann_window(512), return_complex=True).abs() ** 2  # [F, frames]
    bands = torch.stack([b.sum(0) for b in spec[1:].chunk(24, 0)])  # [24, frames]
    energy = bands.sum(0)
    loud = energy > 0.1 * energy.max()
    logb = (bands[:, loud] + 1e-6).log()
    frames = torch.arange(spec.shape[1], dtype=torch.float32)[loud]
    peak = spec[:, loud].argmax(0).float()
    slope = ((frames - frames.mean()) * (peak - peak.mean())).sum() / ((frames - frames.mean()) ** 2).sum().clamp(min=1)
    return torch.cat([logb.mean(1), energy[loud].log().std(0, keepdim=True), slope.clamp(-20, 20).view(1) / 4])


def test_tone_classes_are_separable_by_simple_features(one_thread):
    """A linear classifier on hand-made spectral features, fit on one seed, scored on another."""
    def features(seed, n):
        data = ToneClips(n, sample_rate=8000, seed=seed)
        items = [data[i] for i in range(n)]
        return torch.stack([spectral_features(w) for w, _ in items]), torch.tensor([y for _, y in items])

    x, y = features(0, 320)
    vx, vy = features(1, 160)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, vx = (x - mean) / std, (vx - mean) / std
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], 8)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + 1e-3 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        accuracy = (linear(vx).argmax(1) == vy).float().mean().item()
    assert accuracy > 0.75, accuracy  # chance is 0.125


def decode_dtmf(wave: torch.Tensor, sample_rate: int) -> str:
    """A plain DTMF decoder: loud runs of 10 ms frames are keys; the strongest row and column tone name each."""
    hop = sample_rate // 100
    frames = wave[: len(wave) // hop * hop].view(-1, hop)
    loud = (frames.pow(2).mean(1).sqrt() > 0.035).tolist()
    keys, start = [], None
    for i, on in enumerate(loud + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            segment = wave[start * hop:i * hop]
            spectrum = torch.fft.rfft(segment * torch.hann_window(len(segment)), n=8 * sample_rate).abs()  # 1/8 Hz bins
            power = lambda f: spectrum[round(f * 8 * 0.985):round(f * 8 * 1.015) + 1].max().item()  # noqa: E731
            low = max({f[0] for f in FREQUENCIES.values()}, key=power)
            high = max({f[1] for f in FREQUENCIES.values()}, key=power)
            keys.append(next(k for k, f in FREQUENCIES.items() if f == (low, high)))
            start = None
    return "".join(keys)


def test_dtmf_clips_decode_to_their_transcripts(one_thread):
    data = DTMFClips(40, sample_rate=8000, seed=6)
    lengths = Counter()
    for i in range(len(data)):
        wave, transcript = data[i]
        assert wave.dtype == torch.float32 and wave.dim() == 1 and wave.abs().max() <= 1.0
        assert 2 <= len(transcript) <= 6 and set(transcript) <= set(data.alphabet) == set("0123456789")
        assert len(wave) <= 1.9 * 8000 + 1
        assert decode_dtmf(wave, 8000) == transcript, i
        lengths[len(transcript)] += 1
    assert len(lengths) == 5


def test_dtmf_options(one_thread):
    data = DTMFClips(20, seed=7, min_digits=1, max_digits=1, alphabet="*#AD")
    for i in range(len(data)):
        wave, transcript = data[i]
        assert len(transcript) == 1 and decode_dtmf(wave, 16000) == transcript
    for bad in ({"alphabet": "0x"}, {"alphabet": "00"}, {"alphabet": ""}, {"min_digits": 3, "max_digits": 2},
                {"min_digits": 0}, {"sample_rate": 3000}):
        with pytest.raises(ValueError):
            DTMFClips(1, **bad)
