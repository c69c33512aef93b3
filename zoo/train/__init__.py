"""The training machinery the recipes share: typed configs, the loop, checkpoints, processes, metrics.

    from zoo.train import Batch, Job, RunConfig, main
    # a recipe builds a Job (model factory, data, collate, evaluate) and calls main(...)

Modules: `config` (TOML + dotted overrides), `schema` (shared config sections), `optim`
(AdamW, warmup + cosine), `loop` (`Trainer`), `checkpoint` (atomic, resumable),
`distributed` (torchrun, DDP, FSDP2), `sampling` (deterministic sharded batches),
`metrics`, `records` (metrics.jsonl), `plot` (plot.png), `run` (the recipe command line),
and what keeps a run directory safe: `lock` (one run per directory), `outputs` (the record of
what a run wrote), `resume` (what a changed config does on resume), `divergence` (the good
checkpoint after a NaN).
"""
from __future__ import annotations

from .config import ConfigError
from .loop import Batch, Job, NonFiniteLossError, Trainer
from .run import main
from .schema import ModelConfig, RunConfig, TrainConfig

__all__ = ["Batch", "ConfigError", "Job", "ModelConfig", "NonFiniteLossError", "RunConfig", "TrainConfig",
           "Trainer", "main"]
