"""Process setup for one CPU, one GPU, or many processes under torchrun.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; then the process group starts
with NCCL on GPUs and gloo on CPUs, and the model is wrapped in DDP (replicated, gradients
averaged) or sharded with FSDP2 (`torch.distributed.fsdp.fully_shard`: each block's
parameters, gradients and optimizer state split across processes). Only rank 0 logs and
writes files.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    """Where this process runs and which one it is."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer (torchrun sets it), got {value!r}") from None


def setup(device: Literal["auto", "cpu", "cuda"] = "auto") -> Dist:
    """Pick the device and, under torchrun, join the process group (NCCL on CUDA, gloo on CPU)."""
    world_size, rank, local_rank = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device='cuda' but no CUDA device is available; use train.device=auto or cpu")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices")
        torch.cuda.set_device(local_rank)
        where = torch.device("cuda", local_rank)
    else:
        where = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world_size, local_rank, where)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, env: Dist, mode: Literal["ddp", "fsdp"]) -> nn.Module:
    """The model as this process trains it: itself alone, DDP-replicated, or FSDP2-sharded (in place)."""
    if not env.distributed:
        return model
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[env.local_rank] if env.device.type == "cuda" else None)
    from torch.distributed.fsdp import fully_shard

    from ..nn import Block

    blocks = [m for m in model.modules() if isinstance(m, Block)]
    for block in blocks:  # each block gathers its own parameters just in time
        fully_shard(block)
    fully_shard(model)  # the rest (embeddings, head) as one group
    return model


@contextlib.contextmanager
def gathered_for_eval(model: nn.Module) -> Iterator[None]:
    """FSDP2: every parameter gathered on every process while evaluating, then sharded again.

    Forwards then run no collectives, so processes may run different numbers of them: an
    empty last validation batch on one process, or `generate` (which calls the backbone
    directly and stops at each batch's EOS). This is FSDP's usual way to evaluate and
    generate (FSDP1's ``summon_full_params``); it costs one full copy of the weights per
    process while evaluating. Without FSDP it does nothing.
    """
    from torch.distributed.fsdp import FSDPModule

    groups = [m for m in model.modules() if isinstance(m, FSDPModule)]
    if not groups:
        yield
        return
    resharding = [m for m in groups if m is not model]  # as fully_shard left them: blocks reshard, the root keeps
    for module in groups:
        module.set_reshard_after_forward(False, recurse=False)
        module.unshard()  # collective: every process, same order
    try:
        yield
    finally:
        for module in groups:
            module.reshard()
        for module in resharding:
            module.set_reshard_after_forward(True, recurse=False)


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside DDP or torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def all_reduce_sum(values: torch.Tensor, env: Dist) -> torch.Tensor:
    """Sum a tensor over processes (a no-op on one)."""
    if env.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(env: Dist) -> None:
    if env.distributed:
        dist.barrier()
