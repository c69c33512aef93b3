"""Block and Stack: pre/post-norm formulas, cross-attention, dropout, checkpointing, cached decoding; DropPath."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import zoo.nn.stack as stack_module
from zoo.nn import (
    MLP,
    Attention,
    Block,
    DropPath,
    GatedMLP,
    LayerCache,
    LayerNorm,
    RelativePositionBias,
    RMSNorm,
    RotaryEmbedding,
    Stack,
    padding_bias,
)

D, H = 16, 4
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def norm() -> nn.Module:
    n = LayerNorm(D)
    with torch.no_grad():  # not the identity-at-init affine, so a skipped norm would show
        n.weight.normal_(1.0, 0.3)
        n.bias.normal_(0.0, 0.3)
    return n


def make_block(*, post_norm: bool = False, cross: bool = False, context_dim: int | None = None,
               dropout: float = 0.0, drop_path: float = 0.0, **attn_kw) -> Block:
    return Block(
        Attention(D, H, **attn_kw), MLP(D, 2 * D), norm(), norm(),
        cross_attn=Attention(D, H, cross=True, context_dim=context_dim) if cross else None,
        norm_cross=norm() if cross else None,
        post_norm=post_norm, dropout=dropout, drop_path=drop_path,
    )


# --- residual formulas, computed from the block's own submodules ---

def test_pre_norm_formula() -> None:
    block = make_block().eval()
    x = torch.randn(2, 5, D)
    h = x + block.attn(block.norm_attn(x), is_causal=True)
    expected = h + block.mlp(block.norm_mlp(h))
    torch.testing.assert_close(block(x, is_causal=True), expected, atol=ATOL, rtol=0)


def test_post_norm_formula() -> None:
    block = make_block(post_norm=True).eval()
    x = torch.randn(2, 5, D)
    bias = padding_bias(torch.tensor([[1] * 5, [1] * 3 + [0] * 2]), torch.float32)
    h = block.norm_attn(x + block.attn(x, bias=bias))
    expected = block.norm_mlp(h + block.mlp(h))
    torch.testing.assert_close(block(x, attn_bias=bias), expected, atol=ATOL, rtol=0)
    # and it really is a different computation from pre-norm with the same weights
    block.post_norm = False
    assert not torch.allclose(block(x, attn_bias=bias), expected, atol=1e-3)


@pytest.mark.parametrize("post_norm", [False, True])
def test_cross_attention_block_formula(post_norm: bool) -> None:
    block = make_block(post_norm=post_norm, cross=True, context_dim=12).eval()
    x, ctx = torch.randn(2, 4, D), torch.randn(2, 7, 12)
    ctx_bias = padding_bias(torch.tensor([[1] * 7, [1] * 5 + [0] * 2]), torch.float32)
    out = block(x, is_causal=True, context=ctx, context_bias=ctx_bias)
    if post_norm:
        h = block.norm_attn(x + block.attn(x, is_causal=True))
        h = block.norm_cross(h + block.cross_attn(h, ctx, bias=ctx_bias))
        expected = block.norm_mlp(h + block.mlp(h))
    else:
        h = x + block.attn(block.norm_attn(x), is_causal=True)
        h = h + block.cross_attn(block.norm_cross(h), ctx, bias=ctx_bias)
        expected = h + block.mlp(block.norm_mlp(h))
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_cross_attn_and_norm_go_together() -> None:
    with pytest.raises(ValueError, match="together"):
        Block(Attention(D, H), MLP(D, D), norm(), norm(), cross_attn=Attention(D, H, cross=True))


# --- dropout and drop path ---

def test_dropout_inactive_in_eval_active_in_train() -> None:
    block = make_block(dropout=0.5)
    x = torch.randn(2, 5, D)
    block.eval()
    h = x + block.attn(block.norm_attn(x))
    expected = h + block.mlp(block.norm_mlp(h))
    torch.testing.assert_close(block(x), expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(block(x), block(x))
    block.train()
    a, b = block(x), block(x)
    assert not torch.allclose(a, b, atol=1e-3)
    assert not torch.allclose(a, expected, atol=1e-3)


def test_drop_path_inactive_in_eval_drops_whole_samples_in_train() -> None:
    block = make_block(drop_path=0.5)
    x = torch.randn(32, 3, D)
    block.eval()
    h = x + block.attn(block.norm_attn(x))
    expected = h + block.mlp(block.norm_mlp(h))
    torch.testing.assert_close(block(x), expected, atol=ATOL, rtol=0)
    block.train()
    out = block(x)
    # pre-norm: a sample whose two branches were both dropped comes out exactly as it went in
    untouched = (out == x).flatten(1).all(dim=1)
    partly = (out == x).flatten(1).any(dim=1) & ~untouched
    assert 0 < int(untouched.sum()) < 32
    assert not partly.any()  # drop path never zeroes part of a sample


def test_drop_path_module() -> None:
    x = torch.randn(4, 3, 5)
    dp = DropPath(0.3)
    dp.eval()
    assert dp(x) is x
    assert DropPath(0.0).train()(x) is x
    dp.train()
    ones = torch.ones(20000, 3, 2)
    out = dp(ones)
    per_sample = out.flatten(1)
    # each sample is either all zero or all 1/keep
    assert ((per_sample == 0).all(1) | torch.isclose(per_sample, torch.tensor(1 / 0.7)).all(1)).all()
    dropped = (per_sample == 0).all(1).float().mean()
    assert abs(float(dropped) - 0.3) < 0.02
    assert abs(float(out.mean()) - 1.0) < 0.03  # expectation preserved
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        DropPath(1.0)


# --- Stack ---

def make_stack(depth: int = 2, *, cross: bool = False, dropout: float = 0.0, drop_path: float = 0.0,
               **attn_kw) -> Stack:
    return Stack([make_block(cross=cross, dropout=dropout, drop_path=drop_path, **attn_kw) for _ in range(depth)],
                 norm=norm())


def test_stack_runs_blocks_then_norm() -> None:
    stack = make_stack(3).eval()
    x = torch.randn(2, 4, D)
    h = x
    for block in stack.blocks:
        h = block(h, is_causal=True)
    torch.testing.assert_close(stack(x, is_causal=True), stack.norm(h), atol=ATOL, rtol=0)


@pytest.mark.parametrize("train_noise", [0.0, 0.1])
def test_grad_checkpointing_same_outputs_and_grads(monkeypatch: pytest.MonkeyPatch, train_noise: float) -> None:
    stack = make_stack(3, cross=True, dropout=train_noise, drop_path=train_noise).train()
    x, ctx = torch.randn(2, 5, D), torch.randn(2, 6, D)

    def run() -> tuple[Tensor, list[Tensor], Tensor]:
        xi = x.clone().requires_grad_()
        torch.manual_seed(1)
        out = stack(xi, is_causal=True, context=ctx)
        (out * torch.linspace(-1, 1, D)).sum().backward()
        grads = [p.grad.clone() for p in stack.parameters()]
        stack.zero_grad(set_to_none=True)
        return out.detach(), grads, xi.grad

    plain = run()
    calls = []
    real_checkpoint = stack_module.checkpoint
    monkeypatch.setattr(stack_module, "checkpoint", lambda *a, **k: calls.append(1) or real_checkpoint(*a, **k))
    stack.grad_checkpointing = True
    ckpt = run()
    assert len(calls) == 3  # the checkpointed path really ran
    torch.testing.assert_close(ckpt[0], plain[0])
    torch.testing.assert_close(ckpt[2], plain[2])
    for a, b in zip(ckpt[1], plain[1]):
        torch.testing.assert_close(a, b)


def test_make_caches_shapes() -> None:
    stack = make_stack(2, cross=True, num_kv_heads=2)
    caches = stack.make_caches(3, 10, context_len=7)
    assert len(caches) == 2 and all(isinstance(c, LayerCache) for c in caches)
    assert caches[0].self_attn.keys.shape == (3, 2, 10, 4)
    assert caches[0].cross_attn.keys.shape == (3, 4, 7, 4)
    assert stack.make_caches(3, 10)[0].cross_attn is None
    assert stack.make_caches(1, 4, dtype=torch.float64)[0].self_attn.keys.dtype == torch.float64


def test_decoder_stack_incremental_decoding_equals_full_pass() -> None:
    stack = make_stack(2, cross=True).eval()
    x, ctx = torch.randn(2, 6, D), torch.randn(2, 5, D)
    ctx_bias = padding_bias(torch.tensor([[1] * 5, [1] * 3 + [0] * 2]), torch.float32)
    full = stack(x, is_causal=True, context=ctx, context_bias=ctx_bias)
    caches = stack.make_caches(2, 6, context_len=5)
    outs = [stack(x[:, :2], caches=caches, is_causal=True, context=ctx, context_bias=ctx_bias)]
    outs += [stack(x[:, t : t + 1], caches=caches, is_causal=True, context=None, context_bias=ctx_bias)
             for t in range(2, 6)]
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=ATOL, rtol=0)
    assert all(c.self_attn.length == 6 and c.cross_attn.length == 5 for c in caches)


def test_t5_style_stack_with_relative_bias_incremental_equals_full() -> None:
    # RMSNorm, gated MLP, no biases, scale=1.0 and a relative bias computed once per stack
    blocks = [
        Block(Attention(D, H, bias=False, scale=1.0), GatedMLP(D, 24), RMSNorm(D), RMSNorm(D),
              cross_attn=Attention(D, H, cross=True, bias=False, scale=1.0), norm_cross=RMSNorm(D))
        for _ in range(2)
    ]
    stack = Stack(blocks, norm=RMSNorm(D)).eval()
    rpb = RelativePositionBias(H, bidirectional=False, num_buckets=16, max_distance=32)
    x, ctx = torch.randn(2, 5, D), torch.randn(2, 4, D)
    full = stack(x, attn_bias=rpb(5, 5), is_causal=True, context=ctx)
    caches = stack.make_caches(2, 5, context_len=4)
    outs = [stack(x[:, t : t + 1], caches=caches, attn_bias=rpb(1, t + 1, offset=t), is_causal=True,
                  context=ctx if t == 0 else None) for t in range(5)]
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=ATOL, rtol=0)


def test_rotary_gqa_stack_incremental_equals_full() -> None:
    blocks = [Block(Attention(D, H, num_kv_heads=1, bias=False), GatedMLP(D, 24), RMSNorm(D), RMSNorm(D))
              for _ in range(2)]
    stack = Stack(blocks, norm=RMSNorm(D)).eval()
    rope = RotaryEmbedding(D // H)
    x = torch.randn(2, 6, D)
    full = stack(x, is_causal=True, rotary=rope(6))
    caches = stack.make_caches(2, 6)
    outs = [stack(x[:, :3], caches=caches, is_causal=True, rotary=rope(3))]
    outs += [stack(x[:, t : t + 1], caches=caches, is_causal=True, rotary=rope(1, offset=t)) for t in range(3, 6)]
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=ATOL, rtol=0)
