"""Weight initialisation shared by the families."""
from __future__ import annotations

from torch import nn


def init_trunc_normal(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal weights and zero biases for Linear layers (the ViT/BERT/GPT convention)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=std)
