"""Hugging Face model directories: ``config.json`` plus safetensors or ``pytorch_model.bin`` (sharded too)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from torch import Tensor

from .errors import WeightsError
from .io import read_state_dict

_SINGLE = ("model.safetensors", "pytorch_model.bin")
_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def is_hf_directory(path: Path) -> bool:
    """A config.json naming a model_type or architectures, or (older hub repositories, such as the
    compact BERTs) any config.json beside transformers' weight files that is not timm's."""
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    if not isinstance(data, dict):
        return False
    if "model_type" in data or "architectures" in data:
        return True
    return "architecture" not in data and any((path / name).is_file() for name in _SINGLE + _INDEXES)


def read_hf_directory(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(state dict, config) of a downloaded or ``save_pretrained`` directory."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    for name in _SINGLE:
        if (path / name).is_file():
            return read_state_dict(path / name), config
    for name in _INDEXES:
        index_path = path / name
        if index_path.is_file():
            try:
                shards = sorted(set(json.loads(index_path.read_text(encoding="utf-8"))["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, AttributeError) as exc:
                raise WeightsError(f"{index_path} is not a valid shard index: {exc}") from None
            state: dict[str, Tensor] = {}
            for shard in shards:
                state.update(read_state_dict(path / shard))
            return state, config
    raise WeightsError(f"{path} has a Hugging Face config.json but no weights: expected one of "
                       f"{', '.join(_SINGLE + _INDEXES)}")


def check_hf_config(config: Mapping[str, Any], spec: Any, fields: Mapping[str, str], expected: Mapping[str, Any],
                    family: str) -> None:
    """Raise if a Hugging Face config disagrees with the spec on any mapped field or fixed value."""
    wrong = [f"{key}={config[key]!r} but {field}={getattr(spec, field)!r}"
             for key, field in fields.items() if key in config and config[key] != getattr(spec, field)]
    wrong += [f"{key}={config.get(key)!r}, the {family} family needs {value!r}"
              for key, value in expected.items() if key in config and config[key] != value]
    if wrong:
        raise WeightsError(f"the Hugging Face config does not match this model: {'; '.join(wrong)}. "
                           "Pick the matching card or pass the matching overrides.")
