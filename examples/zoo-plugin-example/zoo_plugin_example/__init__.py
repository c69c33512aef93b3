"""An example transformer-zoo plugin: the ``simple-vit`` family, its cards, an ``image-regression`` task.

Importing this package does not import torch: it only says where the card file is. The
entry points in pyproject.toml name ``simple_vit:FAMILY`` (imports torch, on first use) and
``tasks:IMAGE_REGRESSION`` (torch-free; its head module is imported when a model is built).
"""
from importlib.resources import files

CARDS = files(__name__) / "cards.toml"  # what the ``zoo.cards`` entry point points to
