"""Attention: manual references, causality, masks, scale, cross, GQA, KV cache and rotary."""
from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from zoo.nn import Attention, KVCache, RotaryEmbedding, apply_causal, padding_bias

ATOL = 1e-5


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --- references written with explicit matmuls, independent of the module's code paths ---

def heads(t: Tensor, n: int) -> Tensor:
    # [B, T, n*hd] -> [B, n, T, hd]
    b, t_len, _ = t.shape
    return t.reshape(b, t_len, n, -1).permute(0, 2, 1, 3)


def manual_project(attn: Attention, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """q [B, H, T, hd], k, v [B, H_kv, T_k, hd] from the module's own weights."""
    h, h_kv, hd = attn.num_heads, attn.num_kv_heads, attn.head_dim
    if attn.cross:
        q = x @ attn.q.weight.T + attn.q.bias
        kv = context @ attn.kv.weight.T + attn.kv.bias
        k, v = kv[..., : h_kv * hd], kv[..., h_kv * hd :]
    else:
        w, b = attn.qkv.weight, attn.qkv.bias
        q = x @ w[: h * hd].T + b[: h * hd]
        k = x @ w[h * hd : (h + h_kv) * hd].T + b[h * hd : (h + h_kv) * hd]
        v = x @ w[(h + h_kv) * hd :].T + b[(h + h_kv) * hd :]
    return heads(q, h), heads(k, h_kv), heads(v, h_kv)


def manual_sdpa(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None, scale: float | None = None) -> Tensor:
    """softmax(q k^T * scale + bias) v."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    return torch.matmul(scores.softmax(dim=-1), v)


def manual_out(attn: Attention, o: Tensor) -> Tensor:
    # [B, H, T, hd] -> [B, T, D]
    b, h, t, hd = o.shape
    return o.permute(0, 2, 1, 3).reshape(b, t, h * hd) @ attn.proj.weight.T + attn.proj.bias


def manual_attention(attn: Attention, x: Tensor, context: Tensor | None = None, *, bias: Tensor | None = None,
                     causal: bool = False, scale: float | None = None) -> Tensor:
    q, k, v = manual_project(attn, x, context)
    groups = attn.num_heads // attn.num_kv_heads
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    t_q, t_k = q.shape[2], k.shape[2]
    total = torch.zeros(t_q, t_k) if bias is None else bias
    if causal:
        allowed = torch.ones(t_q, t_k, dtype=torch.bool).tril(diagonal=t_k - t_q)
        total = total + torch.zeros(t_q, t_k).masked_fill(~allowed, float("-inf"))
    return manual_out(attn, manual_sdpa(q, k, v, total, scale))


def complex_rotary(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate (x[i], x[i + d/2]) as the complex number x[i] + 1j*x[i + d/2] by pos * base**(-2i/d)."""
    d = x.shape[-1]
    half = d // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double())
    theta = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
    z = z * torch.exp(1j * positions.double()[:, None] * theta[None, :])
    return torch.cat((z.real, z.imag), dim=-1).to(x.dtype)


def randomize(attn: Attention) -> Attention:
    for p in attn.parameters():  # non-zero biases so a missing bias would show
        torch.nn.init.normal_(p, std=0.3)
    return attn.eval()


# --- plain forward against the reference ---

def test_self_attention_matches_manual_reference() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(attn(x), manual_attention(attn, x), atol=ATOL, rtol=0)


def test_explicit_head_dim() -> None:
    attn = randomize(Attention(12, 2, head_dim=8))  # inner width 16 != dim (T5 allows this)
    assert attn.qkv.weight.shape == (48, 12) and attn.proj.weight.shape == (12, 16)
    x = torch.randn(2, 4, 12)
    torch.testing.assert_close(attn(x), manual_attention(attn, x), atol=ATOL, rtol=0)


def test_additive_bias_matches_manual_reference() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 5, 16)
    bias = torch.randn(2, 4, 5, 5)
    out = attn(x, bias=bias)
    torch.testing.assert_close(out, manual_attention(attn, x, bias=bias), atol=ATOL, rtol=0)
    assert not torch.allclose(out, attn(x), atol=1e-3)  # the bias matters


def test_broadcast_bias_per_head() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 5, 16)
    bias = torch.randn(1, 4, 5, 5)  # the shape RelativePositionBias produces
    torch.testing.assert_close(attn(x, bias=bias), manual_attention(attn, x, bias=bias), atol=ATOL, rtol=0)


@pytest.mark.parametrize("scale", [1.0, 0.05])
def test_scale_argument_respected(scale: float) -> None:
    attn = randomize(Attention(16, 4, scale=scale))
    x = torch.randn(2, 5, 16)
    bias = torch.randn(1, 4, 5, 5)
    out = attn(x, bias=bias)
    torch.testing.assert_close(out, manual_attention(attn, x, bias=bias, scale=scale), atol=ATOL, rtol=0)
    default = manual_attention(attn, x, bias=bias, scale=None)
    assert not torch.allclose(out, default, atol=1e-3)


def test_cross_attention_matches_manual_reference() -> None:
    attn = randomize(Attention(16, 4, cross=True, context_dim=10))
    x, ctx = torch.randn(2, 3, 16), torch.randn(2, 7, 10)
    bias = padding_bias(torch.tensor([[1] * 7, [1] * 5 + [0] * 2]), torch.float32)
    torch.testing.assert_close(attn(x, ctx), manual_attention(attn, x, ctx), atol=ATOL, rtol=0)
    torch.testing.assert_close(attn(x, ctx, bias=bias), manual_attention(attn, x, ctx, bias=bias), atol=ATOL, rtol=0)


def test_cross_attention_without_context_raises() -> None:
    attn = Attention(16, 4, cross=True)
    with pytest.raises(ValueError, match="context"):
        attn(torch.randn(1, 2, 16))


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="divisible"):
        Attention(10, 4)
    with pytest.raises(ValueError, match="multiple"):
        Attention(16, 4, num_kv_heads=3)


# --- causality ---

def _perturb_later(x: Tensor, t: int) -> Tensor:
    x2 = x.clone()
    x2[:, t:] += torch.randn_like(x2[:, t:])
    return x2


def test_causal_fused_path() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 6, 16)
    x2 = _perturb_later(x, 4)
    out, out2 = attn(x, is_causal=True), attn(x2, is_causal=True)
    torch.testing.assert_close(out[:, :4], out2[:, :4], atol=ATOL, rtol=0)
    assert not torch.allclose(out[:, 4:], out2[:, 4:], atol=1e-3)
    torch.testing.assert_close(out, manual_attention(attn, x, causal=True), atol=ATOL, rtol=0)
    # control: without is_causal the earlier positions do see the change
    assert not torch.allclose(attn(x)[:, :4], attn(x2)[:, :4], atol=1e-3)


def test_causal_with_padding_bias() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 6, 16)
    bias = padding_bias(torch.tensor([[1] * 6, [1] * 5 + [0]]), torch.float32)
    x2 = _perturb_later(x, 3)
    out, out2 = attn(x, bias=bias, is_causal=True), attn(x2, bias=bias, is_causal=True)
    torch.testing.assert_close(out[:, :3], out2[:, :3], atol=ATOL, rtol=0)
    assert not torch.allclose(out[:, 3:], out2[:, 3:], atol=1e-3)
    torch.testing.assert_close(out, manual_attention(attn, x, bias=bias, causal=True), atol=ATOL, rtol=0)


def test_causal_with_per_head_bias() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 5, 16)
    bias = torch.randn(1, 4, 5, 5)
    out = attn(x, bias=bias, is_causal=True)
    torch.testing.assert_close(out, manual_attention(attn, x, bias=bias, causal=True), atol=ATOL, rtol=0)


# --- padding ---

def test_padded_keys_have_no_influence() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 7, 16)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    bias = padding_bias(mask, torch.float32)
    x2 = x.clone()
    x2[1, 4:] = 100 * torch.randn(3, 16)  # change only the padded positions of row 1
    out, out2 = attn(x, bias=bias), attn(x2, bias=bias)
    torch.testing.assert_close(out[0], out2[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(out[1, :4], out2[1, :4], atol=ATOL, rtol=0)
    # control: without the mask the change leaks into the real positions
    assert not torch.allclose(attn(x)[1, :4], attn(x2)[1, :4], atol=1e-3)


@pytest.mark.parametrize("is_causal", [False, True])
def test_padded_row_equals_unpadded_row(is_causal: bool) -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 7, 16)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    out = attn(x, bias=padding_bias(mask, torch.float32), is_causal=is_causal)
    alone = attn(x[1:, :4], is_causal=is_causal)
    torch.testing.assert_close(out[1:, :4], alone, atol=ATOL, rtol=0)
    torch.testing.assert_close(out[:1], attn(x[:1], is_causal=is_causal), atol=ATOL, rtol=0)


def test_fully_masked_row_is_finite() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1] * 5, [0] * 5])  # row 1: nothing to attend to
    out = attn(x, bias=padding_bias(mask, torch.float32))
    assert torch.isfinite(out).all()
    # left padding + causal: query 0 of row 1 may only see a padded key
    left = torch.tensor([[1] * 5, [0, 0, 1, 1, 1]])
    out = attn(x, bias=padding_bias(left, torch.float32), is_causal=True)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1, 2:], attn(x[1:, 2:], is_causal=True)[0], atol=ATOL, rtol=0)


def test_fully_masked_row_is_finite_bf16() -> None:
    attn = randomize(Attention(16, 4)).to(torch.bfloat16)
    x = torch.randn(2, 5, 16, dtype=torch.bfloat16)
    left = torch.tensor([[1] * 5, [0, 0, 0, 1, 1]])
    out = attn(x, bias=padding_bias(left, torch.bfloat16), is_causal=True)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


# --- grouped-query attention ---

@pytest.mark.parametrize("num_kv_heads", [1, 2])
def test_gqa_equals_repeated_kv_heads(num_kv_heads: int) -> None:
    attn = randomize(Attention(16, 4, num_kv_heads=num_kv_heads))
    assert attn.qkv.weight.shape == (16 + 2 * num_kv_heads * 4, 16)
    x = torch.randn(2, 5, 16)
    # reference: an ordinary 4-head attention whose k/v weights repeat each kv head for its query group
    full = Attention(16, 4).eval()
    hd, groups = 4, 4 // num_kv_heads
    w, b = attn.qkv.weight, attn.qkv.bias
    wq, bq = w[:16], b[:16]
    wk, bk = w[16 : 16 + num_kv_heads * hd], b[16 : 16 + num_kv_heads * hd]
    wv, bv = w[16 + num_kv_heads * hd :], b[16 + num_kv_heads * hd :]

    def repeat(t: Tensor) -> Tensor:  # [H_kv*hd, ...] -> [H*hd, ...], kv head j serves query heads j*groups..
        return t.unflatten(0, (num_kv_heads, hd)).repeat_interleave(groups, dim=0).flatten(0, 1)

    with torch.no_grad():
        full.qkv.weight.copy_(torch.cat((wq, repeat(wk), repeat(wv))))
        full.qkv.bias.copy_(torch.cat((bq, repeat(bk), repeat(bv))))
        full.proj.load_state_dict(attn.proj.state_dict())
    bias = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(attn(x), full(x), atol=ATOL, rtol=0)
    torch.testing.assert_close(attn(x, is_causal=True), full(x, is_causal=True), atol=ATOL, rtol=0)
    torch.testing.assert_close(attn(x, bias=bias, is_causal=True), full(x, bias=bias, is_causal=True),
                               atol=ATOL, rtol=0)
    torch.testing.assert_close(attn(x, bias=bias), manual_attention(attn, x, bias=bias), atol=ATOL, rtol=0)


# --- KV cache ---

@pytest.mark.parametrize("num_kv_heads", [None, 2])
def test_cache_token_by_token_equals_full_pass(num_kv_heads: int | None) -> None:
    attn = randomize(Attention(16, 4, num_kv_heads=num_kv_heads))
    x = torch.randn(2, 6, 16)
    full = attn(x, is_causal=True)
    cache = attn.make_cache(2, 8)
    assert cache.keys.shape == (2, num_kv_heads or 4, 8, 4)
    steps = [attn(x[:, t : t + 1], is_causal=True, cache=cache) for t in range(6)]
    assert cache.length == 6
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=ATOL, rtol=0)


def test_cache_prefill_then_steps_equals_full_pass() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 7, 16)
    full = attn(x, is_causal=True)
    cache = attn.make_cache(2, 7)
    outs = [attn(x[:, :3], is_causal=True, cache=cache),  # prefill on an empty cache
            attn(x[:, 3:5], is_causal=True, cache=cache)]  # a 2-token chunk: q_len < k_len
    outs += [attn(x[:, t : t + 1], is_causal=True, cache=cache) for t in (5, 6)]
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=ATOL, rtol=0)


def test_cache_with_padding_bias_equals_full_pass() -> None:
    attn = randomize(Attention(16, 4))
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1] * 5, [0, 1, 1, 1, 1]])  # left padding
    full = attn(x, bias=padding_bias(mask, torch.float32), is_causal=True)
    cache = attn.make_cache(2, 5)
    outs = [attn(x[:, :2], bias=padding_bias(mask[:, :2], torch.float32), is_causal=True, cache=cache)]
    outs += [attn(x[:, t : t + 1], bias=padding_bias(mask[:, : t + 1], torch.float32), is_causal=True, cache=cache)
             for t in range(2, 5)]
    got = torch.cat(outs, dim=1)
    # real positions agree; the padding query (row 1, position 0) sees no real key and its
    # (finite, uniform) output depends on how many masked keys exist, so it is excluded
    torch.testing.assert_close(got[0], full[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(got[1, 1:], full[1, 1:], atol=ATOL, rtol=0)


def test_cache_full_raises() -> None:
    attn = Attention(16, 4)
    cache = attn.make_cache(1, 2)
    attn(torch.randn(1, 2, 16), is_causal=True, cache=cache)
    with pytest.raises(ValueError, match="full"):
        attn(torch.randn(1, 1, 16), is_causal=True, cache=cache)


def test_cache_reorder() -> None:
    cache = KVCache(3, 2, 4, 5)
    k, v = torch.randn(3, 2, 2, 5), torch.randn(3, 2, 2, 5)
    cache.append(k, v)
    cache.reorder(torch.tensor([2, 0]))
    fk, fv = cache.filled()
    torch.testing.assert_close(fk, k[[2, 0]])
    torch.testing.assert_close(fv, v[[2, 0]])


def test_cross_attention_cache_reuses_context_projection() -> None:
    attn = randomize(Attention(16, 4, cross=True, context_dim=10))
    x, ctx = torch.randn(2, 4, 16), torch.randn(2, 7, 10)
    full = attn(x, ctx)
    calls = []
    attn.kv.register_forward_hook(lambda *_: calls.append(1))
    cache = attn.make_cache(2, 7)
    outs = [attn(x[:, :1], ctx, cache=cache)]
    assert cache.length == 7 and len(calls) == 1
    outs += [attn(x[:, t : t + 1], None, cache=cache) for t in range(1, 4)]
    assert len(calls) == 1 and cache.length == 7  # projected once, never appended again
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=ATOL, rtol=0)


# --- rotary inside attention ---

def test_rotary_inside_attention_matches_manual() -> None:
    attn = randomize(Attention(16, 2))  # head_dim 8
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 5, 16)
    out = attn(x, is_causal=True, rotary=rope(5))
    q, k, v = manual_project(attn, x)
    pos = torch.arange(5)
    q, k = complex_rotary(q, pos), complex_rotary(k, pos)
    mask = torch.zeros(5, 5).masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    torch.testing.assert_close(out, manual_out(attn, manual_sdpa(q, k, v, mask)), atol=ATOL, rtol=0)


@pytest.mark.parametrize("num_kv_heads", [None, 1])
def test_rotary_with_cache_matches_full_pass(num_kv_heads: int | None) -> None:
    attn = randomize(Attention(16, 2, num_kv_heads=num_kv_heads))
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 6, 16)
    full = attn(x, is_causal=True, rotary=rope(6))
    cache = attn.make_cache(2, 6)
    outs = [attn(x[:, :2], is_causal=True, rotary=rope(2), cache=cache)]
    outs += [attn(x[:, t : t + 1], is_causal=True, rotary=rope(1, offset=t), cache=cache) for t in range(2, 6)]
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=ATOL, rtol=0)
    # control: the wrong offsets give a different answer
    cache = attn.make_cache(2, 6)
    wrong = [attn(x[:, t : t + 1], is_causal=True, rotary=rope(1), cache=cache) for t in range(6)]
    assert not torch.allclose(torch.cat(wrong, dim=1)[:, 1:], full[:, 1:], atol=1e-3)


def test_apply_causal_used_for_bias_matches_reference() -> None:
    # the bias Attention builds for a chunk equals bottom-right causal masking of the given bias
    bias = torch.randn(1, 2, 3, 5)
    got = apply_causal(bias, 3, 5, torch.float32, torch.device("cpu"))
    allowed = torch.ones(3, 5, dtype=torch.bool).tril(diagonal=2)
    torch.testing.assert_close(got[..., allowed], bias[..., allowed])
    assert (got[..., ~allowed] == torch.finfo(torch.float32).min).all()
