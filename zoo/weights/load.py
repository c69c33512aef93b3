"""``weights=``: read a file or directory, detect its layout, convert, load.

The backbone is loaded strictly. Head tensors follow the task: those the model's head
has are loaded (shapes must match); those it lacks are reported and dropped (another
task's head); a head the checkpoint does not carry at all starts fresh, with a warning
(fine-tuning from a base checkpoint).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping

from torch import Tensor, nn

from .errors import WeightsError
from .hub import is_hub_reference, resolve_hub_reference
from .huggingface import is_hf_directory, read_hf_directory
from .io import SUFFIXES, read_state_dict, read_weights_file
from .open_clip_directory import is_open_clip_directory, read_open_clip_directory
from .saved import WEIGHTS_NAME, is_zoo_directory, read_config
from .strict import load_strict, tied_aliases
from .timm_directory import is_timm_directory, read_timm_directory

ZOO_PREFIXES = ("backbone.", "head.")


def _is_zoo_layout(state: Mapping[str, Tensor]) -> bool:
    return all(k.startswith(ZOO_PREFIXES) for k in state)


def to_zoo_layout(state: Mapping[str, Tensor], family, spec, source: str,
                  config: Mapping[str, Any] | None = None) -> tuple[dict[str, Tensor], str]:
    """Detect the layout of ``state`` among zoo and the family's key maps; return it converted."""
    if _is_zoo_layout(state):
        return dict(state), "zoo"
    for key_map in family.key_maps:
        if key_map.detect(state):
            if config is not None and key_map.check_config is not None:
                key_map.check_config(config, spec)
            return key_map.convert(state, spec), key_map.layout
    layouts = ", ".join(["zoo"] + [k.layout for k in family.key_maps])
    sample = ", ".join(list(state)[:5])
    raise WeightsError(f"{source}: not a layout the {family.name!r} family reads ({layouts}); first keys: {sample}")


def read_weights(path: str | Path) -> tuple[dict[str, Tensor], str, dict[str, Any] | None]:
    """(state dict, description, foreign config or None) for a weights file, model directory or hub reference."""
    if is_hub_reference(path):
        state, source, config = read_weights(resolve_hub_reference(str(path)))
        return state, f"{path} ({source})", config
    path = Path(path).expanduser()
    if path.is_dir():
        if is_zoo_directory(path):
            read_config(path)  # consistency check between config and weights
            return read_state_dict(path / WEIGHTS_NAME), f"zoo model at {path}", None
        if is_open_clip_directory(path):  # open_clip's weights alone (where others are present, they win)
            state, config = read_open_clip_directory(path)
            return state, f"open_clip model at {path}", config
        if is_hf_directory(path):
            state, config = read_hf_directory(path)
            return state, f"Hugging Face model at {path}", config
        if is_timm_directory(path):
            return read_timm_directory(path), f"timm model at {path}", None
        raise WeightsError(f"{path} is a directory but neither a saved zoo model, a Hugging Face model "
                           "(config.json with a model_type), a timm model (config.json with an architecture) "
                           "nor an open_clip model (open_clip_config.json, open_clip_model.safetensors)")
    if not path.exists():
        raise WeightsError(f"weights path {path} does not exist; pass a local file ({', '.join(SUFFIXES)}), "
                           "a directory saved by zoo.save, a Hugging Face, timm or open_clip model directory, "
                           "or a hub reference (hf-hub:OWNER/NAME)")
    state, config = read_weights_file(path)
    return state, f"weights from {path}", config


def _settle_head(model: nn.Module, state: dict[str, Tensor], source: str,
                 head_may_differ: bool) -> tuple[dict[str, Tensor], list[str]]:
    """Drop head tensors the model's head has no place for; keep the model's own head where absent
    (and, with ``head_may_differ``, where the checkpoint's has another shape: a new number of classes).

    Returns the state to load and the notes to warn with once loading succeeded.
    """
    notes = []
    aliases = tied_aliases(model)  # a head tied to the embedding is loaded through the embedding
    current = model.state_dict()
    model_head = {k for k in current if k.startswith("head.") and k not in aliases}
    foreign = sorted(k for k in state if k.startswith("head.") and k not in model_head and k not in aliases)
    if foreign:
        notes.append(f"{source}: {len(foreign)} head tensors are not used by the {model.task} head and were "
                     f"ignored: {', '.join(foreign[:8])}{' ...' if len(foreign) > 8 else ''}")
        state = {k: v for k, v in state.items() if k not in foreign}
    resized = []
    if head_may_differ:
        resized = sorted(k for k in model_head & set(state) if state[k].shape != current[k].shape)
        if resized:
            notes.append(f"{source}: the {model.task} head has other shapes than the checkpoint's "
                         f"({', '.join(f'{k} {list(state[k].shape)} -> {list(current[k].shape)}' for k in resized[:4])}"
                         f"); it starts fresh (train it)")
    missing = sorted(model_head - set(state))
    if missing:
        notes.append(f"{source} has no weights for {len(missing)} tensors of the {model.task} head; they keep "
                     f"their fresh initialisation (train them): {', '.join(missing[:8])}"
                     f"{' ...' if len(missing) > 8 else ''}")
    return {**state, **{k: current[k] for k in resized + missing}}, notes


def load_weights(model, path: str | Path, family, *, head_may_differ: bool = False) -> str:
    """Load ``path`` into ``model`` (a ZooModel); returns the detected layout.

    ``head_may_differ``: a head shaped unlike the checkpoint's (other ``num_classes``) starts
    fresh instead of being an error; the backbone still loads strictly.
    """
    state, source, config = read_weights(path)
    state, layout = to_zoo_layout(state, family, model.spec, source, config)
    state, notes = _settle_head(model, state, source, head_may_differ)
    load_strict(model, state, source, consume=True)  # frees each checkpoint tensor once copied
    for note in notes:
        warnings.warn(note, stacklevel=3)
    return layout
