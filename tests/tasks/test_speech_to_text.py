"""speech-to-text beyond parity: transcribe (files, lists, long audio in windows, resampling), the tokenizer
travelling with the model, `zoo transcribe`, and clear errors for bad input."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.data import WhisperTokenizer, write_wav

RATE = 16000
WINDOW = 2 * 50 * 160  # max_positions=50: 1 s windows
SPEC = dict(n_mels=16, dim=32, depth=1, decoder_depth=1, num_heads=2, mlp_dim=64, max_positions=50, text_positions=40)
SAY = dict(min_new_tokens=6, max_new_tokens=6,  # random weights: six text tokens each (no end, no special token)
           suppress_tokens=list(range(257, 1766)))  # the byte-level vocabulary's special tokens after <|endoftext|>


def tiny(tokenizer: WhisperTokenizer, card: str = "whisper-tiny.en", **spec) -> torch.nn.Module:
    torch.manual_seed(0)
    layout = tokenizer.layout
    model = zoo.create(card, **{**SPEC, "vocab_size": layout.vocab_size, "num_languages": layout.num_languages,
                                "multilingual": layout.multilingual, **spec}).eval()
    model.tokenizer = tokenizer
    return model


@pytest.fixture(scope="module")
def english():
    return tiny(WhisperTokenizer.byte_level())


@pytest.fixture(scope="module")
def multilingual():
    return tiny(WhisperTokenizer.byte_level(num_languages=4, multilingual=True), "whisper-tiny")


def tone(seconds: float, pitch: float = 440.0) -> torch.Tensor:
    t = torch.arange(int(RATE * seconds)) / RATE
    return 0.5 * torch.sin(2 * torch.pi * pitch * t)


def test_transcribe_decodes_what_generate_produced(english):
    wave = tone(0.7)
    ids = english.generate(wave[None], **SAY)  # [1, 2 + 6]: <|startoftranscript|><|notimestamps|> first
    text = english.transcribe(wave, **SAY)
    assert text == english.tokenizer.decode(ids[0, 2:].tolist(), skip_special_tokens=True).strip()
    assert text  # six tokens: not an empty transcript


def test_long_audio_is_transcribed_window_by_window_in_order(english):
    """2.5 windows: three windows, transcribed as if each were its own clip, joined in order."""
    wave = torch.cat([tone(1.0, 300), tone(1.0, 2000), tone(0.5, 5000)])
    assert len(wave) == 2.5 * WINDOW
    pieces = [english.transcribe(piece, **SAY) for piece in wave.split(WINDOW)]
    assert len(pieces) == 3 and all(pieces)
    assert english.transcribe(wave, **SAY) == " ".join(pieces)
    assert english.transcribe(wave, batch_size=1, **SAY) == " ".join(pieces)  # batching changes nothing


def test_lists_files_and_other_rates(english, tmp_path):
    clips = [tone(0.4, 500), tone(0.9, 1500)]
    write_wav(tmp_path / "a.wav", clips[0], RATE)
    write_wav(tmp_path / "b.wav", torch.stack([clips[1], clips[1]]), RATE)  # stereo: mixed to mono
    expected = [english.transcribe(c, **SAY) for c in clips]
    assert english.transcribe([tmp_path / "a.wav", str(tmp_path / "b.wav")], **SAY) == expected
    assert english.transcribe(clips, **SAY) == expected
    assert english.transcribe(torch.stack([clips[0], clips[0]]), **SAY) == [expected[0]] * 2  # [clips, samples]
    slow = tone(0.9, 1500)[::2].contiguous()  # 8 kHz
    import torchaudio

    resampled = torchaudio.functional.resample(slow, RATE // 2, RATE)
    assert english.transcribe(slow, sample_rate=RATE // 2, **SAY) == english.transcribe(resampled, **SAY)


def test_a_tokenizer_passed_to_transcribe_also_chooses_the_suppressed_tokens(english, monkeypatch):
    """transcribe(tokenizer=tok) on a model without one decodes as if model.tokenizer were tok: generate
    gets tok's suppressed tokens, not only the special tokens."""
    tokenizer, seen = english.tokenizer, []
    monkeypatch.setattr(english, "tokenizer", None)
    generate = english.generate
    monkeypatch.setattr(english, "generate", lambda *a, **options: seen.append(options) or generate(*a, **options))
    english.transcribe(tone(0.3), tokenizer=tokenizer, max_new_tokens=2)
    assert seen[0]["suppress_tokens"] == tokenizer.suppress_tokens
    assert seen[0]["begin_suppress_tokens"] == tokenizer.begin_suppress_tokens


def test_languages_detected_per_clip_or_given(multilingual):
    tokens = multilingual.spec.tokens
    waves = torch.stack([tone(0.5, 300), tone(0.5, 4000)])
    detected = multilingual.generate(waves, max_new_tokens=2)[:, 1]
    assert set(detected.tolist()) <= set(tokens.language_ids.values())
    forced = multilingual.generate(waves, language=["de", "english"], task="translate", max_new_tokens=2)
    assert forced[:, :4].tolist() == [[tokens.sot, tokens.language_id("de"), tokens.translate, tokens.no_timestamps],
                                      [tokens.sot, tokens.language_id("en"), tokens.translate, tokens.no_timestamps]]


def test_the_tokenizer_travels_with_the_model(english, tmp_path):
    zoo.save(english, tmp_path)
    loaded = zoo.load(tmp_path)
    assert loaded.tokenizer == english.tokenizer
    assert loaded.transcribe(tone(0.3), **SAY) == english.transcribe(tone(0.3), **SAY)
    created = zoo.create("whisper-tiny.en", weights=tmp_path, **{k: v for k, v in loaded.spec.__dict__.items()
                                                                 if k in SPEC or k in ("vocab_size", "num_languages")})
    assert created.tokenizer == english.tokenizer
    bare = zoo.create("whisper-tiny.en", weights=tmp_path / "model.safetensors",
                      **{**SPEC, "vocab_size": english.spec.vocab_size, "num_languages": 1})
    assert bare.tokenizer is None  # a lone weights file has no tokenizer beside it
    with pytest.raises(ValueError, match="no tokenizer to turn tokens into text"):
        bare.transcribe(tone(0.3))


def test_zoo_transcribe_prints_the_text(english, tmp_path, capsys):
    zoo.save(english, tmp_path / "model")
    write_wav(tmp_path / "a.wav", tone(0.6), RATE)
    write_wav(tmp_path / "b.wav", tone(1.2, 900), RATE)
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(tmp_path / "model")]) == 0
    assert capsys.readouterr().out == english.transcribe(tone(0.6)) + "\n"
    assert main(["transcribe", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "--model", str(tmp_path / "model")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(tmp_path / "model"), "--task", "translate"]) == 2
    assert "English-only" in capsys.readouterr().err


@pytest.mark.parametrize("call,error,message", [
    (lambda m: m.transcribe(torch.zeros(0)), ValueError, "the clip is empty"),
    (lambda m: m.transcribe([]), ValueError, "empty list"),
    (lambda m: m.transcribe(torch.zeros(2, 1, 100)), ValueError, r"a waveform must be \[samples\]"),
    (lambda m: m.transcribe(3), TypeError, "a WAV file path or a waveform tensor"),
    (lambda m: m.transcribe(tone(0.2), batch_size=0), ValueError, "batch_size must be a positive integer"),
    (lambda m: m.generate(tone(0.2)[None], sample_rate=8000), ValueError, "8000"),
    (lambda m: m.generate(tone(2.0)[None]), ValueError, "longer than this model's window"),
    (lambda m: m.generate(spectrogram=torch.zeros(1, 16, 100), attention_mask=torch.ones(1, 100)), ValueError,
     "attends to the whole window"),
    (lambda m: m.generate(tone(0.2)[None], language="klingon"), ValueError, "unknown language 'klingon'.*en, zh, de"),
    (lambda m: m.generate(tone(0.2)[None], task="summarize"), ValueError, "task must be one of transcribe, translate"),
    (lambda m: m.generate(torch.stack([tone(0.2)] * 2), language=["en"]), ValueError, "one per clip"),
    (lambda m: m.generate(tone(0.2)[None], max_new_tokens=40), ValueError, "longer than this model's max_positions"),
    (lambda m: m.generate(tone(0.2)[None], suppress_tokens=[10**6]), ValueError, "suppress_tokens must be token ids"),
])
def test_bad_input_is_clear(multilingual, call, error, message):
    with pytest.raises(error, match=message):
        call(multilingual)


def test_english_only_models_refuse_translation_and_other_languages(english):
    with pytest.raises(ValueError, match="English-only.*cannot translate"):
        english.generate(tone(0.2)[None], task="translate")
    with pytest.raises(ValueError, match="unknown language 'de'"):
        english.transcribe(tone(0.2), language="de")


def test_transcribe_needs_a_speech_to_text_model():
    with pytest.raises(AttributeError, match="transcribe needs a speech-to-text model"):
        zoo.create("whisper-encoder-tiny", n_mels=16, dim=32, depth=1, num_heads=2, mlp_dim=64).transcribe(tone(0.2))
