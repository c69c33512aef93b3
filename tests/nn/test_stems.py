"""Input stems (token embedding, patch embedding) and token pooling."""
from __future__ import annotations

import pytest
import torch

from zoo.nn import PatchEmbed, TokenEmbedding, TokenPool


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --- TokenEmbedding ---

@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_token_embedding_looks_up_rows(dtype: torch.dtype) -> None:
    emb = TokenEmbedding(10, 4)
    ids = torch.tensor([[0, 9, 3], [3, 3, 1]], dtype=dtype)
    out = emb(ids)
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(out, emb.weight[ids.long()])


@pytest.mark.parametrize("bad", [[[0, 10]], [[-1, 2]], [[5, 123]]])
def test_token_embedding_out_of_range_ids(bad: list[list[int]]) -> None:
    emb = TokenEmbedding(10, 4)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        emb(torch.tensor(bad))


def test_token_embedding_float_ids() -> None:
    with pytest.raises(TypeError, match="integer"):
        TokenEmbedding(10, 4)(torch.tensor([[1.0, 2.0]]))


def test_token_embedding_empty_input() -> None:
    assert TokenEmbedding(10, 4)(torch.zeros(2, 0, dtype=torch.long)).shape == (2, 0, 4)


# --- PatchEmbed ---

def test_patch_embed_shape_and_patch_order() -> None:
    pe = PatchEmbed(8, 4, 3, 5)
    assert pe.grid_size == (2, 2) and pe.num_patches == 4
    x = torch.randn(2, 3, 8, 8)
    out = pe(x)
    assert out.shape == (2, 4, 5)
    # token n is patch (n // 2, n % 2) in row-major order, projected by the conv kernel
    w, b = pe.proj.weight.flatten(1), pe.proj.bias
    for n in range(4):
        i, j = divmod(n, 2)
        patch = x[:, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4].flatten(1)
        torch.testing.assert_close(out[:, n], patch @ w.T + b, atol=1e-5, rtol=0)


def test_patch_embed_overlapping_stride_grid() -> None:
    # AST: 128 mel bins x 1024 frames, 16x16 patches with stride 10:
    # (128 - 16) // 10 + 1 = 12 and (1024 - 16) // 10 + 1 = 101
    pe = PatchEmbed((128, 1024), 16, 1, 8, stride=10)
    assert pe.grid_size == (12, 101) and pe.num_patches == 1212
    out = pe(torch.randn(1, 1, 128, 1024))
    assert out.shape == (1, 1212, 8)
    x = torch.randn(1, 1, 128, 1024)
    # token 102 = grid (1, 1): rows 10..26, cols 10..26
    patch = x[:, :, 10:26, 10:26].flatten(1)
    torch.testing.assert_close(pe(x)[:, 102], patch @ pe.proj.weight.flatten(1).T + pe.proj.bias, atol=1e-4, rtol=0)


def test_patch_embed_rectangular() -> None:
    pe = PatchEmbed((8, 12), (4, 6), 2, 3)
    assert pe.grid_size == (2, 2)
    assert pe(torch.randn(1, 2, 8, 12)).shape == (1, 4, 3)


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (1, 3, 8, 9), (1, 1, 8, 8), (3, 8, 8)])
def test_patch_embed_wrong_input(shape: tuple[int, ...]) -> None:
    pe = PatchEmbed(8, 4, 3, 5)
    with pytest.raises(ValueError, match=r"expected input \[batch, 3, 8, 8\]"):
        pe(torch.randn(shape))


def test_patch_embed_input_smaller_than_patch() -> None:
    with pytest.raises(ValueError, match="smaller than the patch"):
        PatchEmbed(4, 8, 3, 5)


# --- TokenPool ---

def test_token_pool() -> None:
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(TokenPool("token")(x), x[:, 0])
    torch.testing.assert_close(TokenPool("avg", num_prefix_tokens=1)(x), x[:, 1:].mean(1))
    torch.testing.assert_close(TokenPool("avg", num_prefix_tokens=0)(x), x.mean(1))
    with pytest.raises(ValueError, match="'token' or 'avg'"):
        TokenPool("max")
