"""Reading state dicts from files: safetensors, or torch pickles with ``weights_only=True``.

Every failure is a `WeightsError` in our own words: torch's messages for a refused pickle
advise turning its safety off, which zoo never does nor suggests.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from .digest import DIGESTS_KEY, check_digests
from .errors import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SUFFIXES = (".safetensors",) + TORCH_SUFFIXES
_WRAPPERS = ("state_dict", "model", "module", "model_state_dict")  # checkpoints nest the weights under these
_CONFIG_KEYS = ("dims",)  # settings saved beside the weights (OpenAI's Whisper checkpoints: {"dims", "model_state_dict"})
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; unreadable files, invalid JSON and other JSON values are errors."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise WeightsError(f"could not read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WeightsError(f"{path} must hold a JSON object ({{...}}), not a JSON {_JSON_KINDS[type(value)]}")
    return value


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors from a ``.safetensors`` or ``.pth``/``.pt``/``.bin``/``.ckpt`` file, on CPU.

    Torch files are read with ``weights_only=True``, so no pickled code runs. Training
    checkpoints that nest the weights (``{"state_dict": ...}``, ``{"model": ...}``) and
    DistributedDataParallel's ``module.`` prefix are unwrapped. A safetensors file written by
    `zoo.save` carries a digest of every tensor, checked here, so damaged bytes never load.
    """
    return read_weights_file(path)[0]


def read_weights_file(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """(`read_state_dict`'s tensors, the settings a torch checkpoint keeps beside them or None):
    OpenAI's Whisper files hold ``{"dims": {...}, "model_state_dict": {...}}``; the dims come back
    as ``{"dims": {...}}`` for the family's key map to check against the spec."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        state, metadata = read_safetensors(path)
        if DIGESTS_KEY in metadata:
            check_digests(state, metadata[DIGESTS_KEY], str(path))
    elif suffix in TORCH_SUFFIXES:
        state = _read_torch_file(path)
    else:
        raise WeightsError(f"{path}: unsupported weights file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    config = None
    if isinstance(state, Mapping) and any(isinstance(state.get(k), Mapping) for k in _WRAPPERS):
        config = {k: state[k] for k in _CONFIG_KEYS if isinstance(state.get(k), Mapping)} or None
    return _unwrap(state, path), config


def read_safetensors(path: Path, *, tensors: bool = True) -> tuple[dict[str, Tensor], dict[str, str]]:
    """(tensors on CPU, header metadata) of a safetensors file; ``tensors=False`` reads the header only."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()} if tensors else {}
    except Exception as exc:  # the header is parsed and every offset checked against the file size
        detail = "the file is empty" if path.stat().st_size == 0 else str(exc).splitlines()[0]
        raise WeightsError(f"{path} is not a readable safetensors file (truncated or corrupt, or not "
                           f"safetensors at all): {detail}") from None
    return state, metadata


def _read_torch_file(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _torch_file_error(path, exc) from None


def _torch_file_error(path: Path, exc: Exception) -> WeightsError:
    """Our message for a torch file that ``weights_only=True`` could not read: never torch's advice."""
    refused = _REFUSED_GLOBAL.search(str(exc))
    if refused:
        return WeightsError(f"{path} is refused on purpose: it holds pickled Python objects ({refused.group(1)}), "
                            "not only tensors, and unpickling them could run code. zoo reads only tensors from "
                            "pickles; ask for a safetensors file, or a plain state dict "
                            "(torch.save(model.state_dict(), path)).")
    if path.stat().st_size == 0:
        detail = "the file is empty"
    elif isinstance(exc, EOFError):
        detail = "the file ends early"
    elif "zip archive" in str(exc):  # torch.save's format is a zip archive
        detail = str(exc).split(". ")[0]
    else:  # torch's own text for the rest recommends disabling the safety: not repeated
        detail = "its bytes are neither a torch.save archive nor a pickle of tensors"
    return WeightsError(f"{path} is not a readable PyTorch checkpoint: it is truncated or corrupt, or not a "
                        f"checkpoint at all ({detail}). A file holding pickled code is refused on purpose: zoo "
                        "reads only tensors from pickles.")


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
