"""Typed run configs: dataclass schemas, TOML files, dotted ``key=value`` overrides.

A recipe's config is a dataclass (sections are nested dataclasses). Values come, in order,
from the schema's defaults, a TOML file, and command-line overrides such as
``train.lr=3e-4`` or ``model.spec.depth=4``. Every value is checked against the schema's type
annotation; an unknown key or a bad value raises `ConfigError` naming what is allowed. The
resolved config is written back as TOML, so ``--config run_dir/config.toml`` repeats a run.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file, key or value that the schema does not accept."""


def _fields(schema: type) -> dict[str, Any]:
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if dataclasses.is_dataclass(annotation):
        return "a section"
    if origin is dict:
        return "a table"
    if origin is list:
        return f"a list of {_describe(args[0])}" if args else "a list"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "none"}.get(annotation, str(annotation))


def _unknown(key: str, allowed: Sequence[str], where: str) -> ConfigError:
    near = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    section = f" in [{where.rstrip('.')}]" if where else ""
    return ConfigError(f"unknown key {where + key!r}{hint}; allowed keys{section}: {', '.join(allowed)}")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` checked (and, for numbers, converted) against ``annotation``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    bad = ConfigError(f"{key} must be {_describe(annotation)}; got {value!r}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass
        raise bad
    if origin is Literal:
        if value not in args or type(value) is not type(next(a for a in args if a == value)):
            raise bad
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise bad
        return build(annotation, value, where=f"{key}.")
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise bad
        return dict(value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"config field {key} has an unsupported annotation {annotation}")


def build(schema: type, values: Mapping[str, Any], *, where: str = "") -> Any:
    """An instance of ``schema`` from a (nested) mapping; missing keys keep their defaults.

    Runs the schema's ``__post_init__`` checks, whose ValueErrors become `ConfigError`s.
    """
    fields = _fields(schema)
    for key in values:
        if key not in fields:
            raise _unknown(key, list(fields), where)
    typed = {key: _coerce(value, fields[key], f"{where}{key}") for key, value in values.items()}
    try:
        return schema(**typed)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where.rstrip('.') or 'config'}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """The config as a plain nested dict (sections become tables)."""
    return dataclasses.asdict(config)


def _parse_value(text: str) -> Any:
    """A TOML literal (``3``, ``1e-3``, ``true``, ``"a b"``, ``[1, 2]``, ``{ a = 1 }``), else the raw string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(values: dict[str, Any], schema: type, assignment: str) -> None:
    """Set one ``dotted.key=value`` in the nested dict ``values``, checking the key against ``schema``."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"overrides look like key=value (e.g. train.lr=3e-4); got {assignment!r}")
    parts = key.split(".")
    node, annotation, where = values, schema, ""
    for i, part in enumerate(parts):
        if dataclasses.is_dataclass(annotation):
            fields = _fields(annotation)
            if part not in fields:
                raise _unknown(part, list(fields), where)
            annotation = fields[part]
        elif typing.get_origin(annotation) is dict or annotation is dict:
            annotation = Any  # free-form tables (model.spec) are checked by whoever reads them
        else:
            raise ConfigError(f"{where.rstrip('.')} is {_describe(annotation)}, not a section; cannot set {key!r}")
        if i < len(parts) - 1:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{where}{part} is not a section; cannot set {key!r}")
        where += f"{part}."
    node[parts[-1]] = _coerce(_parse_value(text.strip()), annotation, key)


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def load(schema: type, path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> Any:
    """Schema defaults <- the TOML file at ``path`` <- ``overrides`` (``dotted.key=value`` strings)."""
    values = read_toml(path) if path is not None else {}
    try:
        build(schema, values)  # check the file on its own first, so its errors name the file
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    overridden: dict[str, Any] = {}
    for assignment in overrides:
        apply_override(overridden, schema, assignment)
    return build(schema, _merge(values, overridden))


# --- writing TOML -----------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def dumps(config: Any) -> str:
    """TOML text for a config dataclass: scalars first, then one ``[section]`` per nested dataclass."""
    lines: list[str] = []

    def section(obj: Any, prefix: str) -> None:
        nested = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                nested.append((f.name, value))
            elif value is not None:  # TOML has no null: an absent key means the default (None)
                lines.append(f"{_toml_key(f.name)} = {_toml_value(value)}")
        for name, value in nested:
            lines.extend(["", f"[{prefix}{name}]"])
            section(value, f"{prefix}{name}.")

    section(config, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def save(config: Any, path: str | os.PathLike) -> Path:
    """Write ``config`` as TOML (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(config), encoding="utf-8")
    os.replace(tmp, path)
    return path


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out
