"""Causal language modelling: a GPT-2-shaped decoder predicts the next byte of each text.

    python -m recipes.causal_lm                                   # offline grammar corpus
    python -m recipes.causal_lm --config text data.train_path=train.txt data.val_path=val.txt
    python -m recipes.causal_lm --config jsonl data.train_path=train.jsonl data.val_path=val.jsonl

Texts are byte-tokenized (`zoo.data.ByteTokenizer`: bos + UTF-8 bytes + eos, no vocabulary
file). Metrics: validation loss (nats per token), perplexity, and the validation texts'
unigram byte entropy for comparison: a model that learnt anything ends well below it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from zoo.train import Batch, Job, RunConfig, main as run_main
from zoo.train.metrics import perplexity

from ._common import CONFIGS, check_model, create_model
from ._text import TextData, check_max_length, text_datasets, unigram_entropy_of

TASK = "causal-lm"


@dataclass
class Config(RunConfig):
    data: TextData = field(default_factory=TextData)


def build(cfg: Config, env: Any) -> Job:
    from zoo.data import ByteTokenizer
    from zoo.tasks.language import IGNORE_INDEX

    check_model(cfg.model, TASK)
    train, val = text_datasets(cfg.data)
    tokenizer = ByteTokenizer(add_bos=True, add_eos=True)
    entropy = unigram_entropy_of(val)

    def collate(texts: list[str]) -> Batch:
        enc = tokenizer(texts, max_length=cfg.data.max_length, truncation=True)
        ids, mask = enc["input_ids"], enc["attention_mask"]  # [B, T] each, right-padded
        labels = ids.masked_fill(mask == 0, IGNORE_INDEX)  # the loss shifts them: position t predicts t + 1
        return Batch((ids,), {"attention_mask": mask}, labels)

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs, **batch.extras)  # [B, T, V]
        predicted = int((batch.targets[:, 1:] != IGNORE_INDEX).sum())
        return {"loss": (float(model.loss(logits, batch.targets)) * predicted, predicted)}

    def make_model():
        return check_max_length(create_model(cfg.model, TASK, vocab_size=tokenizer.vocab_size), cfg.data.max_length)

    return Job(make_model=make_model,
               train_set=train, val_set=val, collate=collate, evaluate=evaluate,
               summarize=lambda m: {"perplexity": perplexity(m["loss"]), "unigram_entropy": entropy},
               name="causal_lm")


def main(argv: list[str] | None = None) -> int:
    return run_main("causal_lm", Config, build, CONFIGS / "causal_lm", argv)


if __name__ == "__main__":
    sys.exit(main())
