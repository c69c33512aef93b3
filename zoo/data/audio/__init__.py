"""Audio front ends: waveforms [B, samples] -> spectrograms [B, n_mels, frames], owned by the backbones.

    from zoo.data.audio import WhisperLogMel, KaldiFbank
    features = WhisperLogMel(n_mels=80)(waveform)           # Whisper's log-mel, [B, 80, samples // 160]
    features = KaldiFbank(n_mels=128, num_frames=1024)(waveform)  # AST's normalised fbank, [B, 128, 1024]
"""
from .base import AudioFrontEnd, check_sample_rate, check_waveform, lengths_from_mask
from .fbank import KaldiFbank
from .whisper_logmel import WhisperLogMel

__all__ = ["AudioFrontEnd", "KaldiFbank", "WhisperLogMel", "check_sample_rate", "check_waveform",
           "lengths_from_mask"]
