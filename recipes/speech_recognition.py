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

from ._audio import check_clip_lengths, pad, resample_key, sample_rate_of
from ._common import CONFIGS, check_model, create_model

TASK = "ctc"


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

    with resample_key():
        train = TranscriptManifest(data.train_manifest, sample_rate=sample_rate, resample=data.resample)
        val = TranscriptManifest(data.val_manifest, sample_rate=sample_rate, resample=data.resample)
    vocabulary = data.vocabulary or "".join(train.alphabet)
    for split, manifest in (("training", train), ("validation", val)):
        unknown = sorted(set(manifest.alphabet) - set(vocabulary))
        if unknown:
            raise ConfigError(f"{split} transcripts ({manifest.csv_path}) use characters outside the vocabulary: "
                              f"{''.join(unknown)!r}; set data.vocabulary to include them (it is {vocabulary!r})")
    return train, val, vocabulary


def check_transcripts_fit(model: Any, *datasets: Any) -> Any:
    """``model``, once every manifest transcript fits the CTC time steps the model gives its clip."""
    import torch

    backbone = model.backbone
    for data in datasets:
        if not hasattr(data, "check_transcripts") or not hasattr(backbone, "frontend"):  # generated clips always fit
            continue
        samples = torch.tensor(data.samples)  # [N] each clip's length
        longest = int(samples.max())
        steps, _ = backbone.time_lengths(backbone.frontend.frame_lengths(samples, longest),
                                         backbone.frontend.num_frames(longest))
        data.check_transcripts(steps.tolist())
    return model


def build(cfg: Config, env: Any) -> Job:
    check_model(cfg.model, TASK)
    train, val, vocabulary = datasets(cfg.data, sample_rate_of(cfg.model))

    def collate(items: list) -> Batch:
        waves, mask = pad([wave for wave, _ in items])  # [B, S] each
        return Batch((waves,), {"attention_mask": mask}, [text for _, text in items])

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs, **batch.extras)  # [B, T, 1 + len(vocabulary)]
        predictions = model.head.decode(logits)
        return {"loss": mean_loss(model.loss(logits.float(), batch.targets), len(batch.targets)),
                "cer": character_errors(predictions, batch.targets)}

    def make_model():
        model = check_clip_lengths(create_model(cfg.model, TASK, vocabulary=vocabulary), train, val)
        return check_transcripts_fit(model, train, val)

    return Job(make_model=make_model,
               train_set=train, val_set=val, collate=collate, evaluate=evaluate, name="speech_recognition")


def main(argv: list[str] | None = None) -> int:
    return run_main("speech_recognition", Config, build, CONFIGS / "speech_recognition", argv)


if __name__ == "__main__":
    sys.exit(main())
