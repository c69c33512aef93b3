"""Offline default data for the training recipes: small, deterministic, learnable, generated on access.

Every dataset is a map-style torch Dataset whose item ``i`` depends only on ``(seed, i)``: train and
validation splits are two seeds, workers can read any item, and nothing large is held in memory.
"""
from __future__ import annotations

from .shapes import ShapesDataset

__all__ = ["ShapesDataset"]
