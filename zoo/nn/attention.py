"""Multi-head attention: self or cross, additive bias, causal, rotary, GQA and a KV cache."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cache import KVCache
from .masks import apply_causal
from .rotary import apply_rotary


class Attention(nn.Module):
    """Scaled dot-product attention over ``F.scaled_dot_product_attention``.

    Self-attention uses one fused ``qkv`` projection; cross-attention (``cross=True``)
    projects queries from ``x`` with ``q`` and keys/values from ``context`` with a fused
    ``kv``. Positions and masks arrive as an additive ``bias`` (broadcastable to
    [B, H, T_q, T_k]), ``is_causal`` and ``rotary`` (cos, sin); the module itself knows
    nothing about which model it is in.

    ``key_bias=False`` (with ``bias=True``) drops the key projection's bias, as Whisper does:
    the fused weight stays one matrix and the query and value biases become the parameters
    ``q_bias`` and ``v_bias``; the key slice is a constant zero, so it cannot drift in training.
    Keys differ from each other only through the bias anyway (a key bias adds the same
    amount to every score of a query, which softmax cancels), so nothing is lost.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        num_kv_heads: int | None = None,
        head_dim: int | None = None,
        cross: bool = False,
        context_dim: int | None = None,
        bias: bool = True,
        key_bias: bool = True,
        out_bias: bool | None = None,
        scale: float | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        num_kv_heads = num_kv_heads or num_heads
        if head_dim is None:
            if dim % num_heads:
                raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
            head_dim = dim // num_heads
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads})")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.cross = cross
        self.scale = scale  # None: 1/sqrt(head_dim), as SDPA does
        self.dropout = dropout
        q_out, kv_out = num_heads * head_dim, num_kv_heads * head_dim
        split = bias and not key_bias  # biases held apart from the fused matrix, key slice fixed at zero
        if cross:
            self.q = nn.Linear(dim, q_out, bias=bias)
            self.kv = nn.Linear(context_dim or dim, 2 * kv_out, bias=bias and not split)
        else:
            self.qkv = nn.Linear(dim, q_out + 2 * kv_out, bias=bias and not split)
        self.register_parameter("q_bias", nn.Parameter(torch.zeros(q_out)) if split and not cross else None)
        self.register_parameter("v_bias", nn.Parameter(torch.zeros(kv_out)) if split else None)
        self.register_buffer("k_bias", torch.zeros(kv_out) if split else None, persistent=False)
        self.proj = nn.Linear(q_out, dim, bias=bias if out_bias is None else out_bias)

    def make_cache(self, batch_size: int, max_len: int, *, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> KVCache:
        """An empty cache sized for this layer's key/value heads."""
        ref = self.proj.weight
        return KVCache(batch_size, self.num_kv_heads, max_len, self.head_dim,
                       dtype=dtype or ref.dtype, device=device or ref.device)

    def _fused(self, layer: nn.Linear, x: Tensor) -> Tensor:
        """``layer(x)``, or with the split biases (query/value learned, key zero) when ``key_bias=False``."""
        if self.v_bias is None:
            return layer(x)
        parts = (self.k_bias, self.v_bias) if self.cross else (self.q_bias, self.k_bias, self.v_bias)
        return F.linear(x, layer.weight, torch.cat(parts))

    def _heads(self, t: Tensor, num_heads: int) -> Tensor:
        # [B, T, H*hd] -> [B, H, T, hd]
        return t.unflatten(-1, (num_heads, self.head_dim)).transpose(1, 2)

    def _project(self, x: Tensor, context: Tensor | None, cache: KVCache | None) -> tuple[Tensor, Tensor, Tensor]:
        if not self.cross and self.num_kv_heads == self.num_heads:
            # one view and unbind: fewer ops than split + three reshapes, same strides for SDPA
            q, k, v = self._fused(self.qkv, x).unflatten(-1, (3, self.num_heads, self.head_dim)).unbind(2)  # 3 x [B, T, H, hd]
            return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if not self.cross:
            q, k, v = self._fused(self.qkv, x).split(
                [self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim,
                 self.num_kv_heads * self.head_dim], dim=-1)
            return self._heads(q, self.num_heads), self._heads(k, self.num_kv_heads), self._heads(v, self.num_kv_heads)
        q = self._heads(self.q(x), self.num_heads)
        if cache is not None and cache.length:  # context projected on an earlier step
            k, v = cache.filled()
            return q, k, v
        if context is None:
            raise ValueError("cross-attention needs `context` (the encoder output)")
        k, v = self._fused(self.kv, context).chunk(2, dim=-1)
        return q, self._heads(k, self.num_kv_heads), self._heads(v, self.num_kv_heads)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        bias: Tensor | None = None,
        is_causal: bool = False,
        rotary: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        # x: [B, T_q, D]; context: [B, T_c, D_c] for cross-attention
        q, k, v = self._project(x, context, cache)  # q: [B, H, T_q, hd]; k, v: [B, H_kv, T_k, hd]
        if rotary is not None:
            cos, sin = rotary  # [T_q, hd] for the new positions
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None and (not self.cross or cache.length == 0):
            k, v = cache.append(k, v)  # now all positions so far
        q_len, k_len = q.shape[2], k.shape[2]
        causal_flag = False
        if is_causal and q_len > 1:
            if bias is None and q_len == k_len:
                causal_flag = True  # let SDPA pick its fused causal kernel
            else:
                bias = apply_causal(bias, q_len, k_len, q.dtype, q.device)
        if bias is not None:
            bias = bias.to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, is_causal=causal_flag,
            dropout_p=self.dropout if self.training else 0.0, scale=self.scale,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )  # [B, H, T_q, hd]
        return self.proj(out.transpose(1, 2).flatten(2))  # [B, T_q, D]
