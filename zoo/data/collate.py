"""Batching variable-length items: pad token ids or waveforms and say which positions are real."""
from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor


def _as_1d(item, i: int, what: str, dtype: torch.dtype | None = None) -> Tensor:
    tensor = item if isinstance(item, Tensor) else torch.as_tensor(item, dtype=dtype)
    if tensor.dim() != 1:
        raise ValueError(f"{what}: item {i} must be 1-D, got shape {tuple(tensor.shape)}")
    return tensor


def _pad(items: list[Tensor], value: float | int, side: str, what: str) -> tuple[Tensor, Tensor]:
    if not items:
        raise ValueError(f"{what}: nothing to pad (empty list)")
    if side not in ("right", "left"):
        raise ValueError(f"{what}: side must be 'right' or 'left', got {side!r}")
    length = max(t.shape[0] for t in items)
    out = items[0].new_full((len(items), length), value)                  # [B, T]
    mask = torch.zeros(len(items), length, dtype=torch.long, device=out.device)  # [B, T], 1 = real
    for row, t in enumerate(items):
        span = slice(0, t.shape[0]) if side == "right" else slice(length - t.shape[0], length)
        out[row, span], mask[row, span] = t, 1
    return out, mask


def pad_token_ids(sequences: Sequence[Sequence[int] | Tensor], pad_id: int, *,
                  side: str = "right") -> tuple[Tensor, Tensor]:
    """Token id lists or 1-D tensors -> ``(ids [B, T] long, attention_mask [B, T] long)``.

    ``T`` is the longest sequence; shorter ones are filled with ``pad_id`` on ``side`` ("right",
    or "left" for decoder prompts), where ``attention_mask`` is 0.
    """
    items = [_as_1d(s, i, "pad_token_ids", torch.long) for i, s in enumerate(sequences)]
    for i, t in enumerate(items):
        if t.is_floating_point() or t.dtype == torch.bool:
            raise ValueError(f"pad_token_ids: item {i} has dtype {t.dtype}; token ids must be integers")
    return _pad([t.long() for t in items], pad_id, side, "pad_token_ids")


def pad_waveforms(waves: Sequence[Tensor], *, side: str = "right") -> tuple[Tensor, Tensor]:
    """Waveforms ``[samples]`` -> ``(waves [B, S], attention_mask [B, S] long)``, zero-padded (silence).

    Mixed float dtypes are promoted to a common one; the mask is long, like the tokenizers' mask.
    """
    items = [_as_1d(w, i, "pad_waveforms") for i, w in enumerate(waves)]
    for i, t in enumerate(items):
        if not t.is_floating_point():
            raise ValueError(f"pad_waveforms: item {i} has dtype {t.dtype}; waveforms must be floating point")
    dtype = functools.reduce(torch.promote_types, [t.dtype for t in items]) if items else torch.float32
    return _pad([t.to(dtype) for t in items], 0.0, side, "pad_waveforms")
