"""A run directory belongs to one run and holds the user's files safely (issue 10: data loss cases).

- ``resume=false`` removes only what a run wrote, and refuses while checkpoints/ or model/ hold
  anything else; a fresh run never writes over a file it did not write.
- A command that fails (a bad resume, a bad config) leaves every file's bytes as they were.
- Two runs into one directory: the second fails at once naming the first (pid, host, start time),
  for real processes and for every process of a torchrun; a killed run's lock blocks nothing.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zoo.train import Trainer
from zoo.train.distributed import Dist
from zoo.train.lock import RunDirectoryInUse, RunLock
from zoo.train.outputs import ForeignFilesError

from train_helpers import CPU, config, make_job

ROOT = Path(__file__).resolve().parents[2]
TINY = ["model.spec.img_size=16", "model.spec.patch_size=4", "model.spec.embed_dim=32", "model.spec.depth=1",
        "model.spec.num_heads=2", "data.image_size=16", "data.train_size=256", "data.val_size=32",
        "train.warmup_steps=2", "train.progress=false", "train.log_every=2", "train.batch_size=16"]


def recipe(*args: str) -> int:
    from recipes import image_classification

    return image_classification.main([*TINY, *args])


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative name -> bytes)."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_resume_false_refuses_to_clear_folders_holding_files_it_did_not_write(tmp_path):
    Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()
    (tmp_path / "model" / "README.txt").write_text("my notes")
    (tmp_path / "checkpoints" / "mine.ckpt").write_bytes(b"my checkpoint")
    before = snapshot(tmp_path)
    with pytest.raises(ForeignFilesError, match=r"checkpoints/mine\.ckpt, model/README\.txt.*nothing was changed"):
        Trainer(config(steps=4), make_job(), tmp_path, CPU, resume=False).fit()
    assert snapshot(tmp_path) == before


def test_resume_false_removes_only_what_runs_wrote(tmp_path, capsys):
    Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()
    (tmp_path / "notes.txt").write_text("mine")  # beside the outputs, not in checkpoints/ or model/
    Trainer(config(steps=4), make_job(), tmp_path, CPU, resume=False).fit()
    assert "resume=false: removed what an earlier run wrote" in capsys.readouterr().out
    assert (tmp_path / "notes.txt").read_text() == "mine"
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 4]  # one run's records (train 2, train 4, val 4)


@pytest.mark.parametrize("name", ["metrics.jsonl", "model/model.safetensors", "checkpoints/step_00000004.pt"])
def test_a_run_never_writes_over_a_file_it_did_not_write(tmp_path, name):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(b"the user's")
    with pytest.raises(ForeignFilesError, match=name.replace(".", r"\.")):
        Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()
    assert snapshot(tmp_path) == {name: b"the user's"}


def test_a_failed_resume_changes_nothing_on_disk(tmp_path, capsys):
    assert recipe("train.steps=4", "train.checkpoint_every=2", f"output_dir={tmp_path}") == 0
    before = snapshot(tmp_path)
    assert recipe("train.steps=4", "model.spec.depth=2", f"output_dir={tmp_path}") == 2
    err = capsys.readouterr().err
    assert "model.spec" in err and "resume=false" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before  # config.toml included: it still describes the checkpoints
    assert recipe("train.steps=4", "model.spec.depth=2", f"output_dir={tmp_path}") == 2  # and still refuses


def test_a_command_that_fails_before_training_leaves_no_directory(tmp_path):
    run_dir = tmp_path / "new" / "run"
    assert recipe("train.batch_size=512", f"output_dir={run_dir}") == 2  # fewer examples than one batch
    assert not (tmp_path / "new").exists()


def test_a_second_run_into_a_held_directory_fails_naming_the_holder(tmp_path):
    with RunLock(tmp_path, CPU):
        with pytest.raises(RunDirectoryInUse, match=rf"in use by another run: pid {os.getpid()} on host "
                                                    rf"{socket.gethostname()}, started \d{{4}}-\d\d-\d\d"):
            Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()
    assert not (tmp_path / "run.lock").exists()  # released and removed
    Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()  # free again


def test_a_stale_lock_file_does_not_block(tmp_path):
    (tmp_path / "run.lock").write_text(json.dumps({"pid": 999999, "host": "gone", "started": "earlier",
                                                   "command": "killed"}))
    Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()
    assert (tmp_path / "model" / "model.safetensors").exists()


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_two_concurrent_runs_as_real_processes(tmp_path):
    """The second run fails at once naming the first; the first ends as if alone. The first is paused
    (SIGSTOP) while the second starts, so it is certainly mid-training then, on any machine."""
    command = [sys.executable, "-m", "recipes.image_classification", *TINY, "train.steps=60",
               "train.checkpoint_every=10"]
    first = subprocess.Popen([*command, f"output_dir={tmp_path}"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "checkpoints" / "step_00000010.pt").exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run([*command, "train.seed=1", f"output_dir={tmp_path}"], cwd=ROOT, env=_env(),
                                capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert f"in use by another run: pid {first.pid} on host {socket.gethostname()}, started" in second.stderr
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    steps = [r["step"] for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == list(range(2, 61, 2))  # each step logged once, by the first run only
    assert "train.seed=1" not in (tmp_path / "config.toml").read_text() and "seed = 1" not in \
        (tmp_path / "config.toml").read_text()


def test_every_torchrun_process_of_a_second_run_stops(tmp_path):
    """rank 0 takes the lock for its run and tells the others: both processes exit with the message."""
    with RunLock(tmp_path, CPU):
        run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                              "-m", "recipes.image_classification", *TINY, "train.steps=2",
                              f"output_dir={tmp_path}"], cwd=ROOT, env=_env(), capture_output=True, text=True,
                             timeout=180)
    assert run.returncode != 0
    assert run.stderr.count(f"in use by another run: pid {os.getpid()}") == 2, run.stderr[-2000:]
