"""Whisper's encoder against transformers' WhisperEncoder: same weights through our key map, same features."""
from __future__ import annotations

import warnings

import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperEncoder

import zoo
from zoo.weights.errors import WeightsError

TOL = 1e-4
TINY = dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536, num_mel_bins=80)


def hf_directory(tmp_path, **shape):
    """A WhisperForConditionalGeneration with random weights (biases, norms perturbed), saved; tiny decoder."""
    config = WhisperConfig(**shape, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                           vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    reference = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, param in reference.named_parameters():
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
    reference.save_pretrained(tmp_path)
    return reference.model.encoder, tmp_path


def create(card, path, **overrides):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Whisper checkpoint: only its audio encoder")
        return zoo.create(card, weights=path, **overrides).eval()


def test_tiny_matches_whisper_encoder(tmp_path):
    reference, path = hf_directory(tmp_path, **TINY)
    ours = create("whisper-encoder-tiny", path)
    features = torch.randn(2, 80, 3000)
    with torch.no_grad():
        expected = reference(features).last_hidden_state
        got = ours(spectrogram=features)
        assert torch.equal(ours.forward_features(spectrogram=features), got)
    assert got.shape == (2, 1500, 384)
    assert (got - expected).abs().max().item() < TOL


def test_decoder_is_reported_and_encoder_weights_load_strictly(tmp_path):
    _, path = hf_directory(tmp_path, **TINY)
    with pytest.warns(UserWarning, match=r"only its audio encoder is used; \d+ decoder tensors were not loaded"):
        zoo.create("whisper-encoder-tiny", weights=path)
    with pytest.raises(WeightsError, match="d_model=384 but dim=512"):
        create("whisper-encoder-base", path)


def test_learned_positions_are_refused(tmp_path):
    reference, path = hf_directory(tmp_path, **TINY)
    state = {f"model.encoder.{k}": v for k, v in reference.state_dict().items()}
    state["model.encoder.embed_positions.weight"] = torch.randn(1500, 384)
    torch.save(state, tmp_path / "changed.pth")
    with pytest.raises(WeightsError, match="not Whisper's sinusoids"):
        create("whisper-encoder-tiny", tmp_path / "changed.pth")


def test_shorter_inputs_slice_the_positions():
    model = zoo.create("whisper-encoder-tiny", depth=1).eval()
    with torch.no_grad():
        short = model(spectrogram=torch.randn(1, 80, 600))
    assert short.shape == (1, 300, 384)
    with pytest.raises(ValueError, match="Whisper expects the mel input features to be of length 3000"):
        WhisperEncoder(WhisperConfig(**{**TINY, "encoder_layers": 1}))(torch.randn(1, 80, 600))
    with pytest.raises(ValueError, match=r"3002 frames are more than this encoder takes \(3000, 30 s\)"):
        model(spectrogram=torch.randn(1, 80, 3002))


def test_padded_clips_match_the_clip_alone():
    """A clip padded in a batch gives the features and pooled logits it gives alone (real steps only)."""
    model = zoo.create("whisper-encoder-tiny", task="audio-classification", depth=2, num_classes=4).eval()
    short, long = 0.1 * torch.randn(16000), 0.1 * torch.randn(24000)
    batch = torch.stack([torch.nn.functional.pad(short, (0, 8000), value=0.7), long])  # garbage padding
    mask = torch.ones(2, 24000, dtype=torch.long)
    mask[0, 16000:] = 0
    with torch.no_grad():
        alone = model.forward_features(short[None])
        padded = model.forward_features(batch, attention_mask=mask)
        logits = model(batch, attention_mask=mask)
        assert torch.allclose(model(short[None])[0], logits[0], atol=1e-5)
    steps = alone.shape[1]
    assert steps == 50 and torch.allclose(padded[0, :steps], alone[0], atol=1e-5)
    assert model.feature_mask(batch, attention_mask=mask).sum(dim=1).tolist() == [50, 75]


def test_waveform_goes_through_the_front_end_and_checks_its_rate():
    model = zoo.create("whisper-encoder-tiny", depth=1).eval()
    waveform = 0.1 * torch.randn(2, 8000)
    with torch.no_grad():
        direct = model(waveform, sample_rate=16000)
        via = model(spectrogram=model.backbone.frontend(waveform))
    assert torch.equal(direct, via) and direct.shape == (2, 25, 384)
    with pytest.raises(ValueError, match=r"takes audio at 16000 Hz, got sample_rate=44100; resample first: "
                                         r"torchaudio.functional.resample\(waveform, 44100, 16000\)"):
        model(waveform, sample_rate=44100)
    with pytest.raises(ValueError, match="exactly one of them"):
        model(waveform, spectrogram=torch.randn(2, 80, 50))
    with pytest.raises(ValueError, match=r"spectrogram must be \[batch, 80, frames\]"):
        model(spectrogram=torch.randn(2, 50, 80))
    with pytest.raises(ValueError, match=r"at most 480000 samples \(30 s at 16000 Hz\)"):
        model(torch.zeros(1, 480001))
    with pytest.raises(ValueError, match="right-padded"):
        model(waveform, attention_mask=torch.tensor([[0] * 4000 + [1] * 4000] * 2))
    with pytest.raises(ValueError, match=r"attention_mask must be \[batch, 8000\] over the samples"):
        model(waveform, attention_mask=torch.ones(2, 50))


def test_bfloat16_model_keeps_a_float32_front_end():
    model = zoo.create("whisper-encoder-tiny", depth=1).eval().to(torch.bfloat16)
    with torch.no_grad():
        out = model(0.1 * torch.randn(1, 8000))
    assert out.dtype == torch.bfloat16 and model.backbone.frontend.mel.mel_scale.fb.dtype == torch.float32


@pytest.mark.parametrize("card", zoo.list_models("whisper-*"))
def test_card_params_match_the_built_model(card):
    with torch.device("meta"):
        model = zoo.create(card)
    assert sum(p.numel() for p in model.parameters()) == zoo.info(card)["params"]
    assert zoo.info(card)["meta"]["sample_rate"] == model.spec.sample_rate


def test_card_params_match_transformers():
    """Ours = WhisperEncoder minus its embed_positions table (sinusoids, computed here, not stored)."""
    with torch.device("meta"):
        reference = WhisperEncoder(WhisperConfig(**TINY))
    expected = sum(p.numel() for p in reference.parameters()) - 1500 * 384
    assert zoo.info("whisper-encoder-tiny")["params"] == expected


def test_grad_checkpointing_gives_same_gradients():
    model = zoo.create("whisper-encoder-tiny", task="audio-classification", depth=2, num_classes=3)
    features, labels = torch.randn(2, 80, 40), torch.tensor([0, 2])

    def grads():
        model.zero_grad()
        model.loss(model(spectrogram=features), labels).backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    model.set_grad_checkpointing()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, grads()))
