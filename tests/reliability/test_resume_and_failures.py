"""Resuming and failing honestly (issue 10: silently wrong and unclear cases of the trainer and recipes).

- A resume with a changed lr applies the new schedule and keeps the optimizer's moments, and its
  warning says so; a changed model spec or seed is a clear config error.
- Every metrics line of a killed-and-resumed run equals the uninterrupted run's.
- After a NaN, the named checkpoint is one that is actually good, and a rerun resumes from it.
- A full disk while writing a checkpoint removes the partial file and names the intact ones.
- Recipe commands end in one line, not a traceback, for a seed beyond range, a data set smaller
  than one batch, missing weights, a full disk; a bare ``--config`` name means the recipe's config.
"""
from __future__ import annotations

import errno
import io
import json
import math

import pytest
import torch
from torch import nn

from zoo.train import Batch, ConfigError, Job, ModelConfig, NonFiniteLossError, RunConfig, Trainer
from zoo.train import checkpoint
from zoo.train.checkpoint import CheckpointWriteError
from zoo.train.loop import ResumeWarning
from zoo.train.optim import warmup_cosine

from train_helpers import CPU, Crash, config, make_job, tiny_vit, weights

TINY = ["model.spec.img_size=16", "model.spec.patch_size=4", "model.spec.embed_dim=32", "model.spec.depth=1",
        "model.spec.num_heads=2", "data.image_size=16", "data.train_size=256", "data.val_size=32",
        "train.warmup_steps=2", "train.progress=false", "train.batch_size=16"]


def recipe(*args: str) -> int:
    from recipes import image_classification

    return image_classification.main([*TINY, *args])


def crash_at_step_7(tmp_path, cfg, run_config=None) -> None:
    """Train until step 7 dies (16 items a step: item 100 is read in step 7); the newest checkpoint is step 4's."""
    with pytest.raises(Crash):
        Trainer(cfg, make_job(crash_at=100), tmp_path, CPU, run_config=run_config).fit()


def test_resume_with_a_new_lr_applies_the_new_schedule_and_keeps_the_moments(tmp_path):
    old, new = config(lr=3e-3), config(lr=1e-3)
    crash_at_step_7(tmp_path, old, RunConfig(train=old))
    saved = torch.load(tmp_path / "checkpoints" / "step_00000004.pt", weights_only=True)

    probe = Trainer(new, make_job(), tmp_path, CPU, run_config=RunConfig(train=new))
    with pytest.warns(ResumeWarning, match=r"train\.lr 0\.003 -> 0\.001: the new warmup \+ cosine schedule "
                                           r"applies from step 4 \(lr 0\.000\d+ now\); the optimizer's moments"):
        probe._prepare()  # reads and loads only
    expected = 1e-3 * warmup_cosine(4, warmup_steps=2, total_steps=12)
    assert [g["lr"] for g in probe.optimizer.param_groups] == [pytest.approx(expected)] * 2
    moments = probe.optimizer.state_dict()["state"]
    assert all(torch.equal(moments[i]["exp_avg"], saved["optimizer"]["state"][i]["exp_avg"]) for i in moments)

    with pytest.warns(ResumeWarning):
        Trainer(new, make_job(), tmp_path, CPU, run_config=RunConfig(train=new)).fit()
    logged = [(r["step"], r["lr"]) for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
              if "lr" in r]
    for step, lr in logged:  # the lr for the next step, as logged: the old schedule up to 4, the new one after
        peak = 3e-3 if step <= 4 else 1e-3
        assert lr == pytest.approx(peak * warmup_cosine(step, warmup_steps=2, total_steps=12)), (step, lr)
    assert (tmp_path / "config.toml").read_text().count("lr = 0.001") == 1  # config.toml describes the new run


@pytest.mark.parametrize("change, message", [
    (dict(model=ModelConfig(spec={"depth": 2})), r"model\.spec \{\} -> \{'depth': 2\}"),
    (dict(model=ModelConfig(name="vit-small")), r"model\.name 'vit-tiny' -> 'vit-small'"),
    (dict(train=config(seed=1)), r"train\.seed 0 -> 1"),
])
def test_resume_refuses_another_model_or_seed(tmp_path, change, message):
    crash_at_step_7(tmp_path, config(), RunConfig(train=config()))
    changed = RunConfig(**{"train": config(), **change})
    with pytest.raises(ConfigError, match=rf"step_00000004\.pt was written with another config than this one: "
                                          rf"{message}\. A resumed run keeps its model and seed"):
        Trainer(changed.train, make_job(), tmp_path, CPU, run_config=changed).fit()


def test_a_checkpoint_that_does_not_fit_is_a_config_error_not_a_traceback(tmp_path):
    crash_at_step_7(tmp_path, config())  # no config stored to compare: loading itself must fail clearly
    job = make_job()
    job.make_model = lambda: tiny_vit(depth=2)
    with pytest.raises(ConfigError, match=r"step_00000004\.pt does not fit the model this config builds "
                                          r"\(Error\(s\) in loading state_dict"):
        Trainer(config(), job, tmp_path, CPU).fit()


def test_metrics_of_a_killed_and_resumed_run_equal_the_uninterrupted_run(tmp_path):
    """The log window spans the checkpoint (log every 3, checkpoint every 4): the line at step 6
    averages steps 4, 5 and 6 in both runs."""
    cfg = config(log_every=3)
    Trainer(cfg, make_job(), tmp_path / "straight", CPU).fit()
    crash_at_step_7(tmp_path / "resumed", cfg)
    Trainer(cfg, make_job(), tmp_path / "resumed", CPU).fit()

    def lines(run):
        return [{k: v for k, v in json.loads(line).items() if k != "time"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert lines(tmp_path / "straight") == lines(tmp_path / "resumed")
    times = [json.loads(line)["time"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
             if "time" in json.loads(line)]
    assert times == sorted(times)  # elapsed time carries on across the resume


def test_resume_with_another_batch_size_continues_after_the_examples_already_used(tmp_path):
    crash_at_step_7(tmp_path, config())  # 4 steps x 2 micro-batches of 8: 64 examples of epoch 0 used
    with pytest.warns(ResumeWarning, match="global batch changed from 8 to 16 examples: the data resumes at "
                                           "batch 4 of epoch 0"):
        Trainer(config(batch_size=16, grad_accum=1), make_job(), tmp_path, CPU).fit()
    assert weights(tmp_path)


# --- NaN recovery ---------------------------------------------------------------------------
class Line(nn.Module):
    """y = w x, squared error: simple enough that a test decides when the loss explodes."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w  # [B, 4]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((outputs - targets) ** 2).mean()


class Targets(torch.utils.data.Dataset):
    """Items (x, 2x); from read ``huge_from`` on the targets are 1e4 x (the loss explodes), from ``nan_from``
    NaN; read ``crash_at`` raises `Crash`."""

    def __init__(self, huge_from: int = 10**9, nan_from: int = 10**9, crash_at: int = 10**9) -> None:
        self.reads, self.huge_from, self.nan_from, self.crash_at = 0, huge_from, nan_from, crash_at

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int):
        self.reads += 1
        if self.reads >= self.crash_at:
            raise Crash
        x = torch.full((4,), 1.0 + i / 64)
        scale = math.nan if self.reads >= self.nan_from else 1e4 if self.reads >= self.huge_from else 2.0
        return x, x * scale


def line_job(**train_set: int) -> Job:
    def collate(items):
        return Batch((torch.stack([x for x, _ in items]),), {}, torch.stack([y for _, y in items]))

    return Job(make_model=Line, train_set=Targets(**train_set), val_set=Targets(),
               collate=collate, evaluate=lambda m, b: {"loss": (float(m.loss(m(*b.inputs), b.targets)), 1)})


def test_after_a_nan_the_named_checkpoint_is_good_and_a_rerun_resumes_from_it(tmp_path, capsys):
    """Checkpoints at 4 (healthy) and 8 (loss exploded from step 5: 8 items a step, item 33 on); NaN in
    step 10. keep_last=1 would have removed step 4, but the newest healthy checkpoint is spared."""
    cfg = config(steps=12, batch_size=8, grad_accum=1, lr=1e-3, checkpoint_every=4, keep_last=1, eval_every=100)
    with pytest.raises(NonFiniteLossError) as failure:
        Trainer(cfg, line_job(huge_from=33, nan_from=73), tmp_path, CPU).fit()
    text = str(failure.value)
    assert "training loss is nan at step 10; stopped before updating the weights" in text
    assert "step_00000008.pt: diverged (loss " in text and "above 2x the run's best" in text
    assert f"Last good checkpoint: {tmp_path / 'checkpoints' / 'step_00000004.pt'}; re-running resumes from it" \
        in text
    assert "train.lr=0.0005 (half of now)" in text
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path / "checkpoints")] == ["step_00000004.pt"]
    assert (tmp_path / "checkpoints" / "diverged" / "step_00000008.pt").is_file()  # moved aside, not deleted

    with pytest.raises(Crash):  # the rerun (with sane data) gets as far as its first step: enough to see where
        Trainer(cfg, line_job(crash_at=1), tmp_path, CPU).fit()
    assert f"resuming from {tmp_path / 'checkpoints' / 'step_00000004.pt'} (step 4)" in capsys.readouterr().out


def test_a_checkpoint_with_non_finite_weights_is_not_good(tmp_path):
    from zoo.train import divergence
    from zoo.train.outputs import RunFiles

    files = RunFiles(tmp_path)
    for step, w in ((4, 1.0), (8, math.inf)):
        path = checkpoint.path_for(tmp_path / "checkpoints", step)
        files.claim(path)
        checkpoint.save(tmp_path / "checkpoints", {
            "step": step, "model": {"w": torch.full((2,), w)}, "optimizer": {}, "scheduler": {}, "rng": {},
            "data": {"epoch": 0, "batch": step}, "log": {"loss": 0.5, "best_loss": 0.5}})
    good, notes = divergence.set_aside_diverged(tmp_path / "checkpoints", files)
    assert good == checkpoint.path_for(tmp_path / "checkpoints", 4)
    assert notes[0].startswith("step_00000008.pt: diverged (non-finite weights), moved to")


# --- full disk ------------------------------------------------------------------------------
def disk_fills_after(monkeypatch, checkpoints_written: int) -> None:
    """Make the checkpoint writer's file raise ENOSPC once ``checkpoints_written`` checkpoints are on disk."""
    real_open = open
    count = {"opened": 0}

    class Full(io.FileIO):
        def write(self, data):
            if self.tell() > 2000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    def opener(path, mode="r", *args, **kwargs):
        count["opened"] += 1
        if count["opened"] > checkpoints_written and "w" in mode:
            return Full(path, "wb")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "open", opener, raising=False)


def test_a_full_disk_while_checkpointing_removes_the_partial_file_and_names_the_intact_ones(tmp_path, monkeypatch):
    disk_fills_after(monkeypatch, 1)
    with pytest.raises(CheckpointWriteError, match=r"could not write the checkpoint of step 8 .*No space left on "
                                                   r"device\); the partial file was removed\. Intact checkpoints "
                                                   r"there: step_00000004\.pt\. Free some space") as failure:
        Trainer(config(), make_job(), tmp_path, CPU).fit()
    assert failure.value.errno == errno.ENOSPC
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000004.pt"]  # no temporary file
    assert "checkpoints/step_00000008.pt" not in (tmp_path / "run_files.json").read_text()
    monkeypatch.undo()
    Trainer(config(), make_job(), tmp_path, CPU).fit()  # space freed: resumes from step 4 and finishes
    assert checkpoint.latest(tmp_path / "checkpoints")["step"] == 12


# --- recipes: one line, no traceback --------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    ([f"train.seed={2**70}"], "seed must be in [0, 2**32)"),
    (["train.seed=-1"], "seed must be in [0, 2**32)"),
    (["train.batch_size=512"], "the training set has 256 examples, fewer than one global batch"),
    (["model.weights=/nonexistent/vit.safetensors"], "weights path /nonexistent/vit.safetensors does not exist"),
])
def test_recipe_errors_are_one_line(tmp_path, capsys, args, message):
    assert recipe("train.steps=2", *args, f"output_dir={tmp_path / 'run'}") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_a_full_disk_in_a_recipe_is_one_line(tmp_path, monkeypatch, capsys):
    disk_fills_after(monkeypatch, 0)
    assert recipe("train.steps=2", "train.checkpoint_every=2", f"output_dir={tmp_path}") == 2
    err = capsys.readouterr().err
    assert "image_classification: error: could not write the checkpoint of step 2" in err and "Traceback" not in err


def test_a_bare_config_name_means_the_recipes_config_whatever_the_current_directory_holds(
        tmp_path, monkeypatch, capsys):
    from recipes import causal_lm

    monkeypatch.chdir(tmp_path)
    (tmp_path / "text").mkdir()  # a folder named like the config
    assert causal_lm.main(["--config", "text", "--print-config"]) == 0
    assert 'source = "text"' in capsys.readouterr().out
    (tmp_path / "mine.toml").write_text('output_dir = "elsewhere"\n')
    assert causal_lm.main(["--config", "mine.toml", "--print-config"]) == 0  # a path: ends in .toml
    assert 'output_dir = "elsewhere"' in capsys.readouterr().out
