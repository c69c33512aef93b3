"""Whisper's log-mel front end: torchaudio's MelSpectrogram with Whisper's log, floor and scaling."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import AudioFrontEnd, non_persistent


class WhisperLogMel(AudioFrontEnd):
    """Waveform [B, samples] at 16 kHz -> log-mel [B, n_mels, samples // hop_length].

    Power STFT (400-point periodic Hann window, hop 160, centred with reflect padding),
    Slaney-scale and -normalised mel filters from 0 to 8 kHz, then Whisper's
    ``log10(max(mel, 1e-10))``, floored at (max - 8) per clip and mapped by ``(x + 4) / 4``.
    The last STFT frame is dropped, as Whisper does, so 30 s give exactly 3000 frames.
    With ``lengths``, each clip is analysed on its own samples, exactly as if it were alone
    (its frames are followed by zeros); Whisper's reference instead zero-pads every clip to
    30 s and analyses the padding too: pass zero-padded audio without a mask to reproduce it.
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
        # the frames a clip of that many samples has on its own (the last STFT frame dropped, as always)
        return torch.div(sample_lengths, self.hop_length, rounding_mode="floor")

    def _log_mel(self, waveform: Tensor) -> Tensor:
        mel = self.mel(waveform)[..., :-1]  # [B, n_mels, S // hop]
        log_mel = mel.clamp(min=1e-10).log10()
        peak = log_mel.amax(dim=(1, 2), keepdim=True)  # [B, 1, 1]: the floor is per clip
        return (torch.maximum(log_mel, peak - 8.0) + 4.0) / 4.0

    def _features(self, waveform: Tensor, lengths: Tensor | None) -> Tensor:
        if lengths is None:
            return self._log_mel(waveform)  # [B, n_mels, frames]
        frames = self.num_frames(waveform.shape[1])
        clips = [self._log_mel(waveform[i : i + 1, : int(n)]) for i, n in enumerate(lengths.tolist())]
        return torch.cat([F.pad(c, (0, frames - c.shape[-1])) for c in clips])  # padding frames hold zeros
