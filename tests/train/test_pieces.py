"""Schedules, sampling, metrics and checkpoint files, each on its own."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.train import checkpoint
from zoo.train.metrics import accuracy, character_errors, edit_distance, exact_match, perplexity, word_errors
from zoo.train.optim import build_optimizer, build_scheduler, warmup_cosine
from zoo.train.sampling import batches_per_epoch, eval_batches, train_batches


def test_warmup_then_cosine():
    f = lambda s: warmup_cosine(s, warmup_steps=4, total_steps=14, min_ratio=0.1)  # noqa: E731
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)


def test_scheduler_drives_the_optimizer_and_decay_skips_1d_params():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    opt = build_optimizer(model, lr=1.0, weight_decay=0.1)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and [p.ndim for p in decayed["params"]] == [2]
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"]) and len(plain["params"]) == 3
    sched = build_scheduler(opt, warmup_steps=2, total_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.5])


def test_two_processes_see_the_batches_of_one_with_twice_the_batch():
    one = list(train_batches(50, 8, seed=3, epoch=1))
    ranks = [list(train_batches(50, 4, seed=3, epoch=1, rank=r, world_size=2)) for r in range(2)]
    assert len(one) == batches_per_epoch(50, 8) == 6
    assert all(a + b == whole for a, b, whole in zip(*ranks, one))
    assert list(train_batches(50, 8, seed=3, epoch=1, start=4)) == one[4:]  # resume mid-epoch
    assert one != list(train_batches(50, 8, seed=3, epoch=2))  # a new order every epoch
    with pytest.raises(ValueError, match="fewer than one global batch"):
        batches_per_epoch(7, 4, 2)


def test_eval_batches_cover_every_example_once():
    for world in (1, 2, 3):
        seen = [i for r in range(world) for b in eval_batches(11, 2, rank=r, world_size=world) for i in b]
        assert sorted(seen) == list(range(11))
        counts = {len(list(eval_batches(11, 2, rank=r, world_size=world))) for r in range(world)}
        assert len(counts) == 1  # same number of batches on every process
    assert len(list(eval_batches(11, 2, limit=2))) == 2


def test_metrics():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == (2.0, 3.0)
    assert exact_match(["12 ", "7"], ["12", "8"]) == (1.0, 2.0)
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3 and edit_distance("ab", "ab") == 0
    assert character_errors(["abd", ""], ["abc", "xy"]) == (3.0, 5.0)
    assert edit_distance(["a", "cat"], ["the", "cat", "sat"]) == 2
    # "the cat sat" -> "the bat sat down": 1 substitution + 1 insertion; "" -> "hi there": 2 deletions
    assert word_errors(["the bat  sat down", ""], ["the cat sat", "hi there"]) == (4.0, 5.0)
    assert word_errors(["0451"], ["0451"]) == (0.0, 1.0)
    assert perplexity(math.log(5.0)) == pytest.approx(5.0) and perplexity(1e6) == math.inf
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        exact_match(["a", "b"], ["a"])


def _state(step: int) -> dict:
    return {"step": step, "model": {"w": torch.full((3,), float(step))}, "optimizer": {}, "scheduler": {},
            "rng": checkpoint.rng_state(), "data": {"epoch": 0, "batch": step}}


def test_checkpoints_leave_no_temporary_files_and_the_newest_wins(tmp_path):
    for step in (1, 2):
        checkpoint.save(tmp_path, _state(step))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000001.pt", "step_00000002.pt"]
    state = checkpoint.latest(tmp_path)
    assert state["step"] == 2 and torch.equal(state["model"]["w"], torch.full((3,), 2.0))


def test_truncated_checkpoint_is_skipped_with_a_warning(tmp_path):
    for step in (1, 2):
        checkpoint.save(tmp_path, _state(step))
    newest = checkpoint.path_for(tmp_path, 2)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    with pytest.warns(checkpoint.CheckpointWarning, match=r"cannot read .*step_00000002\.pt.*previous checkpoint"):
        state = checkpoint.latest(tmp_path)
    assert state["step"] == 1
    checkpoint.path_for(tmp_path, 1).write_bytes(b"")
    with pytest.warns(checkpoint.CheckpointWarning):
        assert checkpoint.latest(tmp_path) is None


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_checkpoints_never_unpickle_code(tmp_path, capsys):
    path = checkpoint.path_for(tmp_path, 5)
    torch.save({"format": checkpoint.FORMAT, "step": 5, "payload": _Evil()}, path)
    with pytest.warns(checkpoint.CheckpointWarning, match="cannot read"):
        assert checkpoint.latest(tmp_path) is None
    assert "unpickled code ran" not in capsys.readouterr().out


def test_a_foreign_file_is_not_a_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, checkpoint.path_for(tmp_path, 1))
    with pytest.warns(checkpoint.CheckpointWarning, match="not a transformer-zoo training checkpoint"):
        assert checkpoint.latest(tmp_path) is None
