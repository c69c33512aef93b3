"""Audio front ends against Hugging Face's feature extractors, on a synthesized chirp plus noise."""
from __future__ import annotations

import math

import pytest
import torch
from transformers import ASTFeatureExtractor, WhisperFeatureExtractor

from zoo.data.audio import KaldiFbank, WhisperLogMel, check_sample_rate

SR = 16000
# Whisper: our mel filters come from torchaudio in float32, Hugging Face's from numpy in float64
# (cast to float32); the log-mel values lie in about [-1.5, 1.5] and differ by ~1e-5 (a relative
# error of ~1e-6 in the filters, through log10 and the /4 scaling). 1e-4 leaves 10x headroom and
# is still far below any real difference (one mel bin off, a missing frame, another floor: >= 1e-2).
WHISPER_TOL = 1e-4
# AST: both sides call torchaudio.compliance.kaldi.fbank with the same settings, so the
# results are identical up to float32 rounding of the normalisation.
FBANK_TOL = 1e-6


def chirp(seconds: float, seed: int = 0) -> torch.Tensor:
    """A 100 Hz -> 4 kHz linear chirp plus white noise, [samples]."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    phase = 2 * math.pi * (100 * t + (4000 - 100) / (2 * seconds) * t**2)
    return (0.5 * torch.sin(phase) + 0.05 * torch.randn(t.shape, generator=gen, dtype=torch.float64)).float()


@pytest.mark.parametrize("padding", ["max_length", "longest"])
def test_whisper_logmel_matches_whisper_feature_extractor(padding):
    clips = [chirp(3.3), chirp(2.0, seed=1)]
    reference = WhisperFeatureExtractor(feature_size=80)(
        [c.numpy() for c in clips], sampling_rate=SR, padding=padding, return_tensors="pt").input_features
    total = reference.shape[-1] * 160
    batch = torch.stack([torch.nn.functional.pad(c, (0, total - c.numel())) for c in clips])  # zero padding, as HF
    ours = WhisperLogMel(80)(batch)
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max().item() < WHISPER_TOL


def test_whisper_logmel_128_bins():
    clip = chirp(1.0)
    reference = WhisperFeatureExtractor(feature_size=128)(
        clip.numpy(), sampling_rate=SR, padding="longest", return_tensors="pt").input_features
    assert (WhisperLogMel(128)(clip[None]) - reference).abs().max().item() < WHISPER_TOL


def test_fbank_matches_ast_feature_extractor():
    clips = [chirp(3.3), chirp(1.2, seed=1)]
    reference = ASTFeatureExtractor()([c.numpy() for c in clips], sampling_rate=SR, return_tensors="pt").input_values
    longest = max(c.numel() for c in clips)
    batch = torch.stack([torch.nn.functional.pad(c, (0, longest - c.numel())) for c in clips])
    lengths = torch.tensor([c.numel() for c in clips])
    ours = KaldiFbank()(batch, lengths)  # [B, 128, 1024]; HF: [B, 1024, 128]
    assert ours.shape == (2, 128, 1024)
    assert (ours.transpose(1, 2) - reference).abs().max().item() < FBANK_TOL


def test_padding_never_changes_a_clip():
    clip = chirp(1.0)
    batch = torch.stack([torch.nn.functional.pad(clip, (0, 8000)), chirp(1.5, seed=2)])
    batch[0, clip.numel():] = 0.3  # garbage in the padding
    lengths = torch.tensor([clip.numel(), batch.shape[1]])
    fbank = KaldiFbank(n_mels=64, num_frames=200)
    assert torch.equal(fbank(batch, lengths)[0], fbank(clip[None])[0])
    logmel = WhisperLogMel(80)
    frames = clip.numel() // 160
    padded = logmel(batch, lengths)
    assert torch.equal(padded[0, :, :frames], logmel(clip[None])[0]) and not padded[0, :, frames:].any()
    assert torch.equal(padded[1], logmel(batch[1:])[0])


def test_front_ends_are_not_saved_and_stay_float32():
    logmel = WhisperLogMel(80)
    assert logmel.state_dict() == {} and KaldiFbank().state_dict() == {}
    window = logmel.mel.spectrogram.window.clone()
    logmel.to(torch.bfloat16)
    assert logmel.mel.spectrogram.window.dtype == torch.float32 and torch.equal(logmel.mel.spectrogram.window, window)
    assert logmel(chirp(0.5)[None].bfloat16()).dtype == torch.float32


def test_bad_inputs_are_clear():
    logmel = WhisperLogMel(80, max_samples=SR)
    with pytest.raises(ValueError, match=r"add the batch dimension with waveform\[None\]"):
        logmel(chirp(0.5))
    with pytest.raises(ValueError, match=r"mix down first with waveform.mean\(dim=1\)"):
        logmel(torch.randn(2, 2, 8000))
    with pytest.raises(TypeError, match="float tensor"):
        logmel(torch.zeros(1, 8000, dtype=torch.int16))
    with pytest.raises(ValueError, match="at least 400 samples"):
        logmel(torch.randn(1, 100))
    with pytest.raises(ValueError, match=r"at most 16000 samples \(1 s at 16000 Hz\)"):
        logmel(torch.randn(1, SR + 1))
    with pytest.raises(ValueError, match=r"longer than this model takes"):
        KaldiFbank(num_frames=100)(torch.randn(1, SR * 2))
    with pytest.raises(ValueError, match=r"torchaudio.functional.resample\(waveform, 44100, 16000\)"):
        check_sample_rate(44100, 16000)
    check_sample_rate(16000, 16000)
    check_sample_rate(None, 16000)


def test_fbank_frames_fill_exactly_num_frames():
    fbank = KaldiFbank(n_mels=32, num_frames=50)
    assert fbank(torch.randn(1, fbank.max_samples)).shape == (1, 32, 50)
    frames = fbank.frame_lengths(torch.tensor([fbank.max_samples, 400, 559, 560]), fbank.max_samples)
    assert frames.tolist() == [50, 1, 1, 2]
