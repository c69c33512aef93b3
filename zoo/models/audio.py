"""What the spectrogram encoders share: waveform or spectrogram in, padding masks, the CTC vocabulary.

A backbone owns its front end (``self.frontend``), so ``model(waveform)`` works; passing
``spectrogram=`` skips it. ``attention_mask`` is over samples (waveform) or frames
(spectrogram); `feature_mask` turns it into the mask over the backbone's time steps, which
`ZooModel.forward` hands to the head (pooling, CTC).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.audio import AudioFrontEnd, check_sample_rate, check_waveform, lengths_from_mask
from ..nn.checks import require_tensor

# CTC characters for the ctc task (index 0 of the logits is the blank): space, apostrophe, a-z
DEFAULT_VOCABULARY = " 'abcdefghijklmnopqrstuvwxyz"


def check_vocabulary(vocabulary: str) -> None:
    from .spec import check

    check(len(vocabulary) > 0, "vocabulary must hold at least one character")
    repeated = sorted({c for c in vocabulary if vocabulary.count(c) > 1})
    check(not repeated, f"vocabulary characters must be unique; repeated: {repeated}")


class AudioEncoder(nn.Module):
    """Base of the audio backbones; a family defines ``frontend``, `time_lengths` and `encode`."""

    modality = "audio"
    architecture = "encoder"
    frontend: AudioFrontEnd

    def time_lengths(self, frame_lengths: Tensor, num_frames: int) -> tuple[Tensor, int]:
        """(valid time steps [B], time steps in all) of the features for spectrograms of ``num_frames``."""
        raise NotImplementedError

    def encode(self, spectrogram: Tensor, frame_lengths: Tensor | None) -> Tensor:
        """Spectrogram [B, n_mels, frames] (+ valid frames [B]) -> features [B, N, D]."""
        raise NotImplementedError

    def _lengths(self, waveform: Tensor | None, spectrogram: Tensor | None, attention_mask: Tensor | None,
                 sample_rate: int | None) -> tuple[int, Tensor | None, Tensor | None]:
        """(frames of the spectrogram, valid frames [B] or None, valid samples [B] or None), checked,
        without computing the spectrogram."""
        if (waveform is None) == (spectrogram is None):
            raise ValueError("pass a waveform [batch, samples] (model(waveform)) or a spectrogram "
                             f"[batch, {self.frontend.n_mels}, frames] (model(spectrogram=...)), exactly one of them")
        check_sample_rate(sample_rate, self.frontend.sample_rate)
        if spectrogram is not None:
            expected = f"[batch, {self.frontend.n_mels}, frames]"
            spectrogram = require_tensor(spectrogram, "spectrogram", expected)
            if spectrogram.dim() != 3 or spectrogram.shape[1] != self.frontend.n_mels:
                raise ValueError(f"spectrogram must be {expected} (n_mels, then time), got shape "
                                 f"{list(spectrogram.shape)}")
            if not spectrogram.is_floating_point():
                raise TypeError(f"spectrogram must be a float tensor (cast to the model's dtype inside), got "
                                f"{spectrogram.dtype}; compute it with model.backbone.frontend(waveform)")
            frames = spectrogram.shape[-1]
            lengths = None if attention_mask is None else lengths_from_mask(attention_mask, frames, "frames")
            return frames, lengths, None
        check_waveform(waveform)
        samples = waveform.shape[-1]
        frames = self.frontend.num_frames(samples)
        if attention_mask is None:
            return frames, None, None
        sample_lengths = lengths_from_mask(attention_mask, samples, "samples")
        return frames, self.frontend.frame_lengths(sample_lengths, samples), sample_lengths

    def feature_mask(self, waveform: Tensor | None = None, *, spectrogram: Tensor | None = None,
                     attention_mask: Tensor | None = None, sample_rate: int | None = None) -> Tensor | None:
        """Keep-mask [B, T] over the features' time steps for an input-level ``attention_mask`` (None without one)."""
        frames, frame_lengths, _ = self._lengths(waveform, spectrogram, attention_mask, sample_rate)
        if frame_lengths is None:
            return None
        lengths, steps = self.time_lengths(frame_lengths, frames)
        return (torch.arange(steps, device=lengths.device)[None] < lengths[:, None]).long()  # [B, T]

    def forward(self, waveform: Tensor | None = None, *, spectrogram: Tensor | None = None,
                attention_mask: Tensor | None = None, sample_rate: int | None = None) -> Tensor:
        """Features [B, N, D] of a waveform [B, samples] at the card's rate or a spectrogram [B, n_mels, frames]."""
        _, frame_lengths, sample_lengths = self._lengths(waveform, spectrogram, attention_mask, sample_rate)
        if spectrogram is None:
            spectrogram = self.frontend(waveform, sample_lengths)  # [B, n_mels, frames], fp32
        return self.encode(spectrogram, frame_lengths)
