"""timm model directories (``save_for_hf`` / the ``timm/`` hub repositories): config.json with an
``architecture``, plus ``model.safetensors`` or ``pytorch_model.bin`` in timm's own key layout."""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from .errors import WeightsError
from .io import read_json_object, read_state_dict

_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def is_timm_directory(path: Path) -> bool:
    """A config.json naming an ``architecture``; a config.json that is not a JSON object is an error naming it."""
    config = path / "config.json"
    return config.is_file() and "architecture" in read_json_object(config)


def read_timm_directory(path: Path) -> dict[str, Tensor]:
    """The state dict of a timm directory; its key layout is detected later by the family's key maps."""
    for name in _WEIGHTS:
        if (path / name).is_file():
            return read_state_dict(path / name)
    raise WeightsError(f"{path} has a timm config.json but no weights: expected {' or '.join(_WEIGHTS)}")
