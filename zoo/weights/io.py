"""Reading state dicts from files: safetensors, or torch pickles with ``weights_only=True``."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from .errors import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SUFFIXES = (".safetensors",) + TORCH_SUFFIXES
_WRAPPERS = ("state_dict", "model", "module")  # training checkpoints nest the weights under these


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors from a ``.safetensors`` or ``.pth``/``.pt``/``.bin``/``.ckpt`` file, on CPU.

    Torch files are read with ``weights_only=True``, so no pickled code runs. Training
    checkpoints that nest the weights (``{"state_dict": ...}``, ``{"model": ...}``) and
    DistributedDataParallel's ``module.`` prefix are unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path), device="cpu")
        elif suffix in TORCH_SUFFIXES:
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise WeightsError(f"{path}: unsupported weights file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    except WeightsError:
        raise
    except Exception as exc:  # truncated, corrupt, or a pickle with code in it
        raise WeightsError(f"could not read weights from {path}: {type(exc).__name__}: {exc}") from None
    return _unwrap(state, path)


def _unwrap(state: object, path: Path) -> dict[str, Tensor]:
    while isinstance(state, Mapping):
        nested = next((state[k] for k in _WRAPPERS if isinstance(state.get(k), Mapping)), None)
        if nested is None:
            break
        state = nested
    if not isinstance(state, Mapping) or not state:
        raise WeightsError(f"{path} holds no state dict (expected a mapping of names to tensors)")
    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise WeightsError(f"{path}: entries that are not tensors: {', '.join(map(str, not_tensors[:10]))}")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)
