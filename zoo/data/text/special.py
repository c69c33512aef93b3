"""Which token plays which special role: declared in the model directory's config files, or found
among the well-known special tokens of the vocabulary.

``tokenizer_config.json`` and ``special_tokens_map.json`` (the latter wins, as in transformers)
declare ``<role>_token`` as a string or an ``{"content": ...}`` object; a declared null means "none".
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

from .base import TokenizerError

ROLES = ("pad", "bos", "eos", "unk", "mask", "cls", "sep")
CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json")

# Tried in order when a role is not declared; the first token in the vocabulary wins.
KNOWN_TOKENS = {
    "pad": ("[PAD]", "<pad>", "<|pad|>", "<|padding|>"),
    "bos": ("<s>", "<|begin_of_text|>", "<|startoftext|>", "<|endoftext|>"),
    "eos": ("</s>", "<|end_of_text|>", "<|endoftext|>"),
    "unk": ("[UNK]", "<unk>"),
    "mask": ("[MASK]", "<mask>"),
    "cls": ("[CLS]",),
    "sep": ("[SEP]",),
}
_STAND_INS = {"bos": "cls", "eos": "sep"}  # BERT vocabularies: [CLS] opens a text, [SEP] closes it


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; anything else is a `TokenizerError` naming the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"could not read {path}: {exc}") from None
    if not isinstance(value, dict):
        raise TokenizerError(f"{path} must hold a JSON object, not {type(value).__name__}")
    return value


def read_config(directory: Path) -> tuple[dict[str, str | None], dict[str, Any]]:
    """Declared special tokens (role -> token, only roles the files name) and the whole config."""
    declared: dict[str, str | None] = {}
    config: dict[str, Any] = {}
    for name in CONFIG_FILES:
        path = directory / name
        if not path.is_file():
            continue
        data = read_json(path)
        if name == "tokenizer_config.json":
            config = data
        for role in ROLES:
            if f"{role}_token" in data:
                declared[role] = _token_text(data[f"{role}_token"], f"{path}: {role}_token")
    return declared, config


def resolve_special_tokens(declared: Mapping[str, str | None],
                           token_to_id: Callable[[str], int | None]) -> dict[str, str | None]:
    """Role -> token for every role: the declared token, else a stand-in or known token in the vocabulary.

    A declared token missing from the vocabulary is an error; undeclared roles with no known
    token are None.
    """
    unknown = sorted(set(declared) - set(ROLES))
    if unknown:
        raise TokenizerError(f"unknown special token roles {', '.join(unknown)}; roles: {', '.join(ROLES)}")
    for role, token in declared.items():
        if token is not None and token_to_id(token) is None:
            raise TokenizerError(f"the {role} token {token!r} is not in the tokenizer's vocabulary")
    resolved: dict[str, str | None] = {}
    for role in ROLES:
        if role in declared:
            resolved[role] = declared[role]
        else:
            resolved[role] = next((t for t in KNOWN_TOKENS[role] if token_to_id(t) is not None), None)
    for role, other in _STAND_INS.items():
        if role not in declared and resolved[role] is None:
            resolved[role] = resolved[other]
    return resolved


def _token_text(value: Any, where: str) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    if value is None or isinstance(value, str):
        return value
    raise TokenizerError(f"{where} must be a string, an object with a 'content' string, or null; got {value!r}")


def config_option(config: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any,
                  directory: Path) -> Any:
    """``config[key]`` (from ``tokenizer_config.json``) checked against ``kind``, or ``default`` when absent."""
    value = config.get(key, default)
    bool_allowed = kind is bool or (isinstance(kind, tuple) and bool in kind)
    if not isinstance(value, kind) or (isinstance(value, bool) and not bool_allowed):
        raise TokenizerError(f"{directory / 'tokenizer_config.json'}: {key} has the wrong type ({value!r})")
    return value
