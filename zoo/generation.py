"""Token generation for decoders (causal LMs and encoder-decoders) with a static KV cache.

Greedy by default; sampling with temperature, top-k and top-p. Batched prompts are
left-padded (``attention_mask`` marks the real tokens); each sequence stops at its EOS and
is then filled with ``pad_token_id``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def _check_mask(attention_mask: Tensor | None, input_ids: Tensor) -> Tensor:
    if attention_mask is None:
        return torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask must have the shape of input_ids {list(input_ids.shape)}, "
                         f"got {list(attention_mask.shape)}")
    if input_ids.shape[1] and bool((attention_mask[:, -1] == 0).any()):
        raise ValueError("prompts must be left-padded for generation: the last position of every row must be a "
                         "real token (attention_mask 1)")
    return attention_mask.to(input_ids.dtype)


def filter_logits(logits: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Scale by temperature, then keep the top-k and the smallest nucleus with mass >= top_p."""
    # logits: [B, V]
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # [B, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop_sorted = cumulative - sorted_logits.softmax(dim=-1) >= top_p  # mass before this token already enough
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _validate(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (use do_sample=False for greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


@torch.no_grad()
def generate(
    model,
    input_ids: Tensor,
    *,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    pad_token_id: int | None = None,
    attention_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Generate up to ``max_new_tokens`` tokens after ``input_ids`` [B, T].

    Decoder-only models return [B, T + new] (prompt then continuation); encoder-decoders
    encode ``input_ids`` and return the decoder sequence [B, 1 + new], starting with the
    decoder start token. Rows that finished early are padded with ``pad_token_id``
    (default: the first EOS id).
    """
    backbone = model.backbone
    if backbone.architecture not in ("decoder", "encoder-decoder") or not hasattr(model.head, "vocab_size"):
        raise TypeError(f"generate needs a decoder with a language-model head; this is a {backbone.architecture} "
                        f"with task {model.task!r} (use causal-lm or seq2seq-lm)")
    _validate(max_new_tokens, temperature, top_k, top_p)
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be [batch, seq_len], got shape {list(input_ids.shape)}")
    eos = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or []),
                       device=input_ids.device)
    pad = pad_token_id if pad_token_id is not None else (int(eos[0]) if eos.numel() else 0)
    mask = _check_mask(attention_mask, input_ids)
    batch = input_ids.shape[0]
    dtype = next(model.parameters()).dtype

    if backbone.architecture == "decoder":
        backbone.check_length(input_ids.shape[1] + max_new_tokens)
        caches = backbone.make_caches(batch, input_ids.shape[1] + max_new_tokens, dtype=dtype, device=input_ids.device)
        step = lambda new_ids, full_mask: backbone(new_ids, attention_mask=full_mask, caches=caches)  # noqa: E731
        sequence, feed = input_ids, input_ids
    else:
        memory = backbone.encode(input_ids, attention_mask=mask)
        caches = backbone.make_caches(batch, 1 + max_new_tokens, context_len=memory.shape[1], dtype=dtype,
                                      device=input_ids.device)
        start = torch.full((batch, 1), backbone.decoder_start_token_id, dtype=input_ids.dtype, device=input_ids.device)
        step = lambda new_ids, full_mask: backbone.decode(new_ids, memory, memory_mask=mask, caches=caches)  # noqa: E731
        sequence, feed = start, start
        mask = torch.ones_like(start)

    finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    for _ in range(max_new_tokens):
        hidden = step(feed, mask)  # [B, T_new, D]
        logits = model.forward_head(hidden[:, -1:])[:, -1].float()  # [B, V]
        if do_sample:
            probs = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).softmax(dim=-1)
            next_ids = torch.multinomial(probs, 1, generator=generator)[:, 0]  # [B]
        else:
            next_ids = logits.argmax(dim=-1)  # [B]
        next_ids = torch.where(finished, torch.full_like(next_ids, pad), next_ids)
        sequence = torch.cat([sequence, next_ids[:, None]], dim=1)
        if eos.numel():
            finished |= torch.isin(next_ids, eos)
            if bool(finished.all()):
                break
        feed = next_ids[:, None]
        mask = torch.cat([mask, torch.ones_like(feed)], dim=1)
    return sequence
