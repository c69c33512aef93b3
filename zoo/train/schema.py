"""The config sections every recipe shares: the model, the training run, where it goes.

A recipe adds its own ``data`` section::

    @dataclass
    class Config(RunConfig):
        data: ImageData = field(default_factory=ImageData)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(obj, name)}")


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(obj, name)}")


@dataclass
class ModelConfig:
    """Which model: a card name, spec overrides for `zoo.create`, optional starting weights."""

    name: str = "vit-tiny"
    spec: dict[str, Any] = field(default_factory=dict)  # e.g. { depth = 4, embed_dim = 128 }; checked by the family
    weights: str = ""  # a file, directory or hf-hub:OWNER/NAME `zoo.create(weights=...)` reads; "" = random init
    pretrained: bool = False  # start from the card's published weights (`zoo.create(pretrained=True)`)


@dataclass
class TrainConfig:
    """The optimisation and bookkeeping of one run. ``batch_size`` is per process."""

    steps: int = 1000  # optimizer steps
    batch_size: int = 32
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 1e-3  # peak learning rate, reached after the warmup
    min_lr_ratio: float = 0.0  # the cosine ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.05  # not applied to biases, norms and other 1-D parameters
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    clip_grad: float = 1.0  # max gradient norm; 0 = no clipping
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False  # torch.compile the model
    distributed: Literal["ddp", "fsdp"] = "ddp"  # under torchrun: replicate (DDP) or shard (FSDP2)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0  # CPU threads for torch; 0 = torch's default (one per core)
    seed: int = 0  # 0 <= seed < 2**32
    eval_every: int = 200  # steps; also at the end
    eval_batches: int = 0  # 0 = the whole validation set
    log_every: int = 10
    checkpoint_every: int = 200  # steps; also at the end
    keep_last: int = 2  # checkpoints kept on disk
    progress: bool = True  # tqdm bar (rank 0 only)

    def __post_init__(self) -> None:
        _positive(self, "steps", "batch_size", "grad_accum", "lr", "eval_every", "log_every", "checkpoint_every",
                  "keep_last")
        _non_negative(self, "warmup_steps", "weight_decay", "clip_grad", "eval_batches", "min_lr_ratio", "threads")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32) (as NumPy's), got {self.seed}")
        if self.min_lr_ratio > 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")


@dataclass
class RunConfig:
    """Top level: where the run lives and whether to pick up its last checkpoint."""

    output_dir: str = ""  # "" = runs/<recipe>
    resume: bool = True  # continue from the newest complete checkpoint in output_dir, if any
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
