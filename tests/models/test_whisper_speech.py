"""Whisper speech-to-text against transformers' WhisperForConditionalGeneration and openai-whisper,
random weights through our key maps: logits, and generate token for token (greedy, beams, forced and
detected languages, a padded batch of clips of different lengths)."""
from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
import transformers

import zoo
from parity_helpers import perturbed
from zoo.data.text.whisper_tokens import tokens_for_vocab_size

SMALL = dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
             encoder_ffn_dim=128, decoder_ffn_dim=128)
OURS_SMALL = dict(dim=64, depth=2, decoder_depth=2, num_heads=2, mlp_dim=128)
RATE = 16000


def hf_model(vocab_size: int = 51865, **sizes) -> transformers.WhisperForConditionalGeneration:
    """A random reference with the generation settings a hub checkpoint's generation_config.json holds."""
    tokens = tokens_for_vocab_size(vocab_size)
    config = transformers.WhisperConfig(vocab_size=vocab_size, pad_token_id=tokens.eot, bos_token_id=tokens.eot,
                                        eos_token_id=tokens.eot, decoder_start_token_id=tokens.sot, **sizes)
    model = perturbed(transformers.WhisperForConditionalGeneration(config))
    settings = model.generation_config
    if tokens.multilingual:  # English-only checkpoints have no language or task settings
        settings.lang_to_id = {f"<|{code}|>": i for code, i in tokens.language_ids.items()}
        settings.task_to_id = {"transcribe": tokens.transcribe, "translate": tokens.translate}
    settings.no_timestamps_token_id = tokens.no_timestamps
    settings.is_multilingual = tokens.multilingual
    settings.suppress_tokens = tokens.always_suppressed()
    settings.begin_suppress_tokens = [220, tokens.eot]
    return model


def enliven(model: transformers.WhisperForConditionalGeneration) -> transformers.WhisperForConditionalGeneration:
    """A random tied decoder repeats one token forever and barely listens to the audio: larger weights,
    far larger positions and a stronger cross-attention make its transcripts vary with step and clip."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and name != "model.encoder.embed_positions.weight":
                param.normal_(0.0, 0.05)
        decoder = model.model.decoder
        decoder.embed_positions.weight.mul_(20.0)
        decoder.layer_norm.bias.zero_()
        for layer in decoder.layers:
            layer.encoder_attn.out_proj.weight.mul_(4.0)
            layer.encoder_attn.v_proj.weight.mul_(4.0)
    return model


def clips() -> list[torch.Tensor]:
    """Three clips of 3 s, 7 s and 1 s: tones at different pitches with a little noise."""
    noise = torch.Generator().manual_seed(1)
    return [0.5 * torch.sin(2 * torch.pi * pitch * torch.arange(RATE * seconds) / RATE)
            + 0.05 * torch.randn(RATE * seconds, generator=noise) for seconds, pitch in ((3, 300), (7, 1700), (1, 5000))]


def padded(waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(w) for w in waves)
    batch, mask = torch.zeros(len(waves), longest), torch.zeros(len(waves), longest, dtype=torch.long)
    for row, wave in enumerate(waves):
        batch[row, : len(wave)], mask[row, : len(wave)] = wave, 1
    return batch, mask


def features(waves: list[torch.Tensor], n_mels: int = 80) -> torch.Tensor:
    """transformers' own log-mel of each clip, zero-padded to 30 s: [B, n_mels, 3000]."""
    extractor = transformers.WhisperFeatureExtractor(feature_size=n_mels)
    return extractor([w.numpy() for w in waves], sampling_rate=RATE, return_tensors="pt").input_features


def ours_from(reference, path, card: str = "whisper-tiny", **overrides) -> torch.nn.Module:
    reference.save_pretrained(path)
    return zoo.create(card, weights=path, **overrides).eval()


@pytest.fixture(scope="module")
def lively(tmp_path_factory):
    torch.manual_seed(0)
    reference = enliven(hf_model(**SMALL))
    return reference, ours_from(reference, tmp_path_factory.mktemp("whisper-lively"), **OURS_SMALL)


@pytest.mark.parametrize("shape", ["two-layer", "tiny"])
def test_logits_match_transformers(shape, tmp_path):
    """Logits for the same log-mel and decoder ids; `tiny` is whisper-tiny's full shape."""
    torch.manual_seed(0)
    sizes = SMALL if shape == "two-layer" else dict(d_model=384, encoder_layers=4, decoder_layers=4,
                                                   encoder_attention_heads=6, decoder_attention_heads=6,
                                                   encoder_ffn_dim=1536, decoder_ffn_dim=1536)
    reference = hf_model(**sizes)
    ours = ours_from(reference, tmp_path, **(OURS_SMALL if shape == "two-layer" else {}))
    spectrogram = torch.randn(2, 80, 3000)
    ids = torch.randint(0, 50257, (2, 12))
    ids[:, :4] = torch.tensor(tokens_for_vocab_size(51865).prompt("de", "transcribe"))
    with torch.no_grad():
        expected = reference(input_features=spectrogram, decoder_input_ids=ids).logits
        got = ours(spectrogram=spectrogram, decoder_input_ids=ids)
    assert got.shape == expected.shape == (2, 12, 51865)
    assert (got - expected).abs().max() < 1e-4


def test_waveforms_of_different_lengths_match_transformers_features(lively):
    """A padded batch of waveforms (attention_mask) gives what transformers gives for each clip's features."""
    reference, ours = lively
    waves = clips()
    batch, mask = padded(waves)
    ids = torch.tensor([tokens_for_vocab_size(51865).prompt("en", "transcribe")] * 3)
    with torch.no_grad():
        expected = reference(input_features=features(waves), decoder_input_ids=ids).logits
        got = ours(batch, attention_mask=mask, decoder_input_ids=ids)
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize("options", [
    dict(language="de", task="transcribe"),
    dict(language="french", task="translate"),
    dict(task="transcribe"),  # the language of each clip detected first
    dict(language="de", task="transcribe", num_beams=4),
    dict(task="translate", num_beams=4),
], ids=["greedy-de", "greedy-translate", "greedy-detect", "beams-de", "beams-detect"])
def test_generate_matches_transformers(lively, options):
    """Token for token, 24 new tokens, for the padded batch of three clips of 1-7 s; transformers returns
    the new tokens, we return the prompt too (the detected languages are in it)."""
    reference, ours = lively
    waves = clips()
    batch, mask = padded(waves)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference.generate(features(waves), max_new_tokens=24, **options)
        got = ours.generate(batch, attention_mask=mask, max_new_tokens=24, **options)
    prompt = 4
    assert expected.shape[1] == 24
    assert torch.equal(got[:, prompt:], expected)
    if "language" not in options:  # the detected languages are transformers' too
        detected = reference.detect_language(features(waves))
        assert torch.equal(got[:, 1], detected)
    assert len({tuple(row) for row in got.tolist()}) > 1  # the clips were heard: not one transcript for all


def test_english_only_model_matches_transformers(tmp_path):
    """A `.en` vocabulary (51864): the prompt is <|startoftranscript|><|notimestamps|> and nothing is detected."""
    torch.manual_seed(0)
    reference = enliven(hf_model(vocab_size=51864, **SMALL))
    ours = ours_from(reference, tmp_path, "whisper-tiny.en", **OURS_SMALL)
    waves = clips()[:2]
    batch, mask = padded(waves)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference.generate(features(waves), max_new_tokens=24)
        got = ours.generate(batch, attention_mask=mask, max_new_tokens=24)
    assert got[:, :2].tolist() == [[50257, 50362]] * 2
    assert torch.equal(got[:, 2:], expected)


OURS_OPENAI = {**OURS_SMALL, "mlp_dim": 256}  # openai_pair's shape: OpenAI's MLPs are 4 x wide


def openai_pair(whisper, init, tmp_path) -> tuple[torch.nn.Module, torch.nn.Module, object]:
    """openai-whisper's own 2-layer model (random weights from its ModelDimensions, then ``init``), saved as its
    checkpoints are ({"dims", "model_state_dict"}), and ours loaded from that file: (theirs, ours, the file)."""
    torch.manual_seed(0)
    dims = whisper.model.ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                                         n_audio_layer=2, n_vocab=51865, n_text_ctx=448, n_text_state=64,
                                         n_text_head=2, n_text_layer=2)
    reference = init(whisper.model.Whisper(dims)).eval()
    path = tmp_path / "tiny.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": reference.state_dict()}, path)
    return reference, zoo.create("whisper-tiny", weights=path, **OURS_OPENAI).eval(), path


def test_openai_whisper_logits_and_weights(tmp_path):
    """openai-whisper's own model, random weights from its ModelDimensions, saved as its checkpoints are
    ({"dims", "model_state_dict"}): our logits equal its logits."""
    whisper = pytest.importorskip("whisper")

    def init(reference):
        with torch.no_grad():
            reference.decoder.positional_embedding.normal_(0.0, 0.02)  # created with torch.empty: load_model fills it
        return perturbed(reference)

    reference, ours, path = openai_pair(whisper, init, tmp_path)
    spectrogram = torch.randn(2, 80, 3000)
    ids = torch.randint(0, 50257, (2, 10))
    ids[:, :4] = torch.tensor(tokens_for_vocab_size(51865).prompt("en", "transcribe"))
    with torch.no_grad():
        expected = reference(spectrogram, ids)
        got = ours(spectrogram=spectrogram, decoder_input_ids=ids)
    assert (got - expected).abs().max() < 1e-4
    with pytest.raises(zoo.weights.WeightsError, match="n_text_layer=2 but decoder_depth=3"):
        zoo.create("whisper-tiny", weights=path, **{**OURS_OPENAI, "decoder_depth": 3})


def test_encoder_cards_still_load_the_encoder_of_a_full_checkpoint(tmp_path):
    torch.manual_seed(0)
    reference = hf_model(**SMALL)
    reference.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="only its audio encoder is used"):
        encoder = zoo.create("whisper-encoder-tiny", weights=tmp_path, dim=64, depth=2, num_heads=2, mlp_dim=128)
    spectrogram = torch.randn(1, 80, 3000)
    with torch.no_grad():
        expected = reference.model.encoder(spectrogram).last_hidden_state
        got = encoder.eval()(spectrogram=spectrogram)
    assert (got - expected).abs().max() < 1e-4


def test_labels_train_like_transformers(lively):
    """With labels (decoder inputs shifted from them) the loss is transformers' loss."""
    reference, ours = lively
    waves = clips()[:2]
    batch, mask = padded(waves)
    tokens = tokens_for_vocab_size(51865)
    labels = torch.tensor([tokens.prompt("en", "transcribe")[1:] + [400, 500, 600, tokens.eot]] * 2)
    labels[1, -2:] = -100
    with torch.no_grad():
        expected = reference(input_features=features(waves), labels=labels).loss
        logits = ours(batch, attention_mask=mask, labels=labels)
    assert abs(float(ours.loss(logits, labels)) - float(expected)) < 1e-4


def test_openai_whisper_decode_matches_generate(tmp_path):
    """openai-whisper's own greedy `decode` (its prompt, SuppressBlank, SuppressTokens from its tokenizer,
    its KV cache) writes the tokens our generate writes with our WhisperTokenizer of its vocabulary file."""
    whisper = pytest.importorskip("whisper")
    from pathlib import Path

    from zoo.data import WhisperTokenizer

    def lively(reference):  # as enliven() makes transformers' model
        with torch.no_grad():
            for name, param in reference.named_parameters():
                if param.dim() == 1:
                    param.add_(torch.randn_like(param) * 0.2)
                else:
                    param.normal_(0.0, 0.05)
            reference.decoder.positional_embedding.mul_(20.0)
            reference.decoder.ln.bias.zero_()
            for block in reference.decoder.blocks:
                block.cross_attn.out.weight.mul_(4.0)
                block.cross_attn.value.weight.mul_(4.0)
        return reference

    reference, ours, _ = openai_pair(whisper, lively, tmp_path)
    ours.tokenizer = WhisperTokenizer.from_tiktoken(Path(whisper.__file__).parent / "assets" / "multilingual.tiktoken")
    waves = clips()
    mel = torch.stack([whisper.log_mel_spectrogram(whisper.pad_or_trim(w)) for w in waves])  # [3, 80, 3000]
    options = whisper.DecodingOptions(language="de", without_timestamps=True, fp16=False, sample_len=24)
    expected = whisper.decode(reference, mel, options)
    got = ours.generate(spectrogram=mel, language="de", max_new_tokens=24)
    for row, result in zip(got.tolist(), expected):
        new = row[4:]
        assert new[: len(result.tokens)] == result.tokens
        assert len(result.tokens) == 24 or new[len(result.tokens)] == ours.spec.tokens.eot
    assert len({tuple(r.tokens) for r in expected}) > 1
