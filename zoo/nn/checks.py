"""Argument and input checks shared by the models, heads and generation.

Each raises a TypeError (wrong type) or ValueError (wrong value) that names the argument, says
what is allowed and, where it helps, how to convert. Type and dtype checks read metadata only
(free under ``torch.compile`` and ``torch.export``); checks of tensor values live next to the
code that reads the values (`check_binary_mask`, `TokenEmbedding`, the losses).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor

INDEX_DTYPES = (torch.int64, torch.int32)  # what embeddings and indexing take


def describe(value: Any) -> str:
    """``str '16000'``, ``ndarray``: a value's type, and the value itself when it is short."""
    text = repr(value)
    return f"{type(value).__name__} {text}" if len(text) <= 40 else type(value).__name__


def _conversion(value: Any, name: str) -> str:
    if type(value).__module__ == "numpy":
        return f"; convert with torch.from_numpy({name})"
    if isinstance(value, (list, tuple)):
        return f"; convert with torch.tensor({name})"
    return ""


def require_tensor(value: Any, name: str, expected: str) -> Tensor:
    """``value`` when it is a tensor; else a TypeError saying how to make one (numpy arrays, lists)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {expected}, got {type(value).__name__}"
                        f"{_conversion(value, name)}")
    return value


def check_token_ids(ids: Any, name: str = "token ids") -> Tensor:
    """Token ids are an int64 (or int32) tensor."""
    ids = require_tensor(ids, name, "of int64 token ids")
    if ids.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name} must be an integer tensor (int64 or int32), got {ids.dtype}; "
                        f"token ids come from a tokenizer (convert with {name}.long())")
    return ids


def check_input_dtype(x: Tensor, name: str, dtype: torch.dtype, integer_hint: str) -> None:
    """``x`` must have the model's floating ``dtype`` (any float dtype under autocast, which casts).

    ``integer_hint`` says how to turn integer (or bool) data into model input.
    """
    if x.dtype == dtype or (x.is_floating_point() and torch.is_autocast_enabled(x.device.type)):
        return
    how = (f"convert with {name}.to({dtype}), or the model with model.to({x.dtype})" if x.is_floating_point()
           else integer_hint)
    raise TypeError(f"{name} must be a {dtype} tensor (the model's dtype), got {x.dtype}; {how}")


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """A real int (a bool, float or string is a TypeError), ``>= minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value: Any, name: str) -> float:
    """A finite real number (ints are fine; bools, strings, nan and inf are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    """True or False only: a string such as ``"yes"`` or ``"false"`` is not taken for its truth value."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return value
