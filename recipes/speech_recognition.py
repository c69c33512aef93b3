"""Speech recognition with CTC: a Whisper-shaped encoder transcribes clips character by character.

    python -m recipes.speech_recognition                          # offline touch-tone digit strings
    python -m recipes.speech_recognition --config manifest data.train_manifest=train.csv data.val_manifest=val.csv

A manifest is a CSV with a header and the columns ``path,transcript`` (paths relative to the
CSV's folder). The model's vocabulary (a spec field, saved with the model) is the data's
characters. Metrics: validation CTC loss and character error rate (greedy decoding).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from zoo.train import Batch, ConfigError, Job, RunConfig, main as run_main
from zoo.train.metrics import character_errors, mean_loss

from ._audio import pad, sample_rate_of
from ._common import CONFIGS, create_model


@dataclass
class SpeechData:
    source: Literal["dtmf", "manifest"] = "dtmf"
    train_manifest: str = ""  # manifest: CSV with path,transcript
    val_manifest: str = ""
    vocabulary: str = ""  # manifest: the characters to predict; "" = those of the training transcripts
    resample: bool = False  # manifest: resample files at another rate (else that is an error)
    train_size: int = 20000  # dtmf only
    val_size: int = 300  # dtmf only


@dataclass
class Config(RunConfig):
    data: SpeechData = field(default_factory=SpeechData)


def datasets(data: SpeechData, sample_rate: int) -> tuple[Any, Any, str]:
    """(train, val, vocabulary); items are (waveform [samples], transcript)."""
    if data.source == "dtmf":
        from zoo.data.synthetic import DTMFClips

        train = DTMFClips(data.train_size, sample_rate=sample_rate, seed=0)
        return train, DTMFClips(data.val_size, sample_rate=sample_rate, seed=1), train.alphabet
    if not data.train_manifest or not data.val_manifest:
        raise ConfigError("data.source='manifest' needs data.train_manifest and data.val_manifest (CSV files)")
    from zoo.data.files import TranscriptManifest

    train = TranscriptManifest(data.train_manifest, sample_rate=sample_rate, resample=data.resample)
    val = TranscriptManifest(data.val_manifest, sample_rate=sample_rate, resample=data.resample)
    vocabulary = data.vocabulary or "".join(train.alphabet)
    unknown = sorted(set("".join(val.alphabet)) - set(vocabulary))
    if unknown:
        raise ConfigError(f"validation transcripts use characters outside the vocabulary: {''.join(unknown)!r}; "
                          f"set data.vocabulary to include them (it is {vocabulary!r})")
    return train, val, vocabulary


def build(cfg: Config, env: Any) -> Job:
    train, val, vocabulary = datasets(cfg.data, sample_rate_of(cfg.model))

    def collate(items: list) -> Batch:
        waves, mask = pad([wave for wave, _ in items])  # [B, S] each
        return Batch((waves,), {"attention_mask": mask}, [text for _, text in items])

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs, **batch.extras)  # [B, T, 1 + len(vocabulary)]
        predictions = model.head.decode(logits)
        return {"loss": mean_loss(model.loss(logits.float(), batch.targets), len(batch.targets)),
                "cer": character_errors(predictions, batch.targets)}

    return Job(make_model=lambda: create_model(cfg.model, "ctc", vocabulary=vocabulary),
               train_set=train, val_set=val, collate=collate, evaluate=evaluate, name="speech_recognition")


def main(argv: list[str] | None = None) -> int:
    return run_main("speech_recognition", Config, build, CONFIGS / "speech_recognition", argv)


if __name__ == "__main__":
    sys.exit(main())
