"""Shapes with captions: the offline default data of the contrastive (image-text) recipe.

Each image is one filled shape of one colour in one cell of a 3 x 3 grid, drawn with the
renderer of `shapes` on a noisy dark background; its caption names all three, in one of a few
templates: ``"a picture of a red circle at the top left"``. There are 4 colours x 4 shapes x 9
positions = 144 combinations, of which 16 (``HELD_OUT``) never appear in the ``"seen"`` data
(training and validation) and make up the ``"held-out"`` data, for zero-shot evaluation: a model
that understood colour, shape and position separately can match a caption it never saw.

The held-out combinations are ``(colour c, shape s, position (c + 2 s) mod 9)``, one position for
each (colour, shape) pair. For any two attributes, at most one value of the third is held out,
so every pair still appears in the seen data: each (colour, shape) at 8 of the 9 positions, each
(colour, position) with at least 3 of the 4 shapes, each (shape, position) in at least 3 of the 4
colours.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._seed import check_index, check_size, item_generator, item_random
from .shapes import pixel_grid, shape_mask

COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.15, 0.9, 0.2), "blue": (0.2, 0.35, 1.0),
           "yellow": (0.95, 0.85, 0.1)}
SHAPES = ("circle", "triangle", "cross", "ring")
# (row, column) of each position's cell in the 3 x 3 grid, and how a caption says it
POSITIONS = {"top left": ((0, 0), "at the top left"), "top": ((0, 1), "at the top"),
             "top right": ((0, 2), "at the top right"), "left": ((1, 0), "on the left"),
             "centre": ((1, 1), "in the centre"), "right": ((1, 2), "on the right"),
             "bottom left": ((2, 0), "at the bottom left"), "bottom": ((2, 1), "at the bottom"),
             "bottom right": ((2, 2), "at the bottom right")}
TEMPLATES = ("a {}", "a picture of a {}", "there is a {}", "an image with a {}")
# every (colour, shape, position) combination, in this order: a combination's index is its class
COMBINATIONS = tuple((colour, shape, position) for colour in COLOURS for shape in SHAPES for position in POSITIONS)
HELD_OUT = frozenset((colour, shape, list(POSITIONS)[(c + 2 * s) % len(POSITIONS)])
                     for c, colour in enumerate(COLOURS) for s, shape in enumerate(SHAPES))
SPLITS = ("seen", "held-out")


def describe(colour: str, shape: str, position: str) -> str:
    """The words for one combination, as the templates' ``{}``: ``"red circle at the top left"``."""
    return f"{colour} {shape} {POSITIONS[position][1]}"


class CaptionedShapes(torch.utils.data.Dataset):
    """``size`` items ``(image [3, image_size, image_size] in [0, 1], caption, combination)``.

    ``combination`` indexes ``COMBINATIONS`` (the class of the item for zero-shot evaluation;
    two captions describe the same image content when their combinations are equal).
    ``split="seen"`` draws uniformly from the 128 combinations not in ``HELD_OUT``,
    ``split="held-out"`` from the 16 in it. The caption's template is drawn uniformly from
    ``TEMPLATES``; the shape's size, rotation and place inside its grid cell, and the colours'
    brightness and noise, vary. Item ``i`` depends only on ``(seed, split, i)`` and is rendered on
    access: train, validation and held-out sets are seeds and splits, and nothing is stored.
    """

    classnames = tuple(describe(*combination) for combination in COMBINATIONS)  # for zoo.zero_shot_classifier
    templates = TEMPLATES

    def __init__(self, size: int, *, image_size: int = 32, seed: int = 0, split: str = "seen") -> None:
        check_size("CaptionedShapes", size)
        if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 16:
            raise ValueError(f"CaptionedShapes: image_size must be an int >= 16, got {image_size!r}")
        if split not in SPLITS:
            raise ValueError(f"CaptionedShapes: split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
        self.size, self.image_size, self.seed, self.split = size, image_size, seed, split
        self.combinations = [i for i, c in enumerate(COMBINATIONS) if (c in HELD_OUT) == (split == "held-out")]
        self._grid = pixel_grid(image_size)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, str, int]:
        index = check_index("CaptionedShapes", index, self.size)
        salt = 11 if self.split == "seen" else 12
        rng = item_random(self.seed, index, salt=salt)
        combination = self.combinations[rng.randrange(len(self.combinations))]
        colour, shape, position = COMBINATIONS[combination]
        caption = TEMPLATES[rng.randrange(len(TEMPLATES))].format(describe(colour, shape, position))
        (row, column), _ = POSITIONS[position]
        radius = rng.uniform(0.11, 0.15)                     # fraction of the image side; a cell is 1/3 of it
        jitter = 1 / 6 - radius                              # the shape stays inside its cell
        cx = (column + 0.5) / 3 + rng.uniform(-jitter, jitter)
        cy = (row + 0.5) / 3 + rng.uniform(-jitter, jitter)
        mask = shape_mask(shape, self._grid, (cx, cy), radius, rng.uniform(0, 2 * math.pi))  # [H, W]
        gen = item_generator(self.seed, index, salt=salt)
        background = torch.rand(3, 1, 1, generator=gen) * 0.45                            # a random dark colour
        foreground = torch.tensor(COLOURS[colour]).view(3, 1, 1) * rng.uniform(0.75, 1.0)  # the colour, dimmed
        image = torch.where(mask, foreground, background)                                 # [3, H, W]
        image = image + 0.06 * torch.randn(3, self.image_size, self.image_size, generator=gen)
        return image.clamp_(0.0, 1.0), caption, combination

    def __repr__(self) -> str:
        return (f"CaptionedShapes(size={self.size}, image_size={self.image_size}, seed={self.seed}, "
                f"split={self.split!r}, combinations={len(self.combinations)})")
