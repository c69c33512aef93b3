"""``check_key_map``: a reference module's weights, converted by the family's key map, give its outputs."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from .checks import _close, _diff
from .subject import ConformanceError


def check_key_map(model: nn.Module, reference: nn.Module, inputs: tuple, extras: Mapping[str, Any] | None = None,
                  *, output: Callable[[Any], Tensor] = lambda out: out, config: Mapping[str, Any] | None = None,
                  reference_extras: Mapping[str, Any] | None = None, atol: float = 1e-4, rtol: float = 1e-4) -> str:
    """Load ``reference.state_dict()`` into ``model`` (a ZooModel of the same shape) through its family's
    key maps, then compare ``model(*inputs, **extras)`` with ``output(reference(*inputs, **reference_extras))``.

    ``output`` picks the tensor from the reference's output (``lambda out: out.logits`` for transformers);
    ``config`` is the reference's config dict (``reference.config.to_dict()``), checked against the spec
    when the key map has a ``check_config``; ``reference_extras`` defaults to ``extras``. Every tensor the
    model has must come from the reference (a head the reference lacks is an error here, not a fresh
    start); head tensors the model's task does not use are dropped. Returns the detected layout.
    """
    from ..factory import get_family
    from ..weights.errors import WeightsError
    from ..weights.load import to_zoo_layout
    from ..weights.strict import load_strict

    source = f"{type(reference).__name__} state dict"
    state = {k: v.detach().clone() for k, v in reference.state_dict().items()}
    try:
        converted, layout = to_zoo_layout(state, get_family(model.family), model.spec, source, config)
        ours = model.state_dict()
        converted = {k: v for k, v in converted.items() if not k.startswith("head.") or k in ours}
        load_strict(model, converted, source)
    except WeightsError as exc:
        raise ConformanceError(f"the {model.family!r} key maps cannot load {source} into {model.card or model.family} "
                               f"[{model.task}]: {exc}") from exc
    extras = dict(extras or {})
    model.eval()
    reference.eval()
    with torch.no_grad():
        got = model(*inputs, **extras)
        expected = output(reference(*inputs, **dict(reference_extras if reference_extras is not None else extras)))
    if not _close(got, expected, atol=atol, rtol=rtol):
        raise ConformanceError(f"{model.card or model.family} [{model.task}] through the {layout!r} key map differs "
                               f"from {type(reference).__name__} ({_diff(got, expected)}; atol {atol}, rtol {rtol})")
    return layout
