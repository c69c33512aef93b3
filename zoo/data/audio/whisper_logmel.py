"""Whisper's log-mel front end: torchaudio's MelSpectrogram with Whisper's log, floor and scaling."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import AudioFrontEnd, non_persistent


class WhisperLogMel(AudioFrontEnd):
    """Waveform [B, samples] at 16 kHz -> log-mel [B, n_mels, samples // hop_length].

    Power STFT (400-point periodic Hann window, hop 160, centred with reflect padding),
    Slaney-scale and -normalised mel filters from 0 to 8 kHz, then Whisper's
    ``log10(max(mel, 1e-10))``, floored at (max - 8) per clip and mapped by ``(x + 4) / 4``.
    The last STFT frame is dropped, as Whisper does, so 30 s give exactly 3000 frames.
    With ``lengths``, the per-clip maximum is taken over the clip's own frames only.
    """

    def __init__(self, n_mels: int = 80, *, sample_rate: int = 16000, n_fft: int = 400, hop_length: int = 160,
                 max_samples: int | None = None) -> None:
        super().__init__()
        import torchaudio

        self.sample_rate, self.n_mels, self.hop_length = sample_rate, n_mels, hop_length
        self.min_samples, self.max_samples = n_fft, max_samples  # reflect padding needs > n_fft / 2
        with torch.device("cpu"):  # real filter values even when the model is built on the meta device
            self.mel = non_persistent(torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, f_min=0.0,
                f_max=sample_rate / 2, power=2.0, center=True, pad_mode="reflect", norm="slaney",
                mel_scale="slaney",
            ))

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop_length

    def frame_lengths(self, sample_lengths: Tensor, num_samples: int) -> Tensor:
        # a frame is real when its centre sample is: ceil(length / hop), at most the frames there are
        frames = torch.div(sample_lengths + self.hop_length - 1, self.hop_length, rounding_mode="floor")
        return frames.clamp(max=self.num_frames(num_samples))

    def _features(self, waveform: Tensor, lengths: Tensor | None) -> Tensor:
        mel = self.mel(waveform)[..., :-1]  # [B, n_mels, S // hop]
        log_mel = mel.clamp(min=1e-10).log10()
        scored = log_mel
        if lengths is not None:
            real = torch.arange(log_mel.shape[-1], device=log_mel.device) < self.frame_lengths(
                lengths, waveform.shape[1])[:, None]  # [B, frames]
            scored = log_mel.masked_fill(~real[:, None, :], float("-inf"))
        peak = scored.amax(dim=(1, 2), keepdim=True)  # [B, 1, 1]
        log_mel = torch.maximum(log_mel, peak - 8.0)
        return (log_mel + 4.0) / 4.0  # [B, n_mels, frames]
