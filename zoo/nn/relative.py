"""T5 relative position buckets: a learned per-head bias computed once per stack."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def relative_position_bucket(relative_position: Tensor, *, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> Tensor:
    """Map key-minus-query offsets to bucket ids, as in T5.

    Half the buckets (per direction) hold exact small distances; the rest grow
    logarithmically up to ``max_distance``, beyond which everything shares the last bucket.
    Decoders (``bidirectional=False``) put all future offsets in bucket 0.
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    log_ratio = torch.log(distance.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, large)


class RelativePositionBias(nn.Module):
    """Learned bias [1, H, T_q, T_k] from bucketed relative positions."""

    def __init__(self, num_heads: int, *, bidirectional: bool, num_buckets: int = 32, max_distance: int = 128) -> None:
        super().__init__()
        self.bidirectional, self.num_buckets, self.max_distance = bidirectional, num_buckets, max_distance
        self.embedding = nn.Embedding(num_buckets, num_heads)

    def forward(self, q_len: int, k_len: int, offset: int = 0) -> Tensor:
        """Bias for queries at positions offset..offset+q_len against keys 0..k_len."""
        device = self.embedding.weight.device
        q_pos = torch.arange(offset, offset + q_len, device=device)[:, None]
        k_pos = torch.arange(k_len, device=device)[None, :]
        bucket = relative_position_bucket(k_pos - q_pos, bidirectional=self.bidirectional,
                                          num_buckets=self.num_buckets, max_distance=self.max_distance)
        return self.embedding(bucket).permute(2, 0, 1).unsqueeze(0)  # [1, H, T_q, T_k]
