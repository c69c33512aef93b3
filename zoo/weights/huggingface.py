"""Hugging Face model directories: ``config.json`` plus safetensors or ``pytorch_model.bin`` (sharded too).

A shard index only names files inside the model directory: an entry that is absolute, climbs
out with ``..``, or is a symlink leading outside is an error (the Hugging Face cache's own links
from ``snapshots/<commit>/`` to ``blobs/`` are the one exception). The tensors found in the
shards must be exactly those the index places in them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from torch import Tensor

from .errors import WeightsError
from .io import read_json_object, read_state_dict
from .strict import listing, report

_SINGLE = ("model.safetensors", "pytorch_model.bin")
_INDEXES = {"model.safetensors.index.json": ".safetensors", "pytorch_model.bin.index.json": ".bin"}


def is_hf_directory(path: Path) -> bool:
    """A config.json naming a model_type or architectures, or (older hub repositories, such as the
    compact BERTs) any config.json beside transformers' weight files that is not timm's.

    A config.json that is not a JSON object is an error naming it.
    """
    config = path / "config.json"
    if not config.is_file():
        return False
    data = read_json_object(config)
    if "model_type" in data or "architectures" in data:
        return True
    return "architecture" not in data and any((path / name).is_file() for name in (*_SINGLE, *_INDEXES))


def read_hf_directory(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(state dict, config) of a downloaded or ``save_pretrained`` directory."""
    config = read_json_object(path / "config.json")
    for name in _SINGLE:
        if (path / name).is_file():
            return read_state_dict(path / name), config
    for name, suffix in _INDEXES.items():
        if (path / name).is_file():
            return read_shards(path, path / name, suffix), config
    raise WeightsError(f"{path} has a Hugging Face config.json but no weights: expected one of "
                       f"{', '.join((*_SINGLE, *_INDEXES))}")


def read_shards(directory: Path, index_path: Path, suffix: str) -> dict[str, Tensor]:
    """The tensors of a sharded checkpoint, each from the shard its index names."""
    weight_map = read_weight_map(index_path)
    state: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        tensors = read_state_dict(shard_path(directory, index_path, shard, suffix))
        _check_shard(tensors, {k for k, v in weight_map.items() if v == shard}, index_path, shard)
        state.update(tensors)
    return state


def read_weight_map(index_path: Path) -> dict[str, str]:
    """The index's ``weight_map``: a non-empty JSON object of tensor name -> shard file name."""
    weight_map = read_json_object(index_path).get("weight_map")
    shape = "a non-empty JSON object of tensor name -> shard file name"
    if not isinstance(weight_map, dict) or not weight_map:
        raise WeightsError(f"{index_path} is not a valid shard index: its \"weight_map\" must be {shape}, "
                           f"got {type(weight_map).__name__ if weight_map is not None else 'none'}"
                           f"{' (empty)' if weight_map == {} else ''}")
    wrong = [f"{k}: {v!r}" for k, v in weight_map.items() if not isinstance(v, str) or not v]
    if wrong:
        raise WeightsError(f"{index_path} is not a valid shard index: its \"weight_map\" must be {shape}\n"
                           + listing("entries that are not file names", wrong))
    return weight_map


def shard_path(directory: Path, index_path: Path, entry: str, suffix: str) -> Path:
    """The file an index entry names, confined to ``directory`` (symlinks resolved)."""
    allowed = f"allowed: the name of a {suffix} file inside {directory}, relative to it"
    if Path(entry).is_absolute():
        raise WeightsError(f"{index_path}: shard entry {entry!r} is an absolute path; {allowed}")
    if os.path.normpath(entry).split(os.sep)[0] == os.pardir:
        raise WeightsError(f"{index_path}: shard entry {entry!r} climbs out of the model directory with "
                           f"'..'; {allowed}")
    path = directory / entry
    target = path.resolve()
    if not any(target.is_relative_to(root) for root in _allowed_roots(directory)):
        raise WeightsError(f"{index_path}: shard entry {entry!r} leads outside the model directory through "
                           f"a symlink (to {target}); {allowed}")
    if not entry.endswith(suffix):
        raise WeightsError(f"{index_path}: shard entry {entry!r} is not a {suffix} file; {allowed}")
    if not path.is_file():
        raise WeightsError(f"{index_path} names the shard {entry!r}, which is not in {directory}; the "
                           "download is incomplete: fetch the model again")
    return path


def _allowed_roots(directory: Path) -> list[Path]:
    """Where shards may live: the directory, and for a Hugging Face cache snapshot
    (``models--OWNER--NAME/snapshots/COMMIT``) its repository's ``blobs``, where the snapshot's links point."""
    root = directory.resolve()
    repository = root.parent.parent
    if root.parent.name == "snapshots" and repository.name.startswith("models--"):
        return [root, repository / "blobs"]
    return [root]


def _check_shard(tensors: Mapping[str, Tensor], placed: set[str], index_path: Path, shard: str) -> None:
    """A shard must hold exactly the tensors the index places in it (transformers would report a missing
    one only if the model needs it, and take a duplicate from whichever shard it reads last)."""
    missing, extra = sorted(placed - tensors.keys()), sorted(tensors.keys() - placed)
    if missing or extra:
        raise WeightsError(report(f"{index_path} does not match its shard {shard}: the index or the shard is stale "
                                  "or damaged; fetch the model again. Nothing was loaded.",
                                  ("placed in the shard by the index, but not in it", missing),
                                  ("in the shard, but not placed there by the index", extra)))


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
