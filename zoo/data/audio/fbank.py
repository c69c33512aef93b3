"""AST's front end: Kaldi-compatible log-mel filter banks (torchaudio), padded and normalised."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import AudioFrontEnd

AUDIOSET_MEAN, AUDIOSET_STD = -4.2677393, 4.5689974  # AST's fbank statistics over AudioSet


class KaldiFbank(AudioFrontEnd):
    """Waveform [B, samples] at 16 kHz -> normalised fbank [B, n_mels, num_frames].

    ``torchaudio.compliance.kaldi.fbank`` per clip (25 ms Hann windows every 10 ms, no
    dither, ``n_mels`` bins), zero-padded to ``num_frames`` frames, then AST's
    ``(fbank - mean) / (2 * std)`` with the AudioSet statistics, as Hugging Face's
    ``ASTFeatureExtractor``. With ``lengths``, each clip is analysed over its own samples only.
    Clips longer than ``num_frames`` frames are an error (not silently cut).
    """

    def __init__(self, n_mels: int = 128, num_frames: int = 1024, *, sample_rate: int = 16000,
                 mean: float = AUDIOSET_MEAN, std: float = AUDIOSET_STD) -> None:
        super().__init__()
        self.sample_rate, self.n_mels, self.num_frames_out = sample_rate, n_mels, num_frames
        self.mean, self.std = mean, std
        self.window = sample_rate * 25 // 1000  # samples per frame
        self.shift = sample_rate * 10 // 1000
        self.min_samples = self.window
        self.max_samples = self.window + self.shift * (num_frames - 1) + self.shift - 1  # still num_frames frames

    def num_frames(self, num_samples: int) -> int:
        return self.num_frames_out

    def frame_lengths(self, sample_lengths: Tensor, num_samples: int) -> Tensor:
        # Kaldi's snip_edges framing: a frame needs a whole window of real samples
        return torch.div(sample_lengths - self.window, self.shift, rounding_mode="floor") + 1

    def _features(self, waveform: Tensor, lengths: Tensor | None) -> Tensor:
        from torchaudio.compliance import kaldi

        clips = []
        for i in range(waveform.shape[0]):
            clip = waveform[i] if lengths is None else waveform[i, : int(lengths[i])]
            fbank = kaldi.fbank(clip[None], sample_frequency=self.sample_rate, window_type="hanning",
                                num_mel_bins=self.n_mels)  # [frames, n_mels]
            fbank = F.pad(fbank, (0, 0, 0, self.num_frames_out - fbank.shape[0]))  # zero frames, as AST pads
            clips.append(fbank.T)
        fbank = torch.stack(clips)  # [B, n_mels, num_frames]
        return (fbank - self.mean) / (2 * self.std)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_frames={self.num_frames_out}"
