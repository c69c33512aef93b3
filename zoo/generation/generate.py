"""Token generation for decoders (causal LMs and encoder-decoders) with a static KV cache.

Greedy by default; sampling with temperature, top-k and top-p. Batched prompts are
left-padded (``attention_mask`` marks the real tokens); each sequence stops at its EOS and
is then filled with ``pad_token_id``.

The backbone protocol: every generating backbone has ``architecture`` and
``make_caches(batch, max_len, ...)``. Decoder-only backbones (``"decoder"``) add
``check_length(total_len)`` and ``forward(ids, attention_mask=None, caches=None)``, where the
mask covers the cached and the new tokens. Encoder-decoders (``"encoder-decoder"``) add
``encode(ids, attention_mask=)``, ``decode(ids, memory, memory_mask=, caches=)``,
``decoder_start_token_id`` and ``make_caches(..., context_len=)``.
"""
from __future__ import annotations

from functools import cache
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from .beam_search import beam_search
from ..nn.checks import check_bool, check_float, check_int, check_token_ids, require_tensor
from ..nn.masks import check_binary_mask
from .token_rules import check_rules, token_rules


def _source(backbone, input_ids: Tensor | None, encoder_outputs: Tensor | None,
            decoder_input_ids: Tensor | None) -> Tensor:
    """What generation starts from, checked: prompt ids [B, T], or an encoder-decoder's source ids or
    encoder states [B, S, D]."""
    encoder_decoder = backbone.architecture == "encoder-decoder"
    if not encoder_decoder and (encoder_outputs is not None or decoder_input_ids is not None):
        raise ValueError("encoder_outputs and decoder_input_ids are for encoder-decoders; a decoder continues "
                         "input_ids")
    if (input_ids is None) == (encoder_outputs is None) and encoder_decoder:
        raise ValueError("pass the source as input_ids [batch, source_len] or its encoding as encoder_outputs "
                         "[batch, source_len, dim], exactly one of them")
    if encoder_outputs is not None:
        if require_tensor(encoder_outputs, "encoder_outputs", "[batch, source_len, dim]").dim() != 3:
            raise ValueError(f"encoder_outputs must be [batch, source_len, dim], got {list(encoder_outputs.shape)}")
        return encoder_outputs
    if input_ids is None:
        raise ValueError("generate needs input_ids [batch, seq_len] (the prompt)")
    if check_token_ids(input_ids, "input_ids").dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must be [batch, seq_len] with seq_len >= 1, got shape {list(input_ids.shape)}")
    return input_ids


def _decoder_prompt(backbone, decoder_input_ids: Tensor | None, batch: int, device: torch.device) -> Tensor:
    """An encoder-decoder's decoder prompt [B, P]: the ids given, or the decoder start token."""
    if decoder_input_ids is None:
        return torch.full((batch, 1), backbone.decoder_start_token_id, dtype=torch.long, device=device)
    if check_token_ids(decoder_input_ids, "decoder_input_ids").dim() != 2 or decoder_input_ids.shape[0] != batch \
            or decoder_input_ids.shape[1] == 0:
        raise ValueError(f"decoder_input_ids must be [batch={batch}, prompt_len >= 1], got "
                         f"{list(decoder_input_ids.shape)}")
    return decoder_input_ids


def check_token_list(ids: Sequence[int] | None, name: str, vocab_size: int) -> list[int]:
    """A list of token ids in [0, vocab_size) (None: none)."""
    if ids is None:
        return []
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(f"{name} must be a list of token ids, got {type(ids).__name__}")
    values = [check_int(t, name) for t in ids]
    bad = [t for t in values if not 0 <= t < vocab_size]
    if bad:
        raise ValueError(f"{name} must be token ids in [0, {vocab_size}); got {bad[:8]}")
    return values


def _check_mask(attention_mask: Tensor | None, source: Tensor) -> Tensor | None:
    """The prompt's (or source's) keep-mask as bool (0/1 values checked once here, so the decode steps need not)."""
    if attention_mask is None:
        return None
    if require_tensor(attention_mask, "attention_mask", "keep-mask").shape != source.shape[:2]:
        what = "input_ids" if source.dim() == 2 else "encoder_outputs' [batch, source_len]"
        raise ValueError(f"attention_mask must have the shape of {what} {list(source.shape[:2])}, "
                         f"got {list(attention_mask.shape)}")
    return check_binary_mask(attention_mask) != 0


def _prompt_mask(mask: Tensor | None) -> Tensor | None:
    """A decoder prompt's checked bool mask, or None when nothing is padded (the fast path: no bias at all)."""
    if mask is None or bool(mask.all()):
        return None
    if bool((~mask[:, -1]).any()):
        raise ValueError("prompts must be left-padded for generation: the last position of every row must be a "
                         "real token (attention_mask 1)")
    return mask


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
        probs = sorted_logits.softmax(dim=-1)  # [B, V], descending
        drop_sorted = probs.cumsum(dim=-1) - probs >= top_p  # the mass before this token is already enough
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _check_types(ints: dict[str, Any], floats: dict[str, Any], bools: dict[str, Any]) -> None:
    """Options by kind (None: the option is off): real ints, finite numbers, True/False."""
    for name, value in ints.items():
        if value is not None:
            check_int(value, name)
    for name, value in floats.items():
        if value is not None:
            check_float(value, name)
    for name, value in bools.items():
        check_bool(value, name)


def _validate(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None,
              do_sample: bool, num_beams: int, num_return_sequences: int) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1 (1 = no beam search), got {num_beams}")
    if num_beams > 1 and do_sample:
        raise ValueError("beam search is deterministic here: use num_beams > 1 with do_sample=False, "
                         "or do_sample=True with num_beams=1")
    if num_return_sequences < 1 or (num_beams > 1 and num_return_sequences > num_beams):
        raise ValueError(f"num_return_sequences must be between 1 and num_beams ({num_beams}), "
                         f"got {num_return_sequences}")
    if num_beams == 1 and num_return_sequences > 1 and not do_sample:
        raise ValueError("greedy decoding returns one sequence per row; num_return_sequences > 1 needs "
                         "do_sample=True (independent samples) or num_beams >= num_return_sequences")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (use do_sample=False for greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _eos_ids(eos_token_id: int | Sequence[int] | None) -> list[int]:
    """``eos_token_id`` (an int, a sequence of ints or None) as a list of ints."""
    if eos_token_id is None:
        return []
    if isinstance(eos_token_id, (list, tuple)):
        return [check_int(t, "eos_token_id") for t in eos_token_id]
    return [check_int(eos_token_id, "eos_token_id")]


def _check_token_ids(eos: list[int], pad: int | None, vocab_size: int) -> None:
    bad = [f"eos_token_id {t}" for t in eos if not 0 <= t < vocab_size]
    bad += [f"pad_token_id {pad}"] if pad is not None and not 0 <= pad < vocab_size else []
    if bad:
        raise ValueError(f"token ids must be in [0, {vocab_size}) for this vocabulary; got {', '.join(bad)}")


def _decoder_step(backbone, head, ids: Tensor, attention_mask: Tensor | None, caches: list) -> Tensor:
    """New ids [B, T_new] (mask over cached + new tokens) -> next-token logits [B, V]."""
    hidden = backbone(ids, attention_mask=attention_mask, caches=caches)  # [B, T_new, D]
    return head(hidden[:, -1:])[:, -1].float()  # the head on the last position only


def _encoder_decoder_step(backbone, head, ids: Tensor, memory: Tensor, memory_mask: Tensor, caches: list) -> Tensor:
    """New decoder ids [B, T_new] over the encoded source -> next-token logits [B, V]."""
    hidden = backbone.decode(ids, memory, memory_mask=memory_mask, caches=caches)  # [B, T_new, D]
    return head(hidden[:, -1:])[:, -1].float()


@cache
def _compiled(step: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """One compiled decode step per kind, shared by every call; dynamo guards per model and shape."""
    return torch.compile(step, dynamic=True)


@torch.no_grad()
def generate(
    model,
    input_ids: Tensor | None = None,
    *,
    encoder_outputs: Tensor | None = None,
    decoder_input_ids: Tensor | None = None,
    suppress_tokens: Sequence[int] | None = None,
    begin_suppress_tokens: Sequence[int] | None = None,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    pad_token_id: int | None = None,
    attention_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool = False,
    num_return_sequences: int = 1,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    min_new_tokens: int = 0,
    compile: bool = False,
) -> Tensor:
    """Generate up to ``max_new_tokens`` tokens after ``input_ids`` [B, T].

    Decoder-only models return [B, T + new] (prompt then continuation); encoder-decoders
    encode ``input_ids`` and return the decoder sequence [B, 1 + new], starting with the
    decoder start token. Rows that finished early are padded with ``pad_token_id``
    (default: the first EOS id); generation ends when every row has finished.

    ``num_beams > 1`` runs beam search as transformers does (`zoo.generation.beam_search`), scoring finished
    hypotheses by ``sum log p / length ** length_penalty``; it returns the best
    ``num_return_sequences`` per row, one after another ([B * num_return_sequences, ...]).
    With ``do_sample=True``, ``num_return_sequences`` draws that many independent samples per row.

    ``repetition_penalty``, ``no_repeat_ngram_size`` and ``min_new_tokens`` adjust the scores
    before each choice, as transformers' logits processors do (`zoo.generation.token_rules`);
    ``suppress_tokens`` are never chosen, ``begin_suppress_tokens`` not as the first new token.

    Encoder-decoders may pass ``encoder_outputs`` [B, S, D] (the encoder already ran; then
    ``attention_mask``, if any, is the [B, S] mask over them) instead of ``input_ids``, and a
    decoder prompt ``decoder_input_ids`` [B, P] (default: the decoder start token); they return
    the prompt and what follows it, [B, P + new].

    ``compile=True`` runs the one-token decode steps through ``torch.compile`` (the prompt
    step stays eager). The first call compiles for a while (tens of seconds on a CPU); later
    calls with the same model reuse it. It pays off where per-step overhead dominates: small
    models, GPUs, many tokens. Outputs equal the eager path's up to float rounding.
    """
    backbone = model.backbone
    if backbone.architecture not in ("decoder", "encoder-decoder") or not hasattr(model.head, "vocab_size"):
        raise TypeError(f"generate needs a decoder with a language-model head; this is a {backbone.architecture} "
                        f"with task {model.task!r} (use causal-lm or seq2seq-lm)")
    _check_types(
        ints=dict(max_new_tokens=max_new_tokens, top_k=top_k, num_beams=num_beams,
                  num_return_sequences=num_return_sequences, no_repeat_ngram_size=no_repeat_ngram_size,
                  min_new_tokens=min_new_tokens, pad_token_id=pad_token_id),
        floats=dict(temperature=temperature, top_p=top_p, length_penalty=length_penalty,
                    repetition_penalty=repetition_penalty),
        bools=dict(do_sample=do_sample, early_stopping=early_stopping, compile=compile))
    _validate(max_new_tokens, temperature, top_k, top_p, do_sample, num_beams, num_return_sequences)
    check_rules(repetition_penalty, no_repeat_ngram_size, min_new_tokens)
    suppress = check_token_list(suppress_tokens, "suppress_tokens", model.head.vocab_size)
    begin_suppress = check_token_list(begin_suppress_tokens, "begin_suppress_tokens", model.head.vocab_size)
    source = _source(backbone, input_ids, encoder_outputs, decoder_input_ids)  # [B, T] ids or [B, S, D] states
    attention_mask = _check_mask(attention_mask, source)  # bool [B, T or S] or None
    copies = num_beams if num_beams > 1 else num_return_sequences  # rows per prompt: beams, or samples
    expand = lambda t: t if t is None or copies == 1 else t.repeat_interleave(copies, dim=0)  # noqa: E731
    if backbone.architecture == "decoder":  # each row becomes `copies` rows
        input_ids, attention_mask = expand(input_ids), expand(attention_mask)
    eos_list = _eos_ids(eos_token_id)
    _check_token_ids(eos_list, pad_token_id, model.head.vocab_size)
    pad = pad_token_id if pad_token_id is not None else (eos_list[0] if eos_list else 0)
    device = source.device
    dtype = next(model.parameters()).dtype

    step: Callable[..., Tensor]
    step_args: Callable[[Tensor, int], tuple[Any, ...]]  # (new ids [B, T_new], length incl. them) -> step's args
    if backbone.architecture == "decoder":
        mask = _prompt_mask(attention_mask)
        batch, start = input_ids.shape
        backbone.check_length(start + max_new_tokens)
        caches = backbone.make_caches(batch, start + max_new_tokens, dtype=dtype, device=device)
        sequence = input_ids.new_full((batch, start + max_new_tokens), pad)  # written in place, one column a step
        sequence[:, :start] = input_ids
        full_mask = None
        if mask is not None:
            full_mask = torch.ones_like(sequence, dtype=torch.bool)
            full_mask[:, :start] = mask
        step = _decoder_step
        step_args = lambda ids, length: (  # noqa: E731
            backbone, model.head, ids, None if full_mask is None else full_mask[:, :length], caches)
    else:
        if encoder_outputs is None:  # the encoder runs once per row, before the rows are copied
            mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask
            memory = backbone.encode(input_ids, attention_mask=mask)
        else:
            memory, mask = encoder_outputs, attention_mask
        prompt = _decoder_prompt(backbone, decoder_input_ids, memory.shape[0], device)  # [B, P]
        memory, mask, prompt = expand(memory), expand(mask), expand(prompt)
        batch, start = prompt.shape
        if hasattr(backbone, "check_length"):
            backbone.check_length(start + max_new_tokens)
        caches = backbone.make_caches(batch, start + max_new_tokens, context_len=memory.shape[1], dtype=dtype,
                                      device=device)
        sequence = prompt.new_full((batch, start + max_new_tokens), pad)
        sequence[:, :start] = prompt
        step = _encoder_decoder_step
        step_args = lambda ids, length: (backbone, model.head, ids, memory, mask, caches)  # noqa: E731
    decode_step = _compiled(step) if compile else step
    padding = None  # left-padding lengths of decoder prompts: not part of the history repeats count in
    if backbone.architecture == "decoder" and mask is not None:
        padding = mask.int().argmax(dim=1)
    rules = token_rules(repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
                        min_new_tokens=min_new_tokens, eos=eos_list, start=start, prompt_padding=padding,
                        suppress=suppress, begin_suppress=begin_suppress)

    def next_logits(ids: Tensor, length: int) -> Tensor:
        """Logits [B, V] after feeding ``ids``; ``length`` counts them too. The prompt step is eager."""
        return (decode_step if length > start else step)(*step_args(ids, length))

    if num_beams > 1:
        def reorder(index: Tensor) -> None:
            for layer in caches:  # cross-attention caches are the same for every beam of a row
                layer.self_attn.reorder(index)

        return beam_search(next_logits, reorder, sequence, start, num_beams=num_beams, eos=eos_list,
                           length_penalty=length_penalty, early_stopping=early_stopping,
                           num_return_sequences=num_return_sequences, rules=rules)

    eos = torch.tensor(eos_list, dtype=sequence.dtype, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    feed, length = sequence[:, :start], start
    for _ in range(max_new_tokens):
        logits = next_logits(feed, length)  # [B, V]
        if rules is not None:
            logits = rules(sequence[:, :length], logits)
        if do_sample:
            probs = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).softmax(dim=-1)
            next_ids = torch.multinomial(probs, 1, generator=generator)[:, 0]  # [B]
        else:
            next_ids = logits.argmax(dim=-1)  # [B]
        if eos_list:
            next_ids = next_ids.masked_fill(finished, pad)
        sequence[:, length] = next_ids
        length += 1
        if eos_list:
            finished |= torch.isin(next_ids, eos)
            if bool(finished.all()):
                break
        feed = sequence[:, length - 1 : length]  # [B, 1]
    return sequence[:, :length]
