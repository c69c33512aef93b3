"""The training loop every recipe shares.

A recipe hands over a `Job` (how to build the model, the data, how to batch it, the loss,
the evaluation); `fit` does the rest: seeding, device and process placement, AdamW with
warmup + cosine, gradient accumulation and clipping, bf16 autocast on CUDA, evaluation,
logging, checkpoints and exact resume, and the final `zoo.save`.
"""
from __future__ import annotations

import contextlib
import math
import random
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from . import checkpoint
from .distributed import Dist, all_reduce_sum, barrier, gathered_for_eval, unwrap, wrap
from .metrics import Pair
from .optim import WarmupCosine, build_optimizer, build_scheduler
from .plot import plot_metrics
from .records import MetricsLog, read
from .sampling import batches_per_epoch, eval_batches, train_batches
from .schema import TrainConfig



class Batch(NamedTuple):
    """A training or validation batch: ``model(*inputs, **extras)`` is scored against ``targets``."""

    inputs: tuple
    extras: dict
    targets: Any


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the weights were not updated with it."""


@dataclass
class Job:
    """What a recipe supplies; everything else is the trainer's.

    ``make_model()`` builds the model (the trainer seeds the RNG first, so every process
    starts from the same weights). ``collate(items)`` turns dataset items into a `Batch` of
    CPU tensors; the training loss is ``model.loss(model(*inputs, **extras), targets)``.
    ``evaluate(model, batch)`` returns ``{name: (total, count)}`` pairs (see
    `zoo.train.metrics`); ``summarize`` derives more metrics from their means (e.g.
    perplexity from the loss). ``eval_collate`` batches validation items when that differs
    from training (e.g. masking with a fixed seed instead of a fresh draw).
    """

    make_model: Callable[[], nn.Module]
    train_set: Sequence
    val_set: Sequence
    collate: Callable[[list], Batch]
    evaluate: Callable[[nn.Module, Batch], Mapping[str, Pair]]
    summarize: Callable[[dict[str, float]], dict[str, float]] | None = None
    eval_collate: Callable[[list], Batch] | None = None
    name: str = "run"


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors inside (nested) tuples, lists, dicts and Batches, moved to ``device``."""
    if isinstance(value, Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, Batch):
        return Batch(*(to_device(v, device) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


class Trainer:
    """One run in ``run_dir``: ``Trainer(config, job, run_dir, env).fit()`` -> final validation metrics."""

    def __init__(self, config: TrainConfig, job: Job, run_dir: Path, env: Dist, *, resume: bool = True) -> None:
        self.config, self.job, self.run_dir, self.env, self.resume = config, job, Path(run_dir), env, resume
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", enabled=env.is_main)
        self.last_checkpoint: str | None = None

    # --- setup ----------------------------------------------------------------------------
    def _build(self) -> None:
        cfg, env = self.config, self.env
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        self.model = self.job.make_model().to(env.device)
        wrapped = wrap(self.model, env, cfg.distributed)
        self.fsdp = env.distributed and cfg.distributed == "fsdp"
        self.ddp = wrapped if env.distributed and cfg.distributed == "ddp" else None
        self.train_model = torch.compile(wrapped) if cfg.compile else wrapped
        self.optimizer = build_optimizer(self.model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
        self.scheduler = build_scheduler(self.optimizer, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps,
                                         min_ratio=cfg.min_lr_ratio)
        self.per_epoch = batches_per_epoch(len(self.job.train_set), cfg.batch_size, env.world_size)

    def _state(self) -> tuple[dict, dict]:
        """Full (unsharded) model and optimizer states; under FSDP every process must call this."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            return get_state_dict(self.model, self.optimizer,
                                  options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.model.state_dict(), self.optimizer.state_dict()

    def _load_state(self, model_state: dict, optimizer_state: dict) -> None:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            set_state_dict(self.model, self.optimizer, model_state_dict=model_state,
                           optim_state_dict=optimizer_state, options=StateDictOptions(full_state_dict=True))
        else:
            self.model.load_state_dict(model_state)
            self.optimizer.load_state_dict(optimizer_state)

    def _start_fresh(self) -> None:
        """``resume=false``: clear what an earlier run left here (checkpoints, metrics, plot, model)."""
        if not self.env.is_main:
            return
        stale = [self.checkpoint_dir, self.run_dir / "metrics.jsonl", self.run_dir / "plot.png",
                 self.run_dir / "model"]
        for path in (p for p in stale if p.exists()):
            print(f"resume=false: removing {path} from an earlier run")
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    def _restore(self) -> tuple[int, int, int]:
        """(step, epoch, batch) to start from: the newest good checkpoint's, or zeros."""
        if not self.resume:
            self._start_fresh()
            barrier(self.env)
            return 0, 0, 0
        with warnings.catch_warnings():
            if not self.env.is_main:  # one warning per run, not one per process
                warnings.simplefilter("ignore", checkpoint.CheckpointWarning)
            state = checkpoint.latest(self.checkpoint_dir)
        if state is None:
            self.log.truncate_after(0)
            return 0, 0, 0
        self._load_state(state["model"], state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        cfg = self.config  # the schedule follows this run's config, even if train.steps changed
        self.scheduler.lr_lambdas[0] = WarmupCosine(cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
        checkpoint.set_rng_state(state["rng"])
        self.last_checkpoint = state["path"]
        self.log.truncate_after(state["step"])
        if self.env.is_main:
            print(f"resuming from {state['path']} (step {state['step']})")
        return state["step"], state["data"]["epoch"], state["data"]["batch"]

    # --- the loop -------------------------------------------------------------------------
    def _stream(self, epoch: int, start: int) -> Iterator[tuple[int, int, list[int]]]:
        """(epoch, next batch in that epoch, this process's indices), forever."""
        cfg, env = self.config, self.env
        while True:
            for b, indices in enumerate(train_batches(len(self.job.train_set), cfg.batch_size, seed=cfg.seed,
                                                      epoch=epoch, start=start, rank=env.rank,
                                                      world_size=env.world_size), start):
                following = (epoch, b + 1) if b + 1 < self.per_epoch else (epoch + 1, 0)
                yield *following, indices
            epoch, start = epoch + 1, 0

    def _sync_context(self, sync: bool) -> contextlib.AbstractContextManager:
        """Skip the gradient all-reduce on all but the last micro-batch of a step."""
        if self.ddp is not None and not sync:
            return self.ddp.no_sync()
        if self.fsdp:
            self.model.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()

    def _train_step(self, stream: Iterator, step: int) -> tuple[float, float, tuple[int, int]]:
        """One optimizer step over ``grad_accum`` micro-batches -> (mean loss, grad norm, data position)."""
        cfg = self.config
        total = torch.zeros((), device=self.env.device)
        position = (0, 0)
        for micro in range(cfg.grad_accum):
            epoch, following, indices = next(stream)
            position = (epoch, following)
            batch = to_device(self.job.collate([self.job.train_set[i] for i in indices]), self.env.device)
            with self._sync_context(micro == cfg.grad_accum - 1):
                with _autocast(cfg, self.env.device):
                    outputs = self.train_model(*batch.inputs, **batch.extras)
                    loss = self.model.loss(outputs, batch.targets)
                (loss / cfg.grad_accum).backward()
            total += loss.detach().float()
        mean = float(all_reduce_sum(total / cfg.grad_accum, self.env)) / self.env.world_size
        if not math.isfinite(mean):
            self.optimizer.zero_grad(set_to_none=True)
            kept = self.last_checkpoint or "none yet (the run had not reached train.checkpoint_every)"
            raise NonFiniteLossError(
                f"training loss is {mean} at step {step}; stopped before updating the weights. Last good checkpoint: "
                f"{kept}. Re-running resumes from it; a lower train.lr, more train.warmup_steps or "
                f"train.clip_grad may help")
        norm = math.nan
        if cfg.clip_grad > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return mean, norm, position

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation metrics over the whole validation set (or ``train.eval_batches`` batches), all processes."""
        cfg, env = self.config, self.env
        self.model.eval()
        sums: dict[str, list[float]] = {}
        with gathered_for_eval(self.model) if self.fsdp else contextlib.nullcontext():
            for indices in eval_batches(len(self.job.val_set), cfg.batch_size, rank=env.rank,
                                        world_size=env.world_size, limit=cfg.eval_batches):
                if not indices:
                    continue
                collate = self.job.eval_collate or self.job.collate
                batch = to_device(collate([self.job.val_set[i] for i in indices]), env.device)
                with _autocast(cfg, env.device):
                    pairs = self.job.evaluate(self.model, batch)
                for name, (value, count) in pairs.items():
                    acc = sums.setdefault(name, [0.0, 0.0])
                    acc[0] += float(value)
                    acc[1] += float(count)
        if env.distributed:
            import torch.distributed as dist

            gathered: list[Any] = [None] * env.world_size
            dist.all_gather_object(gathered, sums)
            sums = {}
            for part in gathered:
                for name, (value, count) in part.items():
                    acc = sums.setdefault(name, [0.0, 0.0])
                    acc[0] += value
                    acc[1] += count
        means = {name: value / count if count else math.nan for name, (value, count) in sorted(sums.items())}
        if self.job.summarize is not None:
            means.update(self.job.summarize(means))
        self.model.train()
        return means

    def _save_checkpoint(self, step: int, position: tuple[int, int]) -> None:
        model_state, optimizer_state = self._state()
        if self.env.is_main:
            state = {"step": step, "model": model_state, "optimizer": optimizer_state,
                     "scheduler": self.scheduler.state_dict(), "rng": checkpoint.rng_state(),
                     "data": {"epoch": position[0], "batch": position[1]}}
            path = checkpoint.save(self.checkpoint_dir, state, keep_last=self.config.keep_last)
            self.last_checkpoint = str(path)
        barrier(self.env)

    def _export(self) -> Path | None:
        """The final model as a `zoo.save` directory (``run_dir/model``), for `zoo.load`."""
        from ..weights.saved import save

        model_state, _ = self._state() if self.fsdp else (None, None)
        if not self.env.is_main:
            return None
        model = unwrap(self.model)
        if self.fsdp:  # rebuild an unsharded copy on this process to hold the gathered weights
            with torch.random.fork_rng(devices=[]):
                model = self.job.make_model()
            model.load_state_dict(model_state)
        return save(model, self.run_dir / "model")

    def fit(self) -> dict[str, float]:
        cfg, env = self.config, self.env
        if env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._build()
        step, epoch, start = self._restore()
        stream = self._stream(epoch, start)
        position = (epoch, start)
        bar = None
        if env.is_main and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=step, desc=self.job.name, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        window: list[float] = []
        began = time.perf_counter()
        self.model.train()
        try:
            while step < cfg.steps:
                loss, norm, position = self._train_step(stream, step + 1)
                step += 1
                window.append(loss)
                if bar is not None:
                    bar.update(1)
                if step % cfg.log_every == 0 or step == cfg.steps:
                    record = {"step": step, "loss": sum(window) / len(window), "lr": self.scheduler.get_last_lr()[0],
                              "grad_norm": norm, "epoch": position[0], "time": round(time.perf_counter() - began, 3)}
                    window = []
                    self.log.write(record)
                    if bar is not None:
                        bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                    elif env.is_main:
                        print(f"step {step}/{cfg.steps}  loss {record['loss']:.4f}  lr {record['lr']:.2e}", flush=True)
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    metrics = self.evaluate()
                    self.log.write({"step": step, **{f"val_{k}": v for k, v in metrics.items()}})
                    if env.is_main:
                        text = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                        (bar.write if bar is not None else print)(f"step {step}: val {text}")
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    self._save_checkpoint(step, position)
        finally:
            if bar is not None:
                bar.close()
        if not metrics:  # resumed a finished run: report its metrics again
            metrics = self.evaluate()
        self._export()
        if env.is_main and self.log.path.exists():
            plot_metrics(read(self.log.path), self.run_dir / "plot.png", title=self.job.name)
        barrier(env)
        return metrics
