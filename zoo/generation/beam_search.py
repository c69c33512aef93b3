"""Beam search for `generate(num_beams=K)`: the search transformers runs (its vectorised beam search).

Each step keeps ``K`` running beams per row. Of all ``K x V`` continuations it takes the best
``max(2, 1 + len(eos)) * K`` by total log-probability. Those of the first ``K`` that end (an EOS,
or the length limit) become finished hypotheses, scored ``sum log p / generated_length **
length_penalty``; the best ``K`` that did not end run on. A row is done when every one of its
``K`` finished slots is filled and no running beam could still beat the worst of them
(``early_stopping=False``, transformers' default heuristic: the running beam's score divided
by the current length), or as soon as ``K`` hypotheses finished (``early_stopping=True``).
The caches follow their beams by `KVCache.reorder`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

NEG_INF = -1.0e9  # transformers' "impossible" score, kept for identical tie-breaking


def _gather(t: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` [B, N] of ``t`` [B, M, ...] along dim 1 -> [B, N, ...]."""
    while index.dim() < t.dim():
        index = index.unsqueeze(-1)
    return t.gather(1, index.expand(*index.shape[:2], *t.shape[2:]))


def beam_search(
    next_logits: Callable[[Tensor, int], Tensor],
    reorder: Callable[[Tensor], None],
    sequence: Tensor,
    start: int,
    *,
    num_beams: int,
    eos: list[int],
    length_penalty: float,
    early_stopping: bool,
    num_return_sequences: int,
    rules: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> Tensor:
    """Search over ``sequence`` [B*K, start + new] (rows repeated K times, the prompt filled, pad after).

    ``next_logits(feed [B*K, T], length)`` runs the model on the tokens not yet fed and returns
    next-token logits [B*K, V]; ``reorder(index [B*K])`` makes cache row i hold row index[i].
    ``rules(history [B*K, length], log_probs)`` adjusts the scores first (`zoo.token_rules`).
    Returns the best ``num_return_sequences`` hypotheses per row, [B*R, start + generated].
    """
    rows, max_length = sequence.shape
    batch, k, device = rows // num_beams, num_beams, sequence.device
    keep = max(2, 1 + len(eos)) * k
    eos_ids = torch.tensor(eos, dtype=sequence.dtype, device=device)
    running = sequence.view(batch, k, max_length).clone()  # [B, K, L]
    running_scores = torch.full((batch, k), NEG_INF, device=device)
    running_scores[:, 0] = 0.0  # the K copies of a prompt: only one may expand at first
    finished = running.clone()
    finished_scores = torch.full((batch, k), NEG_INF, device=device)
    finished_lengths = torch.zeros((batch, k), dtype=torch.long, device=device)
    is_finished = torch.zeros((batch, k), dtype=torch.bool, device=device)
    improvable = torch.ones((batch, 1), dtype=torch.bool, device=device)
    top_k_mask = torch.arange(keep, device=device) < k  # only the best K candidates may finish
    offsets = torch.arange(batch, device=device)[:, None] * k
    feed, length = sequence[:, :start], start
    while True:
        log_probs = torch.log_softmax(next_logits(feed, length), dim=-1)  # [B*K, V]
        if rules is not None:
            log_probs = rules(running.view(rows, max_length)[:, :length], log_probs)
        vocab = log_probs.shape[-1]
        totals = (log_probs.view(batch, k, vocab) + running_scores[:, :, None]).view(batch, k * vocab)
        cand_scores, cand_index = torch.topk(totals, keep)  # [B, keep]
        cand_beams, cand_tokens = cand_index // vocab, cand_index % vocab
        candidates = _gather(running, cand_beams)  # [B, keep, L]
        candidates[:, :, length] = cand_tokens
        ends = torch.isin(cand_tokens, eos_ids) | (length + 1 >= max_length)  # [B, keep]

        # the best K candidates that go on
        alive_scores = cand_scores + ends.float() * NEG_INF
        chosen = torch.topk(alive_scores, k).indices  # [B, K]
        running, running_scores = _gather(candidates, chosen), _gather(alive_scores, chosen)
        origin = _gather(cand_beams, chosen)  # [B, K]: the beam each one continues

        # the best K candidates that end become hypotheses, if they beat the finished ones
        just_finished = ends & top_k_mask[None]
        hyp_scores = cand_scores / float(length + 1 - start) ** length_penalty
        full = is_finished.all(dim=1, keepdim=True) & early_stopping
        hyp_scores = hyp_scores + (full | ~improvable | ~just_finished).float() * NEG_INF
        merged_scores = torch.cat([finished_scores, hyp_scores], dim=1)  # [B, K + keep]
        best = torch.topk(merged_scores, k).indices
        finished = _gather(torch.cat([finished, candidates], dim=1), best)
        finished_scores = _gather(merged_scores, best)
        lengths = torch.full_like(cand_beams, length + 1)
        finished_lengths = _gather(torch.cat([finished_lengths, lengths], dim=1), best)
        is_finished = _gather(torch.cat([is_finished, just_finished], dim=1), best)

        reorder((origin + offsets).view(-1))
        length += 1
        best_possible = running_scores[:, :1] / float(length - start) ** length_penalty
        worst_kept = torch.where(is_finished, finished_scores.min(dim=1, keepdim=True).values,
                                 torch.full_like(finished_scores, NEG_INF))
        improvable = improvable & (best_possible > worst_kept).any(dim=1, keepdim=True)
        stop = (~improvable.any()) | (is_finished.all() & early_stopping) | ends.all()
        if bool(stop):
            break
        feed = running.view(rows, max_length)[:, length - 1 : length]  # [B*K, 1]

    end = int(finished_lengths[:, :num_return_sequences].max())  # past each hypothesis: pad already
    return finished[:, :num_return_sequences, :end].reshape(batch * num_return_sequences, end)
