"""Helpers the parity tests against reference libraries share (importable: ``tests`` is on pytest's path)."""
from __future__ import annotations

import torch


def perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Random biases and norm weights so a wrong key map cannot hide behind zeros and ones; eval mode."""
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
    return model.eval()


def masked_max_diff(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Largest |a - b| over the positions where ``mask`` is set (padding is not compared)."""
    return (a - b)[mask.bool()].abs().max().item()
