"""Image preprocessing for an image model, from its card's meta: what timm's
``create_transform(**resolve_data_config(model=...))`` builds for the same settings.

Evaluation, ``crop_mode = "center"`` (the default): resize the shorter side to
``img_size / crop_pct`` (floor), centre-crop ``img_size``. ``crop_mode = "squash"`` (timm's and
open_clip's name; SigLIP's processor): resize both sides to ``img_size / crop_pct``, ignoring the
aspect ratio, then centre-crop, which at ``crop_pct = 1`` crops nothing. Then scale to [0, 1] and
normalise with the card's mean and std. Training, either mode: a random resized crop (scale
0.08-1, timm's default) and a horizontal flip, then the same scaling and normalisation. The size
is the model's ``img_size`` (an override like ``img_size=384`` is followed); interpolation,
``crop_pct``, ``crop_mode``, mean and std come from the card's meta.

Inputs: a PIL image (resized by PIL, as timm and open_clip do), converted to RGB first if it is
grayscale, palette or CMYK; or a uint8 ``[3, H, W]`` tensor (resized by torch, as transformers'
default image processors do). An image with transparency is refused: open_clip drops the alpha
(after resizing with it), transformers composites onto white, so the caller chooses. The centre
crop rounds half the margin as torchvision does (timm, open_clip); transformers' processors floor
it, so for some sizes their crop sits one pixel off ours.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import v2 as transforms
from torchvision.transforms.functional import to_tensor
from torchvision.transforms.v2 import functional as F

_INTERPOLATIONS = {"bicubic": transforms.InterpolationMode.BICUBIC,
                   "bilinear": transforms.InterpolationMode.BILINEAR,
                   "nearest": transforms.InterpolationMode.NEAREST}
_CROP_MODES = ("center", "squash")


def _settings(model: Any) -> tuple[int, transforms.InterpolationMode, float, str, list[float], list[float]]:
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
    crop_mode = meta.get("crop_mode", "center")
    if crop_mode not in _CROP_MODES:
        raise ValueError(f"meta crop_mode {crop_mode!r} is not one of {', '.join(_CROP_MODES)}")
    mean, std = list(meta.get("mean", [0.5] * 3)), list(meta.get("std", [0.5] * 3))
    return size, _INTERPOLATIONS[name], crop_pct, crop_mode, mean, std


def _checked(image: Any) -> Image.Image | torch.Tensor:
    """A PIL image in RGB, or a uint8 [3, H, W] tensor; anything else is a clear error."""
    if isinstance(image, Image.Image):
        if "A" in image.getbands() or "transparency" in image.info:
            raise ValueError(f"image_transform: a {image.mode} image has transparency; choose how to drop it first: "
                             f"image.convert('RGB') (open_clip, timm's loaders) or an alpha composite onto white "
                             f"(transformers' image processors)")
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"image_transform takes a uint8 tensor [3, H, W]; got {image.dtype} "
                             f"{list(image.shape)}")
        return image
    raise TypeError(f"image_transform takes a PIL image or a uint8 tensor [3, H, W]; got {type(image).__name__}"
                    + (" (use PIL.Image.fromarray)" if type(image).__name__ == "ndarray" else ""))


def _to_float(image: Image.Image | torch.Tensor) -> torch.Tensor:
    """PIL image or uint8 tensor -> float [3, H, W] in [0, 1] (PIL: ``ToTensor``'s arithmetic, as timm)."""
    return F.to_dtype(image, torch.float32, scale=True) if isinstance(image, torch.Tensor) else to_tensor(image)


def image_transform(model: Any, *, train: bool = False) -> transforms.Compose:
    """PIL image (or uint8 [3, H, W] tensor) -> normalised float tensor [3, img_size, img_size] for ``model``."""
    size, interpolation, crop_pct, crop_mode, mean, std = _settings(model)
    scale = math.floor(size / crop_pct)
    if train:
        geometry = [transforms.RandomResizedCrop(size, scale=(0.08, 1.0), interpolation=interpolation),
                    transforms.RandomHorizontalFlip()]
    else:
        geometry = [transforms.Resize(scale if crop_mode == "center" else (scale, scale), interpolation=interpolation),
                    transforms.CenterCrop(size)]
    return transforms.Compose([_checked, *geometry, _to_float, transforms.Normalize(mean, std)])
