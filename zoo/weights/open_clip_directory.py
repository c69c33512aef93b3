"""open_clip model directories (open_clip's ``push_to_hf_hub``, the ``laion/`` hub repositories):
``open_clip_config.json`` (``{"model_cfg": ..., "preprocess_cfg": ...}``) beside
``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin`` (read with ``weights_only=True``)
in open_clip's own key layout, which the family's key maps detect. Where a directory also holds
transformers' or timm's weights (the ``laion/`` and ``timm/`` repositories hold both), those win."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from .errors import WeightsError
from .io import read_json_object, read_state_dict

CONFIG_NAME = "open_clip_config.json"
WEIGHTS_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_OTHER_WEIGHTS = ("model.safetensors", "model.safetensors.index.json",  # transformers' and timm's
                  "pytorch_model.bin", "pytorch_model.bin.index.json")


def is_open_clip_directory(path: Path) -> bool:
    """open_clip's weights and no transformers or timm weights beside them; or open_clip's config alone."""
    if any((path / name).is_file() for name in _OTHER_WEIGHTS):
        return False
    return any((path / name).is_file() for name in WEIGHTS_NAMES) or (
        (path / CONFIG_NAME).is_file() and not (path / "config.json").is_file())


def read_open_clip_directory(path: Path) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """(state dict, the config or None where the directory has none)."""
    config = read_json_object(path / CONFIG_NAME) if (path / CONFIG_NAME).is_file() else None
    for name in WEIGHTS_NAMES:
        if (path / name).is_file():
            return read_state_dict(path / name), config
    raise WeightsError(f"{path} has an open_clip {CONFIG_NAME} but no weights: expected {' or '.join(WEIGHTS_NAMES)}")
