"""What the recipe tests share: a run's metrics log and final metrics, its one-line errors, the resume check,
torchrun with two CPU processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file


def records(run_dir: Path) -> list[dict]:
    """The run's metrics.jsonl, one dict a line."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def one_line_error(capsys, recipe: str) -> str:
    """The run's stderr, checked to be exactly one ``<recipe>: error: ...`` line and no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith(f"{recipe}: error: "), err
    return lines[0]


def check_a_rerun_resumes_to_the_same_weights(run: Callable[..., int], args: list[str], run_dir: Path,
                                               capsys) -> None:
    """``run(*args)`` for 6 steps with checkpoints at 3 and 6; remove step 6's checkpoint and the final model, as
    if the run had died after step 3, and run again: it resumes, and ends with the same weights bit for bit and
    the same metrics log (all but the clock)."""
    assert run(*args) == 0
    first = load_file(str(run_dir / "model" / "model.safetensors"))
    log = [{k: v for k, v in r.items() if k != "time"} for r in records(run_dir)]
    for path in [run_dir / "checkpoints" / "step_00000006.pt", *(run_dir / "model").iterdir()]:
        path.unlink()
    capsys.readouterr()
    assert run(*args) == 0
    assert "resuming from" in capsys.readouterr().out
    again = load_file(str(run_dir / "model" / "model.safetensors"))
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    assert [{k: v for k, v in r.items() if k != "time"} for r in records(run_dir)] == log


def torchrun_two_cpu_processes(recipe: str, args: list[str]) -> None:
    """``torchrun --nproc_per_node 2 -m recipes.<recipe> *args`` on the CPU (gloo, one thread each): it succeeds,
    and rank 0 alone reports."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", f"recipes.{recipe}", *args, "train.device=cpu"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("done:") == 1


def done_metrics(out: str) -> dict[str, float]:
    """The metrics of a run's ``done:`` line (printed to 4 decimals)."""
    done = next(line for line in out.splitlines() if line.startswith("done:"))
    return dict(zip(done.split()[1::2], map(float, done.split()[2::2])))
