"""Typed family specs: card values plus user overrides -> a validated frozen dataclass."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping


class SpecError(ValueError):
    """A spec value or override that the family does not accept."""


def spec_fields(spec_cls: type) -> dict[str, Any]:
    """Field name -> resolved type annotation."""
    hints = typing.get_type_hints(spec_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(spec_cls)}


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, name)
            except SpecError as exc:
                errors.append(str(exc))
        raise SpecError(errors[0] if len(errors) == 1 else f"{name}: {value!r} fits none of {annotation}")
    if origin is Literal:
        if value not in args:
            raise SpecError(f"{name} must be one of {', '.join(map(repr, args))}; got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{name} must be a list; got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{name}[{i}]") for i, v in enumerate(value))
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{name} must be true or false; got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{name} must be an integer; got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{name} must be a number; got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise SpecError(f"{name} must be a string; got {value!r}")
        return value
    raise TypeError(f"spec field {name} has an unsupported annotation {annotation}")


def build_spec(spec_cls: type, values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
               *, where: str = "spec") -> Any:
    """Merge card ``values`` with ``overrides``; type-check every field and run the spec's checks.

    Unknown keys are errors listing the valid fields; nothing is silently ignored.
    """
    fields = spec_fields(spec_cls)
    merged = {**values, **(overrides or {})}
    unknown = sorted(set(merged) - set(fields))
    if unknown:
        origin = "override" if set(unknown) & set(overrides or {}) else "spec key"
        raise SpecError(f"{where}: unknown {origin}{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                        f"valid fields: {', '.join(fields)}")
    try:
        typed = {key: _coerce(value, fields[key], key) for key, value in merged.items()}
        return spec_cls(**typed)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:  # missing fields or a failed __post_init__ check
        raise SpecError(f"{where}: {exc}") from None


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A JSON-ready dict of the spec's fields (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()}


def check(condition: bool, message: str) -> None:
    """For spec ``__post_init__`` checks: raise a `SpecError` with ``message`` unless ``condition``."""
    if not condition:
        raise SpecError(message)
