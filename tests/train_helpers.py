"""What the trainer tests share: a tiny two-class image job and a small run config."""
from __future__ import annotations

import torch

import zoo
from zoo.train import Batch, Job, TrainConfig
from zoo.train.distributed import Dist
from zoo.train.metrics import accuracy, mean_loss

CPU = Dist(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


class Bars(torch.utils.data.Dataset):
    """Tiny images [3, 8, 8]: class 0 has a bright top half, class 1 a bright bottom half.

    ``crash_at``: reading that many items kills the "process"; ``nan_from``: items from that
    read on are NaN; ``huge_from``: items from that read on are scaled by 1e4 (the loss explodes
    before it turns NaN). Training reads 16 items a step here (2 micro-batches of 8).
    """

    def __init__(self, size: int, seed: int, crash_at: int | None = None, nan_from: int | None = None,
                 huge_from: int | None = None) -> None:
        self.size, self.seed, self.crash_at, self.nan_from, self.reads = size, seed, crash_at, nan_from, 0
        self.huge_from = huge_from

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int):
        self.reads += 1
        if self.crash_at is not None and self.reads >= self.crash_at:
            raise Crash
        g = torch.Generator().manual_seed(self.seed * 10_000 + i)
        label = int(torch.randint(2, (), generator=g))
        image = torch.rand(3, 8, 8, generator=g) * 0.5
        image[:, :4] += 0.5 * (1 - label)
        image[:, 4:] += 0.5 * label
        if self.huge_from is not None and self.reads >= self.huge_from:
            image = image * 1e4
        if self.nan_from is not None and self.reads >= self.nan_from:
            image = image * float("nan")
        return image, label


def tiny_vit(**overrides):
    spec = dict(img_size=8, patch_size=4, embed_dim=16, depth=1, num_heads=2, num_classes=2, global_pool="avg")
    return zoo.create("vit-tiny", **{**spec, **overrides})


class Crash(Exception):
    pass


def make_job(crash_at: int | None = None, nan_from: int | None = None, huge_from: int | None = None) -> Job:
    def collate(items):
        return Batch((torch.stack([x for x, _ in items]),), {}, torch.tensor([y for _, y in items]))

    def evaluate(model, batch):
        logits = model(*batch.inputs)
        return {"loss": mean_loss(model.loss(logits, batch.targets), len(batch.targets)),
                "accuracy": accuracy(logits, batch.targets)}

    return Job(make_model=lambda: tiny_vit(dropout=0.1),
               train_set=Bars(96, seed=0, crash_at=crash_at, nan_from=nan_from, huge_from=huge_from),
               val_set=Bars(32, seed=1), collate=collate, evaluate=evaluate,
               summarize=lambda m: {"error": 1 - m["accuracy"]}, name="bars")


def config(**changes) -> TrainConfig:
    base = dict(steps=12, batch_size=8, grad_accum=2, lr=3e-3, warmup_steps=2, eval_every=6, checkpoint_every=4,
                log_every=2, keep_last=2, progress=False)
    return TrainConfig(**{**base, **changes})


def weights(run_dir):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model" / "model.safetensors"))
