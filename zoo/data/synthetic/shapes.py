"""Rendered shapes in colours: the offline default data of the image-classification recipe.

Each image is one filled shape (random centre, size and rotation) on a noisy background of a
random dark colour; the label is the (shape, colour) pair. Colour alone gives away a third of
the answer; shape needs spatial features (a colour histogram cannot tell a disc from a ring or
a cross), yet a tiny ViT learns both in a minute or two on a CPU.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._seed import check_index, check_size, item_generator, item_random

SHAPES = ("circle", "triangle", "cross", "ring")
COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.15, 0.9, 0.2), "blue": (0.2, 0.35, 1.0)}


def _inside(shape: str, x: Tensor, y: Tensor) -> Tensor:
    """Boolean mask of ``shape`` in unit coordinates (the shape spans about [-1, 1])."""
    if shape == "circle":
        return x * x + y * y <= 1.0
    if shape == "square":
        return torch.maximum(x.abs(), y.abs()) <= 0.82
    if shape == "triangle":  # equilateral, circumradius 1, one vertex up (y grows downwards)
        edges = [(-(math.sin(a)), math.cos(a)) for a in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)]
        return torch.stack([nx * x - ny * y <= 0.5 for nx, ny in edges]).all(0)
    if shape == "cross":
        ax, ay = x.abs(), y.abs()
        return ((ax <= 0.24) & (ay <= 1.0)) | ((ay <= 0.24) & (ax <= 1.0))
    if shape == "ring":
        r2 = x * x + y * y
        return (r2 <= 1.0) & (r2 >= 0.5 ** 2)
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def pixel_grid(image_size: int) -> tuple[Tensor, Tensor]:
    """``(y, x)``, each ``[H, W]``: the pixel centres of a square image in unit coordinates (0 to 1)."""
    coords = (torch.arange(image_size, dtype=torch.float32) + 0.5) / image_size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return y, x


def shape_mask(shape: str, grid: tuple[Tensor, Tensor], centre: tuple[float, float], radius: float,
               angle: float) -> Tensor:
    """Boolean mask ``[H, W]`` of one ``shape`` drawn on ``grid`` (from `pixel_grid`).

    ``centre`` is ``(x, y)`` and ``radius`` a fraction of the image side (y grows downwards);
    ``angle`` rotates the shape (radians). Shapes: ``SHAPES`` and ``"square"``.
    """
    grid_y, grid_x = grid
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = (grid_x - centre[0]) / radius, (grid_y - centre[1]) / radius  # [H, W]
    return _inside(shape, c * dx + s * dy, -s * dx + c * dy)              # [H, W] rotated frame


class ShapesDataset(torch.utils.data.Dataset):
    """``size`` images ``[3, image_size, image_size]`` in [0, 1] with labels into ``classes``.

    ``classes`` are ``"<colour> <shape>"`` for 4 shapes x 3 colours (12 classes, balanced: item
    ``i``'s label is drawn uniformly). Item ``i`` depends only on ``(seed, i)`` and is rendered
    on access, so a train and a validation split are two seeds and nothing is held in memory.
    """

    def __init__(self, size: int, *, image_size: int = 32, seed: int = 0) -> None:
        check_size("ShapesDataset", size)
        if not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"ShapesDataset: image_size must be an int >= 8, got {image_size!r}")
        self.size, self.image_size, self.seed = size, image_size, seed
        self.classes = [f"{colour} {shape}" for shape in SHAPES for colour in COLOURS]
        self._grid = pixel_grid(image_size)  # (y, x), [H, W] each

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        index = check_index("ShapesDataset", index, self.size)
        rng = item_random(self.seed, index, salt=1)
        label = rng.randrange(len(self.classes))
        shape = SHAPES[label // len(COLOURS)]
        colour = torch.tensor(list(COLOURS.values())[label % len(COLOURS)])
        radius = rng.uniform(0.28, 0.42)                                   # fraction of the image side
        cx, cy = rng.uniform(radius, 1 - radius), rng.uniform(radius, 1 - radius)
        mask = shape_mask(shape, self._grid, (cx, cy), radius, rng.uniform(0, 2 * math.pi))  # [H, W]
        gen = item_generator(self.seed, index, salt=1)
        background = torch.rand(3, 1, 1, generator=gen) * 0.45             # a random dark colour
        foreground = colour.view(3, 1, 1) * rng.uniform(0.7, 1.0)          # the class colour, dimmed
        image = torch.where(mask, foreground, background)                  # [3, H, W]
        image = image + 0.08 * torch.randn(3, self.image_size, self.image_size, generator=gen)
        return image.clamp_(0.0, 1.0), label

    def __repr__(self) -> str:
        return (f"ShapesDataset(size={self.size}, image_size={self.image_size}, seed={self.seed}, "
                f"classes={len(self.classes)})")
