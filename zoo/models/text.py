"""Input checks and helpers shared by the text families."""
from __future__ import annotations

import torch
from torch import Tensor

from .. import nn as znn
from ..nn.checks import check_token_ids, require_tensor


def check_ids(input_ids: Tensor, name: str = "input_ids") -> None:
    """Token ids are an integer tensor [batch, seq_len]."""
    if check_token_ids(input_ids, name).dim() != 2:
        raise ValueError(f"{name} must be [batch, seq_len], got shape {list(input_ids.shape)}")


def padding_bias(attention_mask: Tensor | None, input_ids: Tensor, dtype: torch.dtype,
                 name: str = "attention_mask") -> Tensor | None:
    """[B, T] keep-mask -> additive bias [B, 1, 1, T]; the mask must match the ids' shape."""
    if attention_mask is None:
        return None
    if require_tensor(attention_mask, name, "keep-mask [batch, seq_len]").shape != input_ids.shape:
        raise ValueError(f"{name} must have the shape of the token ids {list(input_ids.shape)} "
                         f"(1 = token, 0 = padding), got {list(attention_mask.shape)}")
    return znn.padding_bias(attention_mask, dtype, name)


def positions_from_mask(attention_mask: Tensor | None, seq_len: int, offset: int, device) -> Tensor:
    """Position ids [B or 1, seq_len] for the last ``seq_len`` tokens.

    With a mask, positions count real tokens only, so a left-padded prompt gets the same
    positions as the unpadded one; without, they are ``offset .. offset + seq_len``.
    """
    if attention_mask is None:
        return torch.arange(offset, offset + seq_len, device=device)[None]  # [1, T]
    positions = attention_mask.long().cumsum(dim=-1) - 1  # [B, past + T]
    return positions[:, -seq_len:].clamp(min=0)  # [B, T]


def decoder_padding_bias(attention_mask: Tensor | None, input_ids: Tensor, past: int,
                         dtype: torch.dtype) -> Tensor | None:
    """A decoder's keep-mask over cached + new tokens [B, past + T] -> additive bias [B, 1, 1, past + T]."""
    if attention_mask is None or past == 0:
        return padding_bias(attention_mask, input_ids, dtype)
    expected = [input_ids.shape[0], past + input_ids.shape[1]]
    if list(require_tensor(attention_mask, "attention_mask", "keep-mask").shape) != expected:
        raise ValueError(f"with a KV cache, attention_mask must cover the {past} cached and "
                         f"{input_ids.shape[1]} new tokens: shape {expected}, got {list(attention_mask.shape)}")
    return znn.padding_bias(attention_mask, dtype)


def shift_right(labels: Tensor, start_token_id: int, pad_token_id: int) -> Tensor:
    """Encoder-decoder teacher forcing: decoder inputs [B, T] = start token, then labels[:, :-1].

    Ignored label positions (-100) become ``pad_token_id``, as in transformers' ``_shift_right``.
    """
    check_ids(labels, "labels")
    shifted = labels.new_full(labels.shape, start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)  # [B, T]


def target_padding_bias(attention_mask: Tensor | None, batch: int, past: int, new: int,
                        dtype: torch.dtype) -> Tensor | None:
    """An encoder-decoder's ``decoder_attention_mask`` [B, past + new] (every target position so far) ->
    additive bias [B, 1, 1, past + new], or None without a mask."""
    if attention_mask is None:
        return None
    if require_tensor(attention_mask, "decoder_attention_mask", "keep-mask").shape != (batch, past + new):
        raise ValueError(f"decoder_attention_mask must be [batch, target positions so far] = "
                         f"{[batch, past + new]} (1 = token, 0 = padding), got {list(attention_mask.shape)}")
    return znn.padding_bias(attention_mask, dtype, "decoder_attention_mask")


def check_decoder_length(total_len: int, max_positions: int) -> None:
    """Clear error when a sequence (prompt + new tokens, when generating) needs more positions than the model has."""
    if total_len > max_positions:
        raise ValueError(f"a sequence of {total_len} tokens is longer than this model's max_positions "
                         f"({max_positions}); when generating, prompt length + max_new_tokens must be "
                         f"<= {max_positions}")


def example_token_inputs(spec, batch_size: int) -> tuple[tuple, dict]:
    """Smoke inputs for a text encoder or decoder: ids [B, 12] (no id 0), the last row right-padded."""
    ids = torch.randint(1, spec.vocab_size, (batch_size, 12))
    mask = torch.ones_like(ids)
    mask[-1, 9:] = 0
    return (ids,), {"attention_mask": mask}
