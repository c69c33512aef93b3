"""Weight initialisation shared by the families."""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


def init_trunc_normal(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal weights and zero biases for Linear layers (the ViT/BERT/GPT convention)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=std)


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")


@contextlib.contextmanager
def skip_init() -> Iterator[None]:
    """Build modules without running ``torch.nn.init``: their tensors keep whatever memory held.

    For a model whose every tensor a checkpoint is about to overwrite (``zoo.create(weights=...)``
    loads the backbone strictly, or fails and returns nothing), initialising first is wasted
    work: 30 s of a 1.5B-parameter GPT-2 on a CPU. Buffers computed in ``__init__`` (sinusoids,
    rotary tables) do not go through ``torch.nn.init`` and are unaffected.
    """
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS if hasattr(nn.init, name)}
    try:
        for name in saved:
            setattr(nn.init, name, _keep)
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _keep(tensor, *args, **kwargs):
    return tensor
