"""Masks: bottom-right causal alignment, padding biases and folding them together."""
from __future__ import annotations

import pytest
import torch

from zoo.nn import Attention, apply_causal, causal_mask, padding_bias

MIN32 = torch.finfo(torch.float32).min


def test_causal_mask_square_is_lower_triangular() -> None:
    expected = torch.tensor([
        [1, 0, 0],
        [1, 1, 0],
        [1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(causal_mask(3, 3), expected)


def test_causal_mask_bottom_right_alignment() -> None:
    # 2 new queries after 3 cached keys: they sit at absolute positions 3 and 4
    expected = torch.tensor([
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(causal_mask(2, 5), expected)
    assert causal_mask(1, 4).all()  # a single decoding step sees every key


def test_padding_bias_shape_and_values() -> None:
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    bias = padding_bias(mask, torch.float32)
    assert bias.shape == (2, 1, 1, 3) and bias.dtype == torch.float32
    expected = torch.tensor([[0.0, 0.0, MIN32], [0.0, MIN32, MIN32]])
    assert torch.equal(bias[:, 0, 0], expected)
    assert torch.isfinite(bias).all()  # finite minimum, not -inf


def test_padding_bias_dtype_and_bool_mask() -> None:
    bias = padding_bias(torch.tensor([[True, False]]), torch.bfloat16)
    assert bias.dtype == torch.bfloat16
    assert bias[0, 0, 0, 1] == torch.finfo(torch.bfloat16).min and bias[0, 0, 0, 0] == 0


def test_padding_bias_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"\[batch, seq_len\]"):
        padding_bias(torch.ones(2, 1, 3), torch.float32)


def test_apply_causal_without_bias() -> None:
    bias = apply_causal(None, 2, 4, torch.float32, torch.device("cpu"))
    expected = torch.tensor([[0.0, 0.0, 0.0, MIN32], [0.0, 0.0, 0.0, 0.0]])
    assert torch.equal(bias, expected)


def test_apply_causal_with_padding_bias() -> None:
    pad = padding_bias(torch.tensor([[1, 1, 1], [0, 1, 1]]), torch.float32)  # [2, 1, 1, 3]
    bias = apply_causal(pad, 3, 3, torch.float32, torch.device("cpu"))
    assert bias.shape == (2, 1, 3, 3)
    blocked = torch.tensor([
        [[0, 1, 1], [0, 0, 1], [0, 0, 0]],
        [[1, 1, 1], [1, 0, 1], [1, 0, 0]],
    ], dtype=torch.bool)
    assert torch.equal(bias[:, 0] == MIN32, blocked)
    assert (bias[:, 0][~blocked] == 0).all()
    assert torch.equal(pad[:, 0, 0], torch.tensor([[0.0, 0.0, 0.0], [MIN32, 0.0, 0.0]]))  # input untouched


def test_fully_masked_query_row_gives_finite_outputs() -> None:
    torch.manual_seed(0)
    attn = Attention(8, 2).eval()
    x = torch.randn(1, 4, 8)
    bias = torch.zeros(1, 1, 4, 4)
    bias[..., 1, :] = MIN32  # query 1 may see nothing at all
    bias = apply_causal(bias, 4, 4, torch.float32, torch.device("cpu"))
    out = attn(x, bias=bias)
    assert torch.isfinite(out).all()
    # a row of equal (minimal) scores is a uniform average of all values
    v = x @ attn.qkv.weight[16:].T + attn.qkv.bias[16:]
    torch.testing.assert_close(out[0, 1], attn.proj(v[0].mean(0)), atol=1e-5, rtol=0)
