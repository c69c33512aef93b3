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
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from . import checkpoint, divergence, resume
from . import config as configs
from .config import ConfigError
from .distributed import Dist, all_reduce_sum, barrier, gathered_for_eval, unwrap, wrap
from .metrics import Pair
from .lock import RunLock
from .optim import build_optimizer, build_scheduler
from .outputs import ForeignFilesError, RunFiles
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


class ResumeWarning(UserWarning):
    """A run resumed with a changed config or data layout; the message says what happens."""


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
    """One run in ``run_dir``: ``Trainer(config, job, run_dir, env).fit()`` -> final validation metrics.

    ``run_config`` (the recipe's whole config dataclass) is saved as ``run_dir/config.toml`` and
    inside every checkpoint, so that a resume can tell what changed (`zoo.train.resume`).
    ``lock``: a `RunLock` the caller already holds on ``run_dir``; without one, `fit` takes it.

    `fit` first does everything that can fail on a bad config or a checkpoint that does not fit
    (build the model, read and load the checkpoint, check the run directory), and only then
    writes into ``run_dir``: a failed start leaves the directory as it was.
    """

    def __init__(self, config: TrainConfig, job: Job, run_dir: Path, env: Dist, *, resume: bool = True,
                 run_config: Any = None, lock: RunLock | None = None) -> None:
        self.config, self.job, self.run_dir, self.env, self.resume = config, job, Path(run_dir), env, resume
        self.run_config, self.lock = run_config, lock
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.files = RunFiles(self.run_dir, enabled=env.is_main)
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", enabled=env.is_main)
        self.last_checkpoint: str | None = None

    # --- setup: nothing here writes to run_dir -------------------------------------------------
    def _build(self) -> None:
        cfg, env = self.config, self.env
        try:
            self.per_epoch = batches_per_epoch(len(self.job.train_set), cfg.batch_size, env.world_size)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if len(self.job.val_set) == 0:
            raise ConfigError("the validation set is empty; every run evaluates on at least one example")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        self.model = self.job.make_model().to(env.device)
        wrapped = wrap(self.model, env, cfg.distributed)
        self.fsdp = env.distributed and cfg.distributed == "fsdp"
        self.ddp = wrapped if env.distributed and cfg.distributed == "ddp" else None
        self.train_model = torch.compile(wrapped) if cfg.compile else wrapped
        self.optimizer = build_optimizer(self.model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
        self.scheduler = self._schedule(0)

    def _schedule(self, done_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
        cfg = self.config
        return build_scheduler(self.optimizer, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps,
                               min_ratio=cfg.min_lr_ratio, done_steps=done_steps)

    def _state(self) -> tuple[dict, dict]:
        """Full (unsharded) model and optimizer states; under FSDP every process must call this."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            return get_state_dict(self.model, self.optimizer,
                                  options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.model.state_dict(), self.optimizer.state_dict()

    def _load_state(self, state: dict[str, Any]) -> None:
        """The checkpoint's weights and optimizer moments; this config's hyperparameters and schedule."""
        hyper = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        try:
            if self.fsdp:
                from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

                set_state_dict(self.model, self.optimizer, model_state_dict=state["model"],
                               optim_state_dict=state["optimizer"], options=StateDictOptions(full_state_dict=True))
            else:
                self.model.load_state_dict(state["model"])
                self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{state['path']} does not fit the model this config builds ({first}); resume "
                              "with the config that wrote it, or start over with resume=false or another "
                              "output_dir") from None
        for group, values in zip(self.optimizer.param_groups, hyper):
            group.update(values)  # the checkpoint's lr, betas, weight decay give way to this config's
        self.scheduler = self._schedule(state["step"])

    def _refuse_changes(self, state: dict[str, Any]) -> None:
        """A resume cannot change the model or the seed (`zoo.train.resume`)."""
        saved = state.get("config")
        if self.run_config is None or saved is None:
            return
        refused = resume.refusals(saved, configs.to_dict(self.run_config))
        if refused:
            raise ConfigError(f"{state['path']} was written with another config than this one: "
                              f"{'; '.join(refused)}. A resumed run keeps its model and seed: resume with the "
                              "saved values (config.toml), or start over with resume=false or another output_dir")

    def _warn_changes(self, state: dict[str, Any]) -> None:
        """Say what each allowed change of the config does from the resumed step on."""
        saved = state.get("config")
        if self.run_config is None or saved is None or not self.env.is_main:
            return
        notes = resume.notes(saved, configs.to_dict(self.run_config), step=state["step"],
                             lr=self.scheduler.get_last_lr()[0])
        if notes:
            warnings.warn(f"resuming {self.run_dir} at step {state['step']} with a changed config: "
                          + "; ".join(notes), ResumeWarning, stacklevel=3)

    def _position(self, state: dict[str, Any]) -> tuple[int, int]:
        """(epoch, batch) to continue from; with another global batch size (batch size or number of
        processes changed), the first batch that starts after the examples this epoch already used."""
        data = state["data"]
        epoch, batch = data["epoch"], data["batch"]
        global_batch = self.config.batch_size * self.env.world_size
        before = data.get("global_batch", global_batch)
        if before == global_batch:
            return epoch, batch
        batch = -(-batch * before // global_batch)
        if batch >= self.per_epoch:
            epoch, batch = epoch + 1, 0
        if self.env.is_main:
            warnings.warn(f"the global batch changed from {before} to {global_batch} examples: the data resumes "
                          f"at batch {batch} of epoch {epoch}, the first that starts after the examples already "
                          "used", ResumeWarning, stacklevel=3)
        return epoch, batch

    def _restore(self) -> tuple[int, int, int]:
        """(step, epoch, batch) to start from: the newest good checkpoint's, or zeros. Reads only."""
        self.window, self.elapsed, self.best_loss = [], 0.0, None
        if not self.resume:
            return 0, 0, 0
        with warnings.catch_warnings():
            if not self.env.is_main:  # one warning per run, not one per process
                warnings.simplefilter("ignore", checkpoint.CheckpointWarning)
            state = checkpoint.latest(self.checkpoint_dir)
        if state is None:
            return 0, 0, 0
        self._refuse_changes(state)
        self._load_state(state)
        self._warn_changes(state)
        log = state.get("log", {})  # absent in checkpoints of earlier versions
        self.window, self.elapsed, self.best_loss = list(log.get("window", [])), log.get("elapsed", 0.0), \
            log.get("best_loss")
        self._track_best(log)
        epoch, batch = self._position(state)
        checkpoint.set_rng_state(state["rng"])
        self.last_checkpoint = state["path"]
        return state["step"], epoch, batch

    def _agree(self, check: Callable[[], None]) -> None:
        """Run a check of the run directory on rank 0 and raise its error on every process."""
        error = None
        if self.env.is_main:
            try:
                check()
            except (ForeignFilesError, ConfigError) as exc:
                error = exc
        if self.env.distributed:
            import torch.distributed as dist

            message = [None if error is None else (type(error).__name__, str(error))]
            dist.broadcast_object_list(message, src=0)
            if message[0] is not None and error is None:
                error = (ForeignFilesError if message[0][0] == "ForeignFilesError" else ConfigError)(message[0][1])
        if error is not None:
            raise error

    def _prepare(self) -> int:
        """Build, restore and check everything; returns the step to start from. Writes nothing."""
        self._build()
        self._agree(lambda: self.files.check_no_foreign(fresh=not self.resume))
        step, epoch, batch = self._restore()
        self.start_position = (epoch, batch)
        return step

    def _start(self, step: int) -> None:
        """The first writes: clear an earlier run (resume=false), save the config, trim the metrics."""
        if self.env.is_main:
            removed = self.files.remove_all() if not self.resume else []
            if removed:
                names = ", ".join(self.files.relative(p) for p in removed)
                print(f"resume=false: removed what an earlier run wrote in {self.run_dir}: {names}")
            if self.run_config is not None:
                self.files.claim(self.run_dir / "config.toml")
                configs.save(self.run_config, self.run_dir / "config.toml")
            self.files.claim(self.log.path)
            self.log.truncate_after(step)
            if self.last_checkpoint is not None:
                print(f"resuming from {self.last_checkpoint} (step {step})")
        barrier(self.env)

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
            raise NonFiniteLossError(self._diverged(step, mean))
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

    def _diverged(self, step: int, loss: float) -> str:
        """The NaN message (the same on every process): the last good checkpoint, with the diverged
        newer ones set aside so that a rerun resumes from it, and what to change."""
        text = None
        if self.env.is_main:
            good, notes = divergence.set_aside_diverged(self.checkpoint_dir, self.files)
            text = divergence.message(step, loss, good, notes, self.config)
        if self.env.distributed:
            import torch.distributed as dist

            shared = [text]
            dist.broadcast_object_list(shared, src=0)
            text = shared[0]
        return text

    def _save_checkpoint(self, step: int, position: tuple[int, int]) -> None:
        model_state, optimizer_state = self._state()
        if self.env.is_main:
            loss = self.since_checkpoint[0] / max(self.since_checkpoint[1], 1)
            health = divergence.summary(loss, self.best_loss, model_state)
            state = {"step": step, "model": model_state, "optimizer": optimizer_state,
                     "scheduler": self.scheduler.state_dict(), "rng": checkpoint.rng_state(),
                     "data": {"epoch": position[0], "batch": position[1],
                              "global_batch": self.config.batch_size * self.env.world_size},
                     "config": configs.to_dict(self.run_config) if self.run_config is not None else None,
                     "log": {"window": list(self.window), "elapsed": self._elapsed(), **health}}
            path = checkpoint.path_for(self.checkpoint_dir, step)
            self.files.claim(path)
            try:
                checkpoint.save(self.checkpoint_dir, state)
            except OSError:
                self.files.forget(path)
                raise
            self.last_checkpoint = str(path)
            self._track_best(health)
            self._rotate()
        self.since_checkpoint = [0.0, 0]
        barrier(self.env)

    def _track_best(self, health: Mapping[str, Any]) -> None:
        """The run's best checkpoint loss, which later checkpoints are judged against (`divergence`)."""
        if health.get("healthy"):
            self.best_loss = health["loss"] if self.best_loss is None else min(self.best_loss, health["loss"])

    def _rotate(self) -> None:
        """Remove all but the newest ``keep_last`` checkpoints this run wrote, sparing the newest
        healthy one (so a NaN later can still go back to it)."""
        owned = [p for p in checkpoint.list_checkpoints(self.checkpoint_dir) if self.files.owns(p)]
        old = owned[:-self.config.keep_last]
        if not old:
            return
        kept_healthy = any(_healthy(p) for p in reversed(owned[-self.config.keep_last:]))
        spare = None if kept_healthy else next((p for p in reversed(old) if _healthy(p)), None)
        for path in old:
            if path != spare:
                path.unlink(missing_ok=True)
                self.files.forget(path)

    def _elapsed(self) -> float:
        return round(self.elapsed + time.perf_counter() - self.began, 3)

    def _export(self) -> Path | None:
        """The final model as a `zoo.save` directory (``run_dir/model``), for `zoo.load`."""
        from ..weights.saved import CONFIG_NAME, WEIGHTS_NAME, save

        model_state, _ = self._state() if self.fsdp else (None, None)
        if not self.env.is_main:
            return None
        model = unwrap(self.model)
        tokenizer = getattr(model, "tokenizer", None)  # speech-to-text: zoo.save writes it beside the weights
        if self.fsdp:  # rebuild an unsharded copy on this process to hold the gathered weights
            with torch.random.fork_rng(devices=[]):
                model = self.job.make_model()
            model.load_state_dict(model_state)
            model.tokenizer = tokenizer
        target = self.run_dir / "model"
        self.files.claim(target / CONFIG_NAME, target / WEIGHTS_NAME,
                         *(target / name for name in getattr(tokenizer, "saved_files", ())))
        return save(model, target)

    def fit(self) -> dict[str, float]:
        """Train to ``config.steps`` (resuming if a checkpoint exists), export the model, return val metrics."""
        held = self.lock is not None
        lock = self.lock or RunLock(self.run_dir, self.env)
        if not held:
            lock.acquire()
        try:
            step = self._prepare()
            self._start(step)
            return self._train(step)
        finally:
            if not held:
                lock.release()

    def _train(self, step: int) -> dict[str, float]:
        cfg, env = self.config, self.env
        stream = self._stream(*self.start_position)
        position = self.start_position
        bar = None
        if env.is_main and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=step, desc=self.job.name, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        self.since_checkpoint = [0.0, 0]
        self.began = time.perf_counter()
        self.model.train()
        try:
            while step < cfg.steps:
                loss, norm, position = self._train_step(stream, step + 1)
                step += 1
                self.window.append(loss)
                self.since_checkpoint[0] += loss
                self.since_checkpoint[1] += 1
                if bar is not None:
                    bar.update(1)
                if step % cfg.log_every == 0 or step == cfg.steps:
                    record = {"step": step, "loss": sum(self.window) / len(self.window),
                              "lr": self.scheduler.get_last_lr()[0], "grad_norm": norm, "epoch": position[0],
                              "time": self._elapsed()}
                    self.window = []
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
            self.files.claim(self.run_dir / "plot.png")
            plot_metrics(read(self.log.path), self.run_dir / "plot.png", title=self.job.name)
        barrier(env)
        return metrics


def _healthy(path: Path) -> bool:
    """Whether a checkpoint looked healthy when written (unreadable: no; older files without the flag: yes)."""
    try:
        return bool(checkpoint.read(path, mmap=True).get("log", {}).get("healthy", True))
    except ValueError:
        return False
