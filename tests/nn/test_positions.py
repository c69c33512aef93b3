"""Positions: T5 relative buckets, rotary, sinusoid tables, learned and fixed absolute positions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.nn import (
    LearnedPositions,
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalPositions,
    apply_rotary,
    relative_position_bucket,
    sinusoid_table,
)


def buckets(offsets: list[int], **kw) -> list[int]:
    return relative_position_bucket(torch.tensor(offsets), **kw).tolist()


# --- T5 relative position buckets ---
# relative_position = key - query (negative: the key is in the past).
#
# Bidirectional, num_buckets=16, max_distance=32: 8 buckets per direction, future keys
# (rel > 0) add 8. max_exact = 8 // 2 = 4, so distances 0..3 are their own bucket; for
# d >= 4: bucket = 4 + floor(log(d/4) / log(32/4) * (8 - 4)) = 4 + floor(4/3 * log2(d/4)),
# capped at 7:
#   d=4: 4 + floor(0)            = 4
#   d=5: 4 + floor(4/3*0.3219=0.43) = 4
#   d=6: 4 + floor(4/3*0.5850=0.78) = 4
#   d=7: 4 + floor(4/3*0.8074=1.08) = 5
#   d=10: 4 + floor(4/3*1.3219=1.76) = 5
#   d=12: 4 + floor(4/3*1.5850=2.11) = 6
#   d=20: 4 + floor(4/3*2.3219=3.10) = 7
#   d=31: 4 + floor(4/3*2.9542=3.94) = 7
#   d=32: 4 + 4 = 8 -> capped 7;  d=1000 -> capped 7
BIDIR_16_32 = {
    -1000: 7, -32: 7, -31: 7, -20: 7, -12: 6, -10: 5, -7: 5, -6: 4, -5: 4, -4: 4, -3: 3, -2: 2, -1: 1,
    0: 0, 1: 9, 2: 10, 3: 11, 4: 12, 5: 12, 6: 12, 7: 13, 12: 14, 20: 15, 31: 15, 1000: 15,
}

# Unidirectional (decoder), num_buckets=16, max_distance=32: every future key (rel > 0) is
# bucket 0; d = -rel. max_exact = 8, so d in 0..7 is exact; for d >= 8:
# bucket = 8 + floor(log(d/8) / log(32/8) * 8) = 8 + floor(4 * log2(d/8)), capped at 15:
#   d=8: 8;  d=9: 8 + floor(4*0.1699=0.68) = 8;  d=10: 8 + floor(4*0.3219=1.29) = 9
#   d=12: 8 + floor(4*0.5850=2.34) = 10;  d=14: 8 + floor(4*0.8074=3.23) = 11
#   d=20: 8 + floor(4*1.3219=5.29) = 13;  d=24: 8 + floor(4*1.5850=6.34) = 14
#   d=28: 8 + floor(4*1.8074=7.23) = 15;  d=31: 8 + floor(7.82) = 15;  d=32, 500: capped 15
UNIDIR_16_32 = {
    100: 0, 5: 0, 1: 0, 0: 0, -1: 1, -5: 5, -7: 7, -8: 8, -9: 8, -10: 9, -12: 10, -14: 11,
    -20: 13, -24: 14, -28: 15, -31: 15, -32: 15, -500: 15,
}

# The T5 default, bidirectional, num_buckets=32, max_distance=128: 16 per direction, future
# adds 16, max_exact 8; for d >= 8: 8 + floor(log(d/8) / log(16) * 8) = 8 + floor(2*log2(d/8)):
#   d=10: floor(0.64) -> 8;  d=13: floor(1.40) -> 9;  d=20: floor(2.64) -> 10
#   d=40: floor(4.64) -> 12;  d=50: floor(5.29) -> 13;  d=70: floor(6.26) -> 14
#   d=100: floor(7.29) -> 15;  d=127: floor(7.98) -> 15;  d=200: capped 15
BIDIR_32_128 = {
    -200: 15, -127: 15, -100: 15, -70: 14, -50: 13, -40: 12, -20: 10, -13: 9, -10: 8, -7: 7, -1: 1,
    0: 0, 1: 17, 7: 23, 10: 24, 13: 25, 50: 29, 100: 31, 200: 31,
}


@pytest.mark.parametrize("table, kw", [
    (BIDIR_16_32, dict(bidirectional=True, num_buckets=16, max_distance=32)),
    (UNIDIR_16_32, dict(bidirectional=False, num_buckets=16, max_distance=32)),
    (BIDIR_32_128, dict(bidirectional=True, num_buckets=32, max_distance=128)),
])
def test_relative_position_bucket_hand_computed(table: dict[int, int], kw: dict) -> None:
    offsets = list(table)
    assert buckets(offsets, **kw) == [table[o] for o in offsets]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (16, 32), (8, 20), (64, 256)])
def test_relative_position_bucket_matches_transformers(bidirectional: bool, num_buckets: int,
                                                       max_distance: int) -> None:
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-600, 601)[None, :] - torch.arange(0, 3)[:, None]  # [3, 1201]
    ours = relative_position_bucket(rel, bidirectional=bidirectional, num_buckets=num_buckets,
                                    max_distance=max_distance)
    theirs = T5Attention._relative_position_bucket(rel, bidirectional=bidirectional, num_buckets=num_buckets,
                                                   max_distance=max_distance)
    assert ours.dtype == torch.long
    assert torch.equal(ours, theirs)


def test_relative_position_bias_shape_and_values() -> None:
    torch.manual_seed(0)
    rpb = RelativePositionBias(3, bidirectional=True, num_buckets=16, max_distance=32)
    bias = rpb(4, 6)
    assert bias.shape == (1, 3, 4, 6)
    for i in range(4):
        for j in range(6):
            bucket = BIDIR_16_32[j - i]
            torch.testing.assert_close(bias[0, :, i, j], rpb.embedding.weight[bucket])


def test_relative_position_bias_offset() -> None:
    torch.manual_seed(0)
    rpb = RelativePositionBias(2, bidirectional=False, num_buckets=16, max_distance=32)
    full = rpb(10, 10)
    for t in range(10):  # a decoding step: query at position t against keys 0..t
        step = rpb(1, t + 1, offset=t)
        assert step.shape == (1, 2, 1, t + 1)
        torch.testing.assert_close(step, full[:, :, t : t + 1, : t + 1])
    torch.testing.assert_close(rpb(3, 10, offset=7), full[:, :, 7:])
    # unidirectional: every future key shares bucket 0
    torch.testing.assert_close(full[0, :, 0, 1:], rpb.embedding.weight[0][:, None].expand(2, 9))


# --- rotary ---

def complex_rotary(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """(x[i], x[i+d/2]) as x[i] + 1j*x[i+d/2], times exp(1j * pos * base**(-2i/d))."""
    d = x.shape[-1]
    z = torch.complex(x[..., : d // 2].double(), x[..., d // 2 :].double())
    theta = base ** (-2.0 * torch.arange(d // 2, dtype=torch.float64) / d)
    z = z * torch.exp(1j * positions.double()[:, None] * theta)
    return torch.cat((z.real, z.imag), dim=-1)


@pytest.mark.parametrize("base, offset", [(10000.0, 0), (10000.0, 17), (500.0, 3)])
def test_rotary_matches_complex_formula(base: float, offset: int) -> None:
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, base=base)
    x = torch.randn(2, 3, 5, 8)  # [B, H, T, hd]
    cos, sin = rope(5, offset=offset)
    assert cos.shape == sin.shape == (5, 8)
    got = apply_rotary(x, cos, sin)
    expected = complex_rotary(x, torch.arange(offset, offset + 5), base)
    torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=0)


def test_rotary_position_zero_is_identity_and_preserves_norms() -> None:
    torch.manual_seed(0)
    rope = RotaryEmbedding(16)
    x = torch.randn(2, 4, 20, 16)
    torch.testing.assert_close(apply_rotary(x[:, :, :1], *rope(1)), x[:, :, :1])
    y = apply_rotary(x, *rope(20, offset=100))
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(y, x, atol=1e-3)


def test_rotary_scores_depend_only_on_relative_position() -> None:
    torch.manual_seed(0)
    rope = RotaryEmbedding(16)
    q, k = torch.randn(16), torch.randn(16)

    def score(m: int, n: int) -> torch.Tensor:
        qm = apply_rotary(q[None], *rope(1, offset=m))[0]
        kn = apply_rotary(k[None], *rope(1, offset=n))[0]
        return qm @ kn

    for m, n in [(5, 2), (9, 6), (40, 37)]:
        torch.testing.assert_close(score(m, n), score(3, 0), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(score(3, 0), score(3, 1), atol=1e-3)


def test_rotary_rejects_odd_head_dim() -> None:
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)


# --- sinusoids ---

def test_sinusoid_table_interleaved_is_vaswani() -> None:
    max_len, d = 50, 16
    table = sinusoid_table(max_len, d)  # defaults: interleaved=True, endpoint=False
    expected = torch.empty(max_len, d, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(d // 2):
            expected[pos, 2 * i] = math.sin(pos / 10000 ** (2 * i / d))
            expected[pos, 2 * i + 1] = math.cos(pos / 10000 ** (2 * i / d))
    assert table.shape == (max_len, d) and table.dtype == torch.float32
    torch.testing.assert_close(table.double(), expected, atol=2e-5, rtol=0)


def whisper_sinusoids(length: int, channels: int, max_timescale: float = 10000) -> torch.Tensor:
    """Whisper's `sinusoids` (openai/whisper model.py), written out here."""
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, np.newaxis] * inv_timescales[np.newaxis, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def test_sinusoid_table_whisper_layout() -> None:
    table = sinusoid_table(60, 12, interleaved=False, endpoint=True)
    torch.testing.assert_close(table.double(), whisper_sinusoids(60, 12).double(), atol=2e-5, rtol=0)
    # the non-endpoint frequencies differ (the last one is base^(-(half-1)/half), not 1/base)
    assert not torch.allclose(sinusoid_table(60, 12, interleaved=False, endpoint=False), table, atol=1e-3)


def test_sinusoid_table_errors() -> None:
    with pytest.raises(ValueError, match="even"):
        sinusoid_table(4, 7)
    with pytest.raises(ValueError, match="endpoint"):
        sinusoid_table(4, 2, endpoint=True)  # a single frequency has no spacing


# --- absolute position modules ---

def test_learned_positions_rows_and_limit() -> None:
    torch.manual_seed(0)
    pos = LearnedPositions(8, 4)
    assert pos.max_len == 8 and "weight" in pos.state_dict()
    torch.testing.assert_close(pos(3, offset=2), pos.weight[2:5])
    assert pos(8).shape == (8, 4)  # exactly max_len is fine
    with pytest.raises(ValueError, match="longer than the 8"):
        pos(9)
    with pytest.raises(ValueError, match="longer than the 8"):
        pos(2, offset=7)


def test_sinusoidal_positions_rows_and_limit() -> None:
    pos = SinusoidalPositions(8, 6, interleaved=False, endpoint=True)
    assert pos.max_len == 8 and "table" not in pos.state_dict()  # fixed, not saved
    torch.testing.assert_close(pos(4, offset=3), whisper_sinusoids(8, 6)[3:7])
    with pytest.raises(ValueError, match="longer than the 8"):
        pos(9)
    with pytest.raises(ValueError, match="longer than the 8"):
        pos(1, offset=8)


@pytest.mark.parametrize("make", [lambda: LearnedPositions(16, 8), lambda: SinusoidalPositions(16, 8)])
def test_lookup_takes_explicit_position_ids(make):
    positions = make()
    ids = torch.tensor([[0, 1, 2, 3], [2, 3, 4, 15]])  # e.g. counted from a mask, or offset as RoBERTa's
    table = positions(16)  # [16, 8]
    torch.testing.assert_close(positions.lookup(ids), table[ids], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"position ids must be in \[0, 16\) for this model; got values in \[0, 16\]"):
        positions.lookup(torch.tensor([[0, 16]]))
    with pytest.raises(TypeError, match="position ids must be an integer tensor"):
        positions.lookup(ids.float())
