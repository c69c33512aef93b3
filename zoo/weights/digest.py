"""sha256 digests of tensors: `zoo.save` records one per tensor in the safetensors metadata, and
every read of such a file checks them, so damaged bytes are an error instead of a changed model.

Per tensor, not per file, because:

- the digest covers exactly what loads (dtype, shape, bytes), whatever safetensors' own layout
  of the file (alignment, order), and is computed on the tensors already in memory: no second
  read of the file and no copy, so verifying never raises peak memory;
- an error names the damaged tensors;
- tensors hash in parallel threads (hashlib releases the GIL): sha256 runs at about 1 GB/s per
  core, so gpt2's 500 MB take 0.6 s on two busy cores, and a fraction of that on a machine
  with more.

Digests protect against accidents (a bad disk, a truncated copy, an edit by hand), not against
someone who rewrites the file on purpose: they can rewrite the digests too.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

import torch
from torch import Tensor, nn

from .errors import WeightsError
from .strict import report, tied_aliases

DIGESTS_KEY = "zoo_sha256"  # safetensors metadata: JSON {tensor name: sha256 hex}
_THREADS = min(8, os.cpu_count() or 1)


def tensor_digest(tensor: Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (moved to CPU one tensor at a time, not copied there)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    digest = hashlib.sha256(f"{flat.dtype}{list(tensor.shape)}".encode())
    digest.update(flat.view(torch.uint8).numpy())
    return digest.hexdigest()


def state_digests(state: Mapping[str, Tensor]) -> dict[str, str]:
    """Name -> `tensor_digest` for every tensor, hashed in parallel."""
    with ThreadPoolExecutor(_THREADS) as pool:
        return dict(zip(state, pool.map(tensor_digest, state.values())))


def model_digests(model: nn.Module) -> dict[str, str]:
    """Digests of ``model``'s state dict; a tied tensor is hashed once and listed under each name."""
    aliases = tied_aliases(model)
    state = model.state_dict()
    digests = state_digests({k: v for k, v in state.items() if k not in aliases})
    return {name: digests[aliases.get(name, name)] for name in state}


def check_digests(state: Mapping[str, Tensor], recorded: str, source: str) -> None:
    """Raise unless every tensor of ``state`` has the digest recorded for it (``recorded``: JSON text)."""
    try:
        expected = json.loads(recorded)
    except json.JSONDecodeError:
        expected = None
    if not isinstance(expected, dict):
        raise WeightsError(f"{source}: its {DIGESTS_KEY} metadata is damaged (not a JSON object of tensor "
                           "digests), so its tensors cannot be checked; save the model again or copy it again "
                           "from its source")
    unrecorded = [name for name in state if name not in expected]
    actual = state_digests({k: v for k, v in state.items() if k in expected})
    damaged = [name for name, digest in actual.items() if digest != expected[name]]
    if unrecorded or damaged:
        raise WeightsError(report(f"{source} is damaged: its tensors are not the ones zoo.save wrote (a bad disk, "
                                  "an incomplete copy, or an edit); nothing was loaded. Save the model again, or "
                                  "copy it again from its source.",
                                  ("bytes differ from the recorded sha256", damaged),
                                  ("not written by zoo.save (no recorded sha256)", unrecorded)))
