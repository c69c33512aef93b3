"""A model family: its spec type, its backbone builder and the foreign weight layouts it reads."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn


@dataclass(frozen=True)
class KeyMap:
    """Converts a foreign state dict (timm, Hugging Face, ...) to this family's zoo layout.

    ``check_config(config, spec)``, when given, compares the foreign config (a Hugging Face
    ``config.json``) with the spec being built and raises on a mismatch.
    """

    layout: str
    detect: Callable[[Mapping[str, torch.Tensor]], bool]
    convert: Callable[[Mapping[str, torch.Tensor], Any], dict[str, torch.Tensor]]
    check_config: Callable[[Mapping[str, Any], Any], None] | None = None


@dataclass(frozen=True)
class Family:
    """What a ``zoo.families`` entry point points to.

    ``build(spec)`` returns the backbone; ``smoke_overrides`` is a tiny config that
    registry-wide tests and quick checks use; ``example_inputs(spec, batch_size)`` returns
    (args, kwargs) for a forward pass.
    """

    name: str
    spec: type
    build: Callable[[Any], nn.Module]
    example_inputs: Callable[[Any, int], tuple[tuple, dict]]
    key_maps: tuple[KeyMap, ...] = ()
    smoke_overrides: Mapping[str, Any] = field(default_factory=dict)

    def smoke_spec(self, card_spec: Mapping[str, Any]) -> dict[str, Any]:
        """A card's spec with the tiny config over it. A smoke override may be a function of the card's
        value (the spec's default without one), e.g. ``{"decoder_depth": lambda depth: min(depth, 2)}``
        keeps an encoder card (0) an encoder."""
        defaults = {f.name: f.default for f in dataclasses.fields(self.spec)}
        tiny = {name: value(card_spec.get(name, defaults.get(name))) if callable(value) else value
                for name, value in self.smoke_overrides.items()}
        return {**card_spec, **tiny}
