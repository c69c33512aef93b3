"""Norms and feed-forward layers against formulas written out here; weight init."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.nn import MLP, GatedMLP, LayerNorm, RMSNorm, init_trunc_normal


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def rms_reference(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w.float()


@pytest.mark.parametrize("eps", [1e-6, 0.5])
def test_rmsnorm_matches_formula(eps: float) -> None:
    norm = RMSNorm(8, eps=eps)
    with torch.no_grad():
        norm.weight.normal_()
    x = 3 * torch.randn(2, 5, 8) + 1  # non-zero mean: RMSNorm must not subtract it
    torch.testing.assert_close(norm(x), rms_reference(x, norm.weight, eps), atol=1e-5, rtol=1e-5)
    assert "eps=" in repr(norm)


def test_rmsnorm_bfloat16() -> None:
    norm = RMSNorm(64)
    with torch.no_grad():
        norm.weight.normal_()
    x32 = 100 * torch.randn(2, 3, 64)  # large values: squares would lose precision in bf16
    norm = norm.to(torch.bfloat16)
    x = x32.to(torch.bfloat16)
    out = norm(x)
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), rms_reference(x, norm.weight, 1e-6), atol=0.05, rtol=0.02)


def test_layernorm_is_torch() -> None:
    assert LayerNorm is nn.LayerNorm


def test_mlp_matches_formula() -> None:
    mlp = MLP(8, 20).eval()
    x = torch.randn(2, 3, 8)
    h = torch.nn.functional.gelu(x @ mlp.fc1.weight.T + mlp.fc1.bias)
    torch.testing.assert_close(mlp(x), h @ mlp.fc2.weight.T + mlp.fc2.bias, atol=1e-5, rtol=0)
    relu = MLP(8, 20, activation=nn.ReLU, bias=False)
    assert relu.fc1.bias is None and relu.fc2.bias is None
    torch.testing.assert_close(relu(x), torch.relu(x @ relu.fc1.weight.T) @ relu.fc2.weight.T, atol=1e-5, rtol=0)


def test_mlp_dropout_train_only() -> None:
    mlp = MLP(8, 64, dropout=0.5)
    x = torch.randn(2, 3, 8)
    mlp.eval()
    torch.testing.assert_close(mlp(x), mlp(x))
    mlp.train()
    assert not torch.allclose(mlp(x), mlp(x))


@pytest.mark.parametrize("activation, fn", [(nn.SiLU, torch.nn.functional.silu),
                                            (nn.GELU, torch.nn.functional.gelu)])
def test_gated_mlp_matches_formula(activation, fn) -> None:
    mlp = GatedMLP(8, 12, activation=activation)
    assert mlp.fc1.weight.shape == (24, 8) and mlp.fc1.bias is None
    x = torch.randn(2, 3, 8)
    w_gate, w_up = mlp.fc1.weight[:12], mlp.fc1.weight[12:]  # gate rows first
    expected = (fn(x @ w_gate.T) * (x @ w_up.T)) @ mlp.fc2.weight.T
    torch.testing.assert_close(mlp(x), expected, atol=1e-5, rtol=0)
    swapped = (fn(x @ w_up.T) * (x @ w_gate.T)) @ mlp.fc2.weight.T
    assert not torch.allclose(mlp(x), swapped, atol=1e-3)


def test_init_trunc_normal() -> None:
    lin, emb = nn.Linear(200, 300), nn.Embedding(500, 100)
    init_trunc_normal(lin, std=0.02)
    init_trunc_normal(emb, std=0.05)
    assert torch.all(lin.bias == 0)
    assert abs(float(lin.weight.detach().std()) - 0.02) < 0.002 and float(lin.weight.detach().abs().max()) <= 2.0
    assert abs(float(emb.weight.detach().std()) - 0.05) < 0.005
