"""Generic block extensions the speech families use: split key bias, prefix pooling, grid pooling, conv stem."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo import nn as znn


def _manual_attention(x, wq, bq, wk, wv, bv, proj, heads):
    q, k, v = F.linear(x, wq, bq), F.linear(x, wk), F.linear(x, wv, bv)
    split = lambda t: t.unflatten(-1, (heads, -1)).transpose(1, 2)  # noqa: E731
    out = F.scaled_dot_product_attention(split(q), split(k), split(v))
    return proj(out.transpose(1, 2).flatten(2))


def test_key_bias_false_is_attention_without_key_bias():
    attn = znn.Attention(16, 4, key_bias=False)
    with torch.no_grad():
        attn.q_bias.normal_(), attn.v_bias.normal_()
    wq, wk, wv = attn.qkv.weight.chunk(3, dim=0)
    x = torch.randn(2, 5, 16)
    expected = _manual_attention(x, wq, attn.q_bias, wk, wv, attn.v_bias, attn.proj, 4)
    assert torch.allclose(attn(x), expected, atol=1e-6)
    assert attn.qkv.bias is None
    assert set(attn.state_dict()) == {"qkv.weight", "q_bias", "v_bias", "proj.weight", "proj.bias"}


def test_key_bias_stays_zero_through_training_and_dtype_moves():
    attn = znn.Attention(8, 2, key_bias=False)
    optimizer = torch.optim.SGD(attn.parameters(), lr=0.5)
    attn(torch.randn(2, 3, 8)).square().sum().backward()
    optimizer.step()
    assert attn.q_bias.abs().sum() > 0 and attn.v_bias.abs().sum() > 0  # learned
    assert torch.equal(attn.k_bias, torch.zeros(8))  # a constant, not a parameter
    assert attn.double()(torch.randn(1, 3, 8, dtype=torch.float64)).dtype == torch.float64


def test_key_bias_false_in_cross_attention():
    attn = znn.Attention(8, 2, cross=True, context_dim=6, key_bias=False)
    assert attn.q.bias is not None and attn.kv.bias is None and attn.q_bias is None
    with torch.no_grad():
        attn.v_bias.normal_()
    context = torch.randn(2, 4, 6)
    k, v = attn._fused(attn.kv, context).chunk(2, dim=-1)
    wk, wv = attn.kv.weight.chunk(2, dim=0)
    assert torch.allclose(k, context @ wk.T, atol=1e-6) and torch.allclose(v, context @ wv.T + attn.v_bias, atol=1e-6)
    assert attn(torch.randn(2, 3, 8), context).shape == (2, 3, 8)


def test_default_attention_is_unchanged():
    attn = znn.Attention(8, 2)
    assert attn.q_bias is None and attn.v_bias is None and attn.k_bias is None and attn.qkv.bias is not None
    assert set(attn.state_dict()) == {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias"}


def test_prefix_pool_averages_prefix_tokens_then_norms():
    x = torch.randn(3, 6, 8)
    assert torch.allclose(znn.TokenPool("prefix", 2)(x), (x[:, 0] + x[:, 1]) / 2)
    norm = nn.LayerNorm(8)
    assert torch.allclose(znn.TokenPool("prefix", 2, norm=norm)(x), norm((x[:, 0] + x[:, 1]) / 2))
    assert "norm.weight" in znn.TokenPool("avg", 1, norm=nn.LayerNorm(8)).state_dict()
    assert znn.TokenPool("token").state_dict() == {}  # no norm: nothing new to save
    with pytest.raises(ValueError, match="'prefix', 'token' or 'avg'"):
        znn.TokenPool("max")
    with pytest.raises(ValueError, match="at least one prefix token"):
        znn.TokenPool("prefix", 0)


def test_grid_axis_pool_means_over_rows():
    x = torch.randn(2, 2 + 3 * 4, 5)  # two prefix tokens, a 3 x 4 grid
    pooled = znn.GridAxisPool((3, 4), num_prefix_tokens=2)(x)
    expected = torch.stack([x[:, 2 + c :: 4].mean(dim=1) for c in range(4)], dim=1)
    assert pooled.shape == (2, 4, 5) and torch.allclose(pooled, expected, atol=1e-6)
    with pytest.raises(ValueError, match="3 x 4 patch tokens after 2 prefix tokens, got 11"):
        znn.GridAxisPool((3, 4), 2)(x[:, :-1])


def test_conv_stem_lengths_and_padding_never_leaks():
    stem = znn.ConvStem(4, 6, strides=(1, 2))
    x = torch.randn(2, 4, 11)
    out = stem(x)
    assert out.shape == (2, 6, 6) and int(stem.output_lengths(torch.tensor(11))) == 6
    lengths = torch.tensor([11, 7])
    real = int(stem.output_lengths(lengths)[1])
    assert real == 4
    other = x.clone()
    other[1, :, 7:] = 100.0  # different padding content
    assert torch.allclose(stem(x, lengths)[1, :real], stem(other, lengths)[1, :real], atol=1e-6)
    alone = stem(x[1:, :, :7])  # the clip without any padding: the stem zero-pads just like the mask
    assert torch.allclose(stem(x, lengths)[1, :real], alone[0], atol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        znn.ConvStem(4, 6, kernel_size=4)
