"""Audio classification: a Whisper-shaped (or AST) encoder labels clips.

    python -m recipes.audio_classification                        # offline synthesized sounds, 8 classes
    python -m recipes.audio_classification --config wavfolder data.root=path/to/speech_commands

A WAV folder is labelled by sub-folder, as Speech Commands is: root/train/<label>/*.wav and
root/val/<label>/*.wav. Clips of different lengths are padded, with a mask over the samples.
Metrics: validation loss and accuracy.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from zoo.train import Batch, ConfigError, Job, RunConfig, main as run_main
from zoo.train.metrics import accuracy, mean_loss

from ._audio import check_clip_lengths, pad, resample_key, sample_rate_of
from ._common import CONFIGS, check_model, create_model

TASK = "audio-classification"


@dataclass
class AudioData:
    source: Literal["tones", "wavfolder"] = "tones"
    root: str = ""  # wavfolder: a folder with train/<label>/*.wav and val/<label>/*.wav
    resample: bool = False  # wavfolder: resample files at another rate (else that is an error)
    train_size: int = 20000  # tones only
    val_size: int = 500  # tones only
    seconds: float = 1.0  # tones only


@dataclass
class Config(RunConfig):
    data: AudioData = field(default_factory=AudioData)


def datasets(data: AudioData, sample_rate: int) -> tuple[Any, Any, list[str]]:
    """(train, val, class names); items are (waveform [samples], label)."""
    if data.source == "tones":
        from zoo.data.synthetic import ToneClips

        train = ToneClips(data.train_size, sample_rate=sample_rate, seconds=data.seconds, seed=0)
        val = ToneClips(data.val_size, sample_rate=sample_rate, seconds=data.seconds, seed=1)
        return train, val, list(train.classes)
    if not data.root:
        raise ConfigError("data.source='wavfolder' needs data.root (a folder with train/ and val/)")
    from zoo.data.files import DataFileError, WavFolder

    root = Path(data.root)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"data.root={root} needs {split}/ with one sub-folder of .wav files per label "
                                    f"(the Speech Commands layout); {root / split} is missing")
    with resample_key():
        train = WavFolder(root / "train", sample_rate=sample_rate, resample=data.resample)
        val = WavFolder(root / "val", sample_rate=sample_rate, resample=data.resample)
    if list(val.classes) != list(train.classes):
        raise DataFileError(f"{root}: train/ and val/ must have the same label folders; train has "
                            f"{', '.join(train.classes)}, val has {', '.join(val.classes)}")
    return train, val, list(train.classes)


def build(cfg: Config, env: Any) -> Job:
    check_model(cfg.model, TASK)
    train, val, classes = datasets(cfg.data, sample_rate_of(cfg.model))

    def collate(items: list) -> Batch:
        waves, mask = pad([wave for wave, _ in items])  # [B, S] each
        return Batch((waves,), {"attention_mask": mask}, torch.tensor([label for _, label in items]))

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs, **batch.extras)  # [B, num_classes]
        return {"loss": mean_loss(model.loss(logits.float(), batch.targets), len(batch.targets)),
                "accuracy": accuracy(logits, batch.targets)}

    def make_model():
        return check_clip_lengths(create_model(cfg.model, TASK, num_classes=len(classes)), train, val)

    return Job(make_model=make_model,
               train_set=train, val_set=val, collate=collate, evaluate=evaluate, name="audio_classification")


def main(argv: list[str] | None = None) -> int:
    return run_main("audio_classification", Config, build, CONFIGS / "audio_classification", argv)


if __name__ == "__main__":
    sys.exit(main())
