"""timm model directories (``save_for_hf`` / the ``timm/`` hub repositories): config.json with an
``architecture``, plus ``model.safetensors`` or ``pytorch_model.bin`` in timm's own key layout."""
from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from .errors import WeightsError
from .io import read_state_dict

_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def is_timm_directory(path: Path) -> bool:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and "architecture" in config


def read_timm_directory(path: Path) -> dict[str, Tensor]:
    """The state dict of a timm directory; its key layout is detected later by the family's key maps."""
    for name in _WEIGHTS:
        if (path / name).is_file():
            return read_state_dict(path / name)
    raise WeightsError(f"{path} has a timm config.json but no weights: expected {' or '.join(_WEIGHTS)}")
