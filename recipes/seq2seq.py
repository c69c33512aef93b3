"""Sequence to sequence: a T5-shaped encoder-decoder maps source text to target text.

    python -m recipes.seq2seq                                     # offline arithmetic: "37+485" -> "522"
    python -m recipes.seq2seq --config jsonl data.train_path=train.jsonl data.val_path=val.jsonl

Byte tokens; the decoder is trained with teacher forcing (labels shifted right inside the
model). Metrics: validation loss, and exact match of greedy `model.generate` outputs.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal


from zoo.train import Batch, ConfigError, Job, RunConfig, main as run_main
from zoo.train.metrics import exact_match

from ._common import CONFIGS, check_model, create_model

TASK = "seq2seq-lm"


@dataclass
class PairData:
    source: Literal["arithmetic", "jsonl"] = "arithmetic"
    train_path: str = ""  # jsonl: one {"source": ..., "target": ...} object a line
    val_path: str = ""
    source_field: str = "source"
    target_field: str = "target"
    max_source_length: int = 64  # tokens (bytes + eos); longer texts are cut
    max_target_length: int = 64
    max_digits: int = 3  # arithmetic only
    train_size: int = 50000  # arithmetic only
    val_size: int = 500  # arithmetic only


@dataclass
class Config(RunConfig):
    data: PairData = field(default_factory=PairData)


def pair_datasets(data: PairData) -> tuple[Any, Any]:
    """(train, val): items are (source, target) strings."""
    if data.source == "arithmetic":
        from zoo.data.synthetic import ArithmeticPairs

        return (ArithmeticPairs(data.train_size, seed=0, max_digits=data.max_digits),
                ArithmeticPairs(data.val_size, seed=1, max_digits=data.max_digits))
    if not data.train_path or not data.val_path:
        raise ConfigError("data.source='jsonl' needs data.train_path and data.val_path")
    from zoo.data.files import JsonlPairs

    fields = {"source": data.source_field, "target": data.target_field}
    return JsonlPairs(data.train_path, **fields), JsonlPairs(data.val_path, **fields)


def build(cfg: Config, env: Any) -> Job:
    from zoo.data import ByteTokenizer
    from zoo.tasks.language import IGNORE_INDEX

    check_model(cfg.model, TASK)
    train, val = pair_datasets(cfg.data)
    tokenizer = ByteTokenizer(add_bos=False, add_eos=True)  # the decoder starts from the model's start token

    def collate(pairs: list[tuple[str, str]]) -> Batch:
        src = tokenizer([s for s, _ in pairs], max_length=cfg.data.max_source_length, truncation=True)
        tgt = tokenizer([t for _, t in pairs], max_length=cfg.data.max_target_length, truncation=True)
        labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, IGNORE_INDEX)  # [B, T]
        extras = {"attention_mask": src["attention_mask"], "labels": labels}
        return Batch((src["input_ids"],), extras, labels)

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs, **batch.extras)  # [B, T, V], teacher forcing
        tokens = int((batch.targets != IGNORE_INDEX).sum())
        longest = int((batch.targets != IGNORE_INDEX).sum(-1).max())
        out = model.generate(batch.inputs[0], attention_mask=batch.extras["attention_mask"],
                             max_new_tokens=longest + 1, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)  # [B, 1 + new], decoder start first
        predictions = tokenizer.batch_decode(out[:, 1:])
        references = tokenizer.batch_decode(batch.targets.clamp(min=0).masked_fill(
            batch.targets == IGNORE_INDEX, tokenizer.pad_token_id))
        return {"loss": (float(model.loss(logits, batch.targets)) * tokens, tokens),
                "exact_match": exact_match(predictions, references)}

    return Job(make_model=lambda: create_model(cfg.model, TASK, vocab_size=tokenizer.vocab_size),
               train_set=train, val_set=val, collate=collate, evaluate=evaluate, name="seq2seq")


def main(argv: list[str] | None = None) -> int:
    return run_main("seq2seq", Config, build, CONFIGS / "seq2seq", argv)


if __name__ == "__main__":
    sys.exit(main())
