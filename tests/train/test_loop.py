"""The trainer in-process: learning, outputs, exact resume after a crash, corrupt checkpoints, NaN stop."""
from __future__ import annotations

import json

import pytest
import torch

import zoo
from zoo.train import Job, NonFiniteLossError, Trainer
from zoo.train import checkpoint

from train_helpers import CPU, Bars, Crash, config, make_job, tiny_vit, weights


def test_learns_and_writes_its_outputs(tmp_path):
    cfg = config(steps=120, grad_accum=1, batch_size=16, eval_every=40, checkpoint_every=40, log_every=8)
    metrics = Trainer(cfg, make_job(), tmp_path, CPU).fit()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 15 and sum(losses[-3:]) < 0.7 * sum(losses[:3])
    assert [r["step"] for r in records if "val_accuracy" in r] == [40, 80, 120]
    assert metrics["accuracy"] >= 0.9 and metrics["error"] == pytest.approx(1 - metrics["accuracy"])
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path / "checkpoints")] == \
        ["step_00000080.pt", "step_00000120.pt"]
    loaded = zoo.load(tmp_path / "model").eval()  # the final model is an ordinary zoo.save directory
    images = torch.stack([Bars(4, seed=2)[i][0] for i in range(4)])
    job_model = make_job().make_model()
    job_model.load_state_dict(torch.load(tmp_path / "checkpoints" / "step_00000120.pt", weights_only=True)["model"])
    torch.testing.assert_close(loaded(images), job_model.eval()(images), rtol=0, atol=0)


def test_resume_after_a_crash_gives_the_same_weights(tmp_path):
    Trainer(config(), make_job(), tmp_path / "straight", CPU).fit()
    with pytest.raises(Crash):  # dies in step 7 (items 97..112): the newest checkpoint is step 4's
        Trainer(config(), make_job(crash_at=100), tmp_path / "resumed", CPU).fit()
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path / "resumed" / "checkpoints")] == ["step_00000004.pt"]
    Trainer(config(), make_job(), tmp_path / "resumed", CPU).fit()
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    straight = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    resumed = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]  # noqa: E731
    assert strip(straight) == strip(resumed)  # no duplicated or missing records


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    Trainer(config(), make_job(), tmp_path / "straight", CPU).fit()
    with pytest.raises(Crash):  # checkpoints at steps 4 and 8, dies in step 10
        Trainer(config(), make_job(crash_at=150), tmp_path / "run", CPU).fit()
    newest = tmp_path / "run" / "checkpoints" / "step_00000008.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    with pytest.warns(checkpoint.CheckpointWarning, match="step_00000008.pt"):
        Trainer(config(), make_job(), tmp_path / "run", CPU).fit()
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "run")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_finished_run_rerun_changes_nothing(tmp_path, capsys):
    first = Trainer(config(), make_job(), tmp_path, CPU).fit()
    before = weights(tmp_path)
    again = Trainer(config(), make_job(), tmp_path, CPU).fit()
    assert "resuming from" in capsys.readouterr().out
    assert again == first and all(torch.equal(before[k], weights(tmp_path)[k]) for k in before)


def test_resume_false_starts_over(tmp_path, capsys):
    Trainer(config(steps=4), make_job(), tmp_path, CPU).fit()
    Trainer(config(steps=4), make_job(), tmp_path, CPU, resume=False).fit()
    out = capsys.readouterr().out
    assert "resume=false: removed what an earlier run wrote" in out and "resuming from" not in out
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps.count(4) == 2  # one run's records only (train + val at step 4)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 6; .*step_00000004\.pt"):
        Trainer(config(), make_job(nan_from=85), tmp_path, CPU).fit()  # item 85 is read in step 6
    state = checkpoint.latest(tmp_path / "checkpoints")
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "model").exists()


def test_grad_accumulation_matches_one_big_batch(tmp_path):
    """2 micro-batches of 8 == 1 batch of 16 (without dropout: the same examples, the same mean loss)."""
    a = Trainer(config(steps=3, grad_accum=2, batch_size=8), _no_dropout(make_job()), tmp_path / "a", CPU).fit()
    b = Trainer(config(steps=3, grad_accum=1, batch_size=16), _no_dropout(make_job()), tmp_path / "b", CPU).fit()
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)


def _no_dropout(job: Job) -> Job:
    job.make_model = tiny_vit
    return job


def test_compiled_training_matches_eager(tmp_path):
    """train.compile=true trains the same model (dropout off: compiled and eager draw their masks
    differently); weights agree to float rounding, and the saved model has plain key names."""
    def job():
        plain = make_job()
        plain.make_model = lambda: tiny_vit()
        return plain

    Trainer(config(steps=6, checkpoint_every=6), job(), tmp_path / "eager", CPU).fit()
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    Trainer(config(steps=6, checkpoint_every=6, compile=True), job(), tmp_path / "compiled", CPU).fit()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # it really ran compiled
    a, b = weights(tmp_path / "eager"), weights(tmp_path / "compiled")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-4, worst
    assert set(zoo.load(tmp_path / "compiled" / "model").state_dict()) == set(tiny_vit().state_dict())
