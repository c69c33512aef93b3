"""``weights=``: read a file or directory, detect its layout, convert, load strictly."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

from torch import Tensor

from .errors import WeightsError
from .io import SUFFIXES, read_state_dict
from .saved import WEIGHTS_NAME, is_zoo_directory, read_config
from .strict import load_strict

ZOO_PREFIXES = ("backbone.", "head.")


def _is_zoo_layout(state: Mapping[str, Tensor]) -> bool:
    return all(k.startswith(ZOO_PREFIXES) for k in state)


def to_zoo_layout(state: Mapping[str, Tensor], family, spec, source: str) -> tuple[dict[str, Tensor], str]:
    """Detect the layout of ``state`` among zoo and the family's key maps; return it converted."""
    if _is_zoo_layout(state):
        return dict(state), "zoo"
    for key_map in family.key_maps:
        if key_map.detect(state):
            return key_map.convert(state, spec), key_map.layout
    layouts = ", ".join(["zoo"] + [k.layout for k in family.key_maps])
    sample = ", ".join(list(state)[:5])
    raise WeightsError(f"{source}: not a layout the {family.name!r} family reads ({layouts}); first keys: {sample}")


def read_weights(path: str | Path) -> tuple[dict[str, Tensor], str]:
    """The state dict behind ``path`` (a weights file or a saved zoo directory) and a description."""
    path = Path(path).expanduser()
    if path.is_dir():
        if is_zoo_directory(path):
            read_config(path)  # consistency check between config and weights
            return read_state_dict(path / WEIGHTS_NAME), f"zoo model at {path}"
        raise WeightsError(f"{path} is a directory but not a saved zoo model (no zoo config.json)")
    if not path.exists():
        raise WeightsError(f"weights path {path} does not exist; pass a local file ({', '.join(SUFFIXES)}) "
                           "or a directory saved by zoo.save")
    return read_state_dict(path), f"weights from {path}"


def load_weights(model, path: str | Path, family) -> str:
    """Load ``path`` into ``model`` (a ZooModel) strictly; returns the detected layout."""
    state, source = read_weights(path)
    state, layout = to_zoo_layout(state, family, model.spec, source)
    if not any(True for _ in model.head.parameters()):
        head_keys = [k for k in state if k.startswith("head.")]
        if head_keys:  # a headless task keeps the backbone and says so
            warnings.warn(f"{model.task} has no head: ignoring {len(head_keys)} head tensors in {source}",
                          stacklevel=3)
            state = {k: v for k, v in state.items() if not k.startswith("head.")}
    load_strict(model, state, source)
    return layout
