"""Image preprocessing for an image model, from its card's meta: what timm's
``create_transform(**resolve_data_config(model=...))`` builds for the same settings.

Evaluation: resize the shorter side to ``img_size / crop_pct`` (floor), centre-crop
``img_size``, scale to [0, 1], normalise with the card's mean and std. Training: a random
resized crop (scale 0.08-1, timm's default) and a horizontal flip, then the same scaling
and normalisation. The size is the model's ``img_size`` (an override like ``img_size=384``
is followed); interpolation, ``crop_pct``, mean and std come from the card's meta.
"""
from __future__ import annotations

import math
from typing import Any

from torchvision import transforms

_INTERPOLATIONS = {"bicubic": transforms.InterpolationMode.BICUBIC,
                   "bilinear": transforms.InterpolationMode.BILINEAR,
                   "nearest": transforms.InterpolationMode.NEAREST}


def _settings(model: Any) -> tuple[int, transforms.InterpolationMode, float, list[float], list[float]]:
    spec, meta = getattr(model, "spec", None), getattr(model, "meta", None)
    if spec is None or meta is None or not hasattr(spec, "img_size"):
        raise TypeError(f"image_transform needs an image model from zoo.create (with spec.img_size and meta); "
                        f"got {type(model).__name__}")
    size = spec.img_size if isinstance(spec.img_size, int) else spec.img_size[0]
    name = meta.get("interpolation", "bicubic")
    if name not in _INTERPOLATIONS:
        raise ValueError(f"meta interpolation {name!r} is not one of {', '.join(_INTERPOLATIONS)}")
    crop_pct = float(meta.get("crop_pct", 1.0))
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"meta crop_pct must be in (0, 1], got {crop_pct}")
    return size, _INTERPOLATIONS[name], crop_pct, list(meta.get("mean", [0.5] * 3)), list(meta.get("std", [0.5] * 3))


def image_transform(model: Any, *, train: bool = False) -> transforms.Compose:
    """PIL image (or uint8 [3, H, W] tensor) -> normalised float tensor [3, img_size, img_size] for ``model``."""
    size, interpolation, crop_pct, mean, std = _settings(model)
    if train:
        geometry = [transforms.RandomResizedCrop(size, scale=(0.08, 1.0), interpolation=interpolation),
                    transforms.RandomHorizontalFlip()]
    else:
        geometry = [transforms.Resize(math.floor(size / crop_pct), interpolation=interpolation),
                    transforms.CenterCrop(size)]
    return transforms.Compose([*geometry, transforms.ToTensor(), transforms.Normalize(mean, std)])
