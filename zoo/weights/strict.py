"""All-or-nothing state dict loading: every mismatch is listed and the model is left untouched."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from .errors import WeightsError

_SHOW = 20


def listing(title: str, items: list[str]) -> str:
    shown = "\n    ".join(items[:_SHOW])
    more = f"\n    ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"  {title} ({len(items)}):\n    {shown}{more}"


def report(headline: str, *sections: tuple[str, list[str]]) -> str:
    """``headline``, then a `listing` of each section that has items."""
    return "\n".join([headline] + [listing(title, items) for title, items in sections if items])


def dtype_fits(given: torch.dtype, wanted: torch.dtype) -> bool:
    """Whether a checkpoint tensor of dtype ``given`` may load into a model tensor of dtype ``wanted``:
    the same dtype, or floating point into floating point (cast, as fp16 weights load into fp32)."""
    return given == wanted or (given.is_floating_point and wanted.is_floating_point)


def tied_aliases(model: nn.Module) -> dict[str, str]:
    """Parameter names that share storage with an earlier name (tied embeddings): alias -> first name."""
    first: dict[int, str] = {}
    aliases = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        key = id(tensor)
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


def load_strict(model: nn.Module, state: Mapping[str, Tensor], source: str = "weights", *,
                consume: bool = False) -> None:
    """Copy ``state`` into ``model`` only if names, shapes and dtypes match.

    Tied parameters may appear under either name (or both). Dtypes must be equal, with one
    exception: a floating-point tensor loads into a floating-point parameter of another width
    and is cast (fp16/bf16 checkpoints into an fp32 model, which is how published half-precision
    weights load). Integers, booleans and complex numbers never change kind: an int64 tensor
    into a float parameter, or a float into an integer buffer, is an error, as is an int32
    tensor into an int64 buffer. On any mismatch, raises a `WeightsError` listing missing,
    unexpected, wrongly shaped and wrongly typed keys; nothing is copied.
    ``consume=True`` (``state`` a dict the caller is done with) removes each tensor from it once
    copied, so a checkpoint and a model built without initialisation (`skip_init`, whose
    untouched memory is not yet resident) never both occupy memory in full: the peak stays
    near one model's size instead of two.
    """
    expected = model.state_dict(keep_vars=True)
    aliases = tied_aliases(model)
    if not consume:
        state = dict(state)
    elif not isinstance(state, dict):
        raise TypeError(f"consume=True needs a dict to empty, got {type(state).__name__}")
    for alias, original in aliases.items():
        if alias in state and original not in state:
            state[original] = state[alias]
        state.pop(alias, None)
    missing = [k for k in expected if k not in state and k not in aliases]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k}: weights {list(state[k].shape)}, model {list(expected[k].shape)}"
        for k in state if k in expected and state[k].shape != expected[k].shape
    ]
    wrong_dtype = [f"{k}: weights {state[k].dtype}, model {expected[k].dtype}"
                   for k in state if k in expected and not dtype_fits(state[k].dtype, expected[k].dtype)]
    if missing or unexpected or wrong_shape or wrong_dtype:
        parts = [f"{source} do not fit the model; nothing was loaded."]
        if missing:
            parts.append(listing("missing from the weights", missing))
        if unexpected:
            parts.append(listing("unexpected in the weights", unexpected))
        if wrong_shape:
            parts.append(listing("wrong shape", wrong_shape))
            if any(k.startswith("head.") for k in state if k in expected and state[k].shape != expected[k].shape):
                parts.append("  To fine-tune with another number of classes, load with the checkpoint's "
                             "num_classes, then call model.reset_classifier(n).")
        if wrong_dtype:
            parts.append(listing("wrong dtype", wrong_dtype))
            parts.append("  A dtype must match the model's; only floating point loads into floating point "
                         "of another width (cast).")
        raise WeightsError("\n".join(parts))
    with torch.no_grad():  # aliases were folded in; every name, shape and dtype matched above
        for name in [k for k in expected if k not in aliases]:
            expected[name].copy_(state.pop(name))
