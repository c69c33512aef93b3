"""Hub references for ``weights=`` (and ``load_tokenizer``): ``hf-hub:owner/name[@revision]`` -> a
local snapshot directory.

The same spelling as timm's ``create_model("hf-hub:...")``. `huggingface_hub` fetches only the
files asked for, for weights the config and the weights (safetensors first, single or sharded;
``pytorch_model*.bin`` only for repositories without them; open_clip's ``open_clip_config.json``
with ``open_clip_model.safetensors``, else ``open_clip_pytorch_model.bin``, only for repositories
with neither), into its usual cache, so ``HF_HUB_OFFLINE=1``, ``HF_HUB_CACHE`` and ``HF_TOKEN``
work as with transformers and timm. The snapshot is then read like any local directory.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import WeightsError

HUB_PREFIX = "hf-hub:"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_SAFETENSORS = ["config.json", "model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json"]
_TORCH_PICKLES = ["config.json", "pytorch_model*.bin", "pytorch_model.bin.index.json"]
_OPEN_CLIP_SAFETENSORS = ["open_clip_config.json", "open_clip_model.safetensors"]
_OPEN_CLIP_PICKLES = ["open_clip_config.json", "open_clip_pytorch_model.bin"]


def is_hub_reference(weights: object) -> bool:
    return isinstance(weights, str) and weights.startswith(HUB_PREFIX)


def parse_hub_reference(reference: str) -> tuple[str, str | None]:
    """``hf-hub:owner/name@revision`` -> (repo id, revision or None)."""
    repo_id, _, revision = reference[len(HUB_PREFIX):].partition("@")
    if not _REPO_ID.match(repo_id) or (revision == "" and "@" in reference):
        raise WeightsError(f"{reference!r} is not a hub reference; write hf-hub:OWNER/NAME or "
                           "hf-hub:OWNER/NAME@REVISION (a branch, tag or commit), e.g. hf-hub:openai-community/gpt2")
    return repo_id, revision or None


def _has_safetensors(directory: Path) -> bool:
    return (directory / "model.safetensors").is_file() or (directory / "model.safetensors.index.json").is_file()


def _has_torch_pickles(directory: Path) -> bool:
    return (directory / "pytorch_model.bin").is_file() or (directory / "pytorch_model.bin.index.json").is_file()


def hub_snapshot(reference: str, patterns: list[str]) -> Path:
    """The local snapshot of a hub repository's files matching ``patterns``, downloaded or from the cache."""
    repo_id, revision = parse_hub_reference(reference)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise WeightsError(f"{reference}: hub references need the huggingface_hub package "
                           "(pip install huggingface_hub), or pass a local directory instead") from None
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except LocalEntryNotFoundError as exc:
        raise WeightsError(f"{reference}: not in the local Hugging Face cache, and the hub could not be "
                           f"reached: {exc}") from None
    except HfHubHTTPError as exc:
        raise WeightsError(f"{reference}: the hub refused {repo_id!r}"
                           f"{f' at revision {revision!r}' if revision else ''}: {exc}") from None


def resolve_hub_reference(reference: str) -> Path:
    """Download (or find in the cache) the config and weights of a hub repository; return the snapshot."""
    snapshot = hub_snapshot(reference, _SAFETENSORS)
    if _has_safetensors(snapshot):
        return snapshot
    snapshot = hub_snapshot(reference, _TORCH_PICKLES)  # older: torch pickles, read with weights_only=True
    if _has_torch_pickles(snapshot):
        return snapshot
    snapshot = hub_snapshot(reference, _OPEN_CLIP_SAFETENSORS)  # a repository in open_clip's layout alone
    if (snapshot / _OPEN_CLIP_SAFETENSORS[1]).is_file():
        return snapshot
    return hub_snapshot(reference, _OPEN_CLIP_PICKLES)
