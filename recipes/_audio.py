"""What the audio recipes share: the model's sample rate, WAV checks that name config keys, padded batches."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from zoo.train import ConfigError

from ._common import card_meta


def sample_rate_of(model: Any) -> int:
    """The rate the model's card declares (its front end expects it); spec overrides win."""
    rate = model.spec.get("sample_rate") or card_meta(model.name).get("sample_rate")
    if rate is None:
        raise ConfigError(f"model.name={model.name!r} declares no sample_rate (in its card's meta or "
                          f"model.spec.sample_rate); audio recipes need one")
    return int(rate)


@contextlib.contextmanager
def resample_key() -> Iterator[None]:
    """WAV files at another rate: the error names the recipe's key, ``data.resample=true``."""
    from zoo.data.files import SampleRateError

    try:
        yield
    except SampleRateError as error:
        raise error.with_fix("set data.resample=true to convert on load") from None


def check_clip_lengths(model: Any, *datasets: Any) -> Any:
    """``model``, once every clip of the WAV datasets is known to suit its front end (not too short or long)."""
    frontend = getattr(model.backbone, "frontend", None)  # zoo's audio encoders own their front end
    for data in datasets:
        if frontend is not None and hasattr(data, "check_lengths"):  # file datasets; generated clips always fit
            data.check_lengths(frontend.min_samples, frontend.max_samples)
    return model


def pad(waves: list) -> tuple[Any, Any]:
    """Right-padded waveforms [B, S] and their sample mask [B, S] (1 = real audio)."""
    from zoo.data import pad_waveforms

    return pad_waveforms(waves)
