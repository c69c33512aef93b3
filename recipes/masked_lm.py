"""Masked language modelling: a BERT-shaped encoder recovers masked bytes of each text.

    python -m recipes.masked_lm                                   # offline grammar corpus
    python -m recipes.masked_lm --config text data.train_path=train.txt data.val_path=val.txt

BERT's recipe: ``mask_prob`` of the text tokens are chosen; of those 80% become <mask>, 10% a
random byte, 10% stay; the loss is over the chosen tokens only. Training draws fresh masks
from the (checkpointed) RNG; validation masks are fixed per batch, so evaluations compare.
Metrics: masked-token loss, accuracy and perplexity, and the unigram byte entropy.
"""
from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

import torch

from zoo.train import Batch, Job, RunConfig, main as run_main
from zoo.train.metrics import perplexity

from ._common import CONFIGS, check_model, create_model
from ._text import TextData, check_max_length, text_datasets, unigram_entropy_of

TASK = "masked-lm"


@dataclass
class MaskedTextData(TextData):
    mask_prob: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")


@dataclass
class Config(RunConfig):
    data: MaskedTextData = field(default_factory=MaskedTextData)


def mask_tokens(ids: torch.Tensor, maskable: torch.Tensor, prob: float, mask_id: int, num_bytes: int,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) [B, T]: BERT's 80/10/10 corruption of ``prob`` of the ``maskable`` positions."""
    from zoo.tasks.language import IGNORE_INDEX

    draw = torch.rand(ids.shape, generator=generator)  # [B, T]
    chosen = (draw < prob) & maskable
    labels = ids.masked_fill(~chosen, IGNORE_INDEX)
    kind = torch.rand(ids.shape, generator=generator)  # which corruption
    random_ids = torch.randint(num_bytes, ids.shape, generator=generator)
    inputs = torch.where(chosen & (kind < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (kind >= 0.8) & (kind < 0.9), random_ids, inputs)
    return inputs, labels


def build(cfg: Config, env: Any) -> Job:
    from zoo.data import ByteTokenizer
    from zoo.tasks.language import IGNORE_INDEX

    check_model(cfg.model, TASK)
    train, val = text_datasets(cfg.data)
    tokenizer = ByteTokenizer(add_bos=True, add_eos=True)
    entropy = unigram_entropy_of(val)

    def collate(texts: list[str], generator: torch.Generator | None = None) -> Batch:
        enc = tokenizer(texts, max_length=cfg.data.max_length, truncation=True)
        ids, mask = enc["input_ids"], enc["attention_mask"]  # [B, T]
        inputs, labels = mask_tokens(ids, (ids < 256) & (mask == 1), cfg.data.mask_prob, tokenizer.mask_token_id,
                                     256, generator)
        return Batch((inputs,), {"attention_mask": mask}, labels)

    def eval_collate(texts: list[str]) -> Batch:  # the same masks every evaluation
        seed = zlib.crc32("\n".join(texts).encode("utf-8"))
        return collate(texts, torch.Generator().manual_seed(seed))

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs, **batch.extras)  # [B, T, V]
        chosen = batch.targets != IGNORE_INDEX
        count = int(chosen.sum())
        if count == 0:
            return {}
        correct = float((logits.argmax(-1)[chosen] == batch.targets[chosen]).sum())
        return {"loss": (float(model.loss(logits, batch.targets)) * count, count), "accuracy": (correct, count)}

    spec = {"vocab_size": tokenizer.vocab_size, "pad_token_id": tokenizer.pad_token_id}
    return Job(make_model=lambda: check_max_length(create_model(cfg.model, TASK, **spec), cfg.data.max_length),
               train_set=train, val_set=val, collate=collate, eval_collate=eval_collate, evaluate=evaluate,
               summarize=lambda m: {"perplexity": perplexity(m["loss"]), "unigram_entropy": entropy},
               name="masked_lm")


def main(argv: list[str] | None = None) -> int:
    return run_main("masked_lm", Config, build, CONFIGS / "masked_lm", argv)


if __name__ == "__main__":
    sys.exit(main())
