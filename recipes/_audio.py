"""What the audio recipes share: the model's sample rate and padded waveform batches."""
from __future__ import annotations

from typing import Any

from ._common import card_meta


def sample_rate_of(model: Any) -> int:
    """The rate the model's card declares (its front end expects it); spec overrides win."""
    rate = model.spec.get("sample_rate") or card_meta(model.name).get("sample_rate")
    if rate is None:
        raise ValueError(f"model {model.name!r} declares no sample_rate; is it an audio model?")
    return int(rate)


def pad(waves: list) -> tuple[Any, Any]:
    """Right-padded waveforms [B, S] and their sample mask [B, S] (1 = real audio)."""
    from zoo.data import pad_waveforms

    return pad_waveforms(waves)
