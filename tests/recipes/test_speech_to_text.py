"""The speech-to-text recipe: a few steps on touch-tone digit strings with a tiny Whisper, every metric, the final
model transcribing a WAV file with its tokenizer, resume, torchrun, the user's manifests, fine-tuning a published
checkpoint, and every bad input ending in one line before training starts."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import recipe_helpers
import zoo
from recipe_helpers import (check_a_rerun_resumes_to_the_same_weights, done_metrics, records,
                            torchrun_two_cpu_processes)
from recipes import speech_to_text
from recipes.speech_to_text import label_ids
from zoo.data import WhisperTokenizer
from zoo.data.synthetic import DTMFClips
from zoo.data.wav import write_wav
from zoo.train import config as configs

TINY = ["model.spec.n_mels=16", "model.spec.dim=32", "model.spec.depth=1", "model.spec.decoder_depth=1",
        "model.spec.num_heads=2", "model.spec.mlp_dim=64", "model.spec.text_positions=16"]
DTMF = ["data.train_size=512", "data.val_size=24"]
QUICK = ["train.steps=30", "train.batch_size=16", "train.log_every=5", "train.eval_every=30",
         "train.checkpoint_every=30", "train.warmup_steps=5", "train.lr=3e-3", "train.progress=false"]
METRICS = {"loss", "cer", "wer"}
pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: faster without threads, and no contention


def run(*args: str) -> int:
    return speech_to_text.main(list(args))


def one_line_error(capsys) -> str:
    return recipe_helpers.one_line_error(capsys, "speech_to_text")


def write_manifest(folder: Path, count: int = 8, *, rate: int = 16000, name: str = "m.csv",
                   texts: dict[int, str] | None = None) -> Path:
    """``count`` DTMF clips as WAV files at ``rate`` and a manifest of them (transcripts: the digits)."""
    clips = DTMFClips(count, sample_rate=rate, seed=3)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        wave, digits = clips[i]
        write_wav(folder / f"{i}.wav", wave, rate)
        rows.append(f"{i}.wav,{(texts or {}).get(i, digits)}\n")
    (folder / name).write_text("path,transcript\n" + "".join(rows))
    return folder / name


def manifest_args(train: Path, val: Path | None = None) -> list[str]:
    return ["--config", "manifest_small", *TINY, "train.steps=2", "train.batch_size=4", "train.eval_every=2",
            "train.checkpoint_every=2", "train.warmup_steps=1", "train.progress=false",
            f"data.train_manifest={train}", f"data.val_manifest={val or train}"]


def test_a_few_steps_train_report_every_metric_and_the_model_transcribes(tmp_path):
    assert run(*TINY, *DTMF, *QUICK, f"output_dir={tmp_path}") == 0
    log = records(tmp_path)
    losses = [r["loss"] for r in log if "loss" in r and "val_loss" not in r]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    final = log[-1]
    assert final["step"] == 30 and {k.removeprefix("val_") for k in final if k.startswith("val_")} == METRICS
    assert final["val_cer"] >= 0 and final["val_wer"] >= 0 and math.isfinite(final["val_loss"])
    assert (tmp_path / "plot.png").is_file()
    model = zoo.load(tmp_path / "model")  # the final model is a zoo.save directory with its tokenizer
    assert model.task == "speech-to-text" and model.tokenizer == WhisperTokenizer.byte_level(task="transcribe")
    assert model.spec.vocab_size == 1766 and not model.spec.multilingual and model.spec.num_languages == 1
    assert model.spec.max_positions == 95  # the window fits the longest digit string: 1.9 s
    wave, _ = DTMFClips(1, seed=7)[0]
    write_wav(tmp_path / "clip.wav", wave, 16000)
    text = model.eval().transcribe(str(tmp_path / "clip.wav"))
    assert isinstance(text, str) and text == model.transcribe(wave)
    assert configs.read_toml(tmp_path / "config.toml")["data"]["val_size"] == 24


def test_the_default_model_learns_to_read_digits(tmp_path):
    """The default model and learning rate for 300 steps of 32: the loss leaves the plateau of a decoder that
    guesses digits without listening (about 1.7 nats a token, CER about 0.9, where it sits for the first 150 to
    250 steps) once cross-attention finds the tones; the full default (800 steps) ends near CER 0.01."""
    assert run("train.steps=300", "train.warmup_steps=30", "train.eval_every=300", "train.checkpoint_every=300",
               "train.log_every=50", "data.train_size=9600", "data.val_size=50", "train.progress=false",
               f"output_dir={tmp_path}") == 0
    final = records(tmp_path)[-1]
    assert final["val_loss"] < 1.0 and final["val_cer"] < 0.4, final


def test_a_rerun_resumes_from_the_last_checkpoint_to_the_same_weights(tmp_path, capsys):
    check_a_rerun_resumes_to_the_same_weights(run, [*TINY, *DTMF, *QUICK, "train.steps=6", "train.checkpoint_every=3",
                                                    "train.eval_every=3", "train.log_every=1",
                                                    f"output_dir={tmp_path}"], tmp_path, capsys)
    assert zoo.load(tmp_path / "model").tokenizer == WhisperTokenizer.byte_level(task="transcribe")


def test_a_finished_run_starts_over_with_resume_false(tmp_path):
    """The run owns its model's tokenizer files too, so resume=false may replace them (nothing foreign)."""
    args = [*TINY, *DTMF, *QUICK, "train.steps=2", "train.eval_every=2", "train.checkpoint_every=2",
            f"output_dir={tmp_path}"]
    assert run(*args) == 0
    assert (tmp_path / "model" / "tokenizer.json").is_file()
    assert run(*args, "resume=false") == 0
    assert zoo.load(tmp_path / "model").tokenizer == WhisperTokenizer.byte_level(task="transcribe")


def test_torchrun_two_processes_split_the_validation_and_agree_with_one(tmp_path, capsys):
    """2 CPU processes (gloo, DDP) train and evaluate, rank 0 alone reports. A rerun in one process finds the
    run finished and evaluates the same weights again, on the whole validation set: the same metrics, greedy
    transcripts included (21 clips: the second process's last batch is short)."""
    args = [*TINY, *DTMF, *QUICK, "train.steps=4", "train.batch_size=8", "train.eval_every=4",
            "train.checkpoint_every=4", "train.device=cpu", "data.val_size=21", f"output_dir={tmp_path}"]
    torchrun_two_cpu_processes("speech_to_text", args)
    final = records(tmp_path)[-1]
    assert final["step"] == 4
    assert zoo.load(tmp_path / "model").tokenizer is not None
    capsys.readouterr()
    with pytest.warns(UserWarning, match="train.batch_size 8 -> 16"):  # one process, the same global batch
        assert run(*args, "train.batch_size=16") == 0  # no step left: it evaluates
    out = capsys.readouterr().out
    assert "resuming from" in out
    again = done_metrics(out)
    assert again.keys() == METRICS
    assert all(abs(again[k] - final[f"val_{k}"]) <= 5e-5 + 1e-6 for k in METRICS), (again, final)


def test_own_manifests_train_and_the_model_transcribes_their_files(tmp_path):
    train = write_manifest(tmp_path / "train", 8)
    val = write_manifest(tmp_path / "val", 3, texts={0: "one two", 1: "three", 2: "4 5 6"})
    assert run(*manifest_args(train, val), f"output_dir={tmp_path / 'run'}") == 0
    final = records(tmp_path / "run")[-1]
    assert {k.removeprefix("val_") for k in final if k.startswith("val_")} == METRICS
    model = zoo.load(tmp_path / "run" / "model").eval()
    clips = DTMFClips(8, seed=3)  # the files' clips: the window fits the longest of them
    assert model.spec.max_positions == math.ceil(max(len(clips[i][0]) for i in range(8)) / 320)
    texts = model.transcribe([str(tmp_path / "val" / f"{i}.wav") for i in range(3)])
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


def test_training_goes_on_from_the_saved_model_with_its_tokenizer(tmp_path):
    train = write_manifest(tmp_path / "data", 8)
    assert run(*manifest_args(train), f"output_dir={tmp_path / 'a'}") == 0
    assert run(*manifest_args(train), f"model.weights={tmp_path / 'a' / 'model'}", f"output_dir={tmp_path / 'b'}") == 0
    assert zoo.load(tmp_path / "b" / "model").tokenizer == zoo.load(tmp_path / "a" / "model").tokenizer


def test_fine_tuning_a_published_checkpoint_uses_its_tokenizer_and_language(hub_cache, tmp_path):
    """``model.pretrained=true`` with whisper-tiny's hub repository (here a tiny random multilingual one, with a
    byte-level tokenizer, in the offline cache): its weights and tokenizer, and data.language in the prompt."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tokenizer = WhisperTokenizer.byte_level(num_languages=99, multilingual=True)
    config = WhisperConfig(vocab_size=tokenizer.vocab_size, num_mel_bins=16, d_model=32, encoder_layers=1,
                           decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=95,
                           max_target_positions=16, bos_token_id=tokenizer.layout.eot,
                           eos_token_id=tokenizer.layout.eot, pad_token_id=tokenizer.layout.eot,
                           decoder_start_token_id=tokenizer.layout.sot)
    reference = WhisperForConditionalGeneration(config)
    snapshot = hub_cache("openai/whisper-tiny")
    reference.save_pretrained(snapshot)
    tokenizer.save(snapshot)
    train = write_manifest(tmp_path / "data", 8)
    spec = ["model.spec.n_mels=16", "model.spec.dim=32", "model.spec.depth=1", "model.spec.decoder_depth=1",
            "model.spec.num_heads=2", "model.spec.mlp_dim=64", "model.spec.max_positions=95",
            "model.spec.text_positions=16", f"model.spec.vocab_size={tokenizer.vocab_size}"]
    base = ["--config", "finetune", *spec, "train.steps=2", "train.batch_size=4", "train.eval_every=2",
            "train.checkpoint_every=2", "train.warmup_steps=1", "train.progress=false",
            f"data.train_manifest={train}", f"data.val_manifest={train}"]
    assert run(*base, "data.language=german", f"output_dir={tmp_path / 'run'}") == 0
    model = zoo.load(tmp_path / "run" / "model")
    assert model.tokenizer.language == "de" and model.tokenizer.layout.multilingual
    layout = model.tokenizer.layout
    assert model.tokenizer.prefix_tokens == [layout.sot, layout.language_id("de"), layout.transcribe,
                                             layout.no_timestamps]
    start = reference.model.encoder.conv1.weight  # two steps at lr 1e-5 move the checkpoint's weights a little
    assert 0 < (model.backbone.encoder.stem.convs[0].weight - start).abs().max() < 1e-3


# --- bad input: one line, before anything is written -------------------------------------------------------------
@pytest.mark.parametrize("make, args, message", [
    (None, ["data.source=manifest", "data.train_manifest=", "data.val_manifest="],
     "data.source='manifest' needs data.train_manifest and data.val_manifest"),
    (None, ["data.train_manifest={tmp}/no.csv"], "no.csv does not exist"),
    (lambda d: (d / "m.csv").write_text("path,transcript\n"), [], "m.csv lists no files"),
    (lambda d: write_manifest(d, 4, rate=8000), [], "{tmp}/0.wav: sampled at 8000 Hz, expected 16000 Hz (and 3 more "
     "files not at 16000 Hz); set data.resample=true"),
    (None, ["model.spec.max_positions=20"],
     "s is longer than the model's window of 0.4 s (model.spec.max_positions=20); raise model.spec.max_positions "
     "to "),
    (lambda d: write_manifest(d, 8, texts={5: "1234567890" * 2}), [],
     "m.csv: the transcript of {tmp}/5.wav ('12345678901234567890') is 20 tokens; with the prompt (2) and "
     "<|endoftext|> that is 23, more than the model's text_positions=16; raise model.spec.text_positions"),
    (None, ["model.name=whisper-encoder-tiny"], "which cannot be trained for this recipe's task 'speech-to-text'"),
    (None, ["model.spec.vocab_size=1000"], "model.spec.vocab_size=1000 (the data needs 1766)"),
    (None, ["model.spec.multilingual=false", "data.language=german"],
     "data.language='german', data.task='transcribe': unknown language 'german'; this model knows 1: en; from "
     "scratch, model.spec.multilingual and model.spec.num_languages choose"),
    (None, ["data.task=translate"], "English-only Whisper model: it transcribes English and cannot translate"),
    (None, ["model.spec.multilingual=true"], "is multilingual: set data.language"),
    (None, ["model.spec.multilingual=true", "model.spec.num_languages=2", "data.language=fr"],
     "unknown language 'fr'"),
    (None, ["model.weights={tmp}/weights.safetensors", "model.spec.vocab_size=1766", "model.spec.num_languages=1",
            "model.spec.multilingual=false"], "weights.safetensors' has no tokenizer beside it"),
])
def test_bad_input_fails_in_one_line_before_training(tmp_path, capsys, make, args, message):
    data = tmp_path / "data"
    write_manifest(data, 8)
    if make is not None:
        make(data)
    if any("weights.safetensors" in a for a in args):
        model = zoo.create("whisper-tiny", task="speech-to-text", n_mels=16, dim=32, depth=1, decoder_depth=1,
                           num_heads=2, mlp_dim=64, text_positions=16, vocab_size=1766, num_languages=1,
                           multilingual=False)
        from safetensors.torch import save_model

        save_model(model, str(data / "weights.safetensors"))
    args = [a.format(tmp=data) for a in args]
    run_dir = tmp_path / "run"
    assert run(*manifest_args(data / "m.csv"), *args, f"output_dir={run_dir}") == 2
    assert message.format(tmp=data) in one_line_error(capsys)
    assert not run_dir.exists()  # nothing written, nothing trained


def test_files_at_another_rate_are_resampled_when_the_config_says_so(tmp_path):
    train = write_manifest(tmp_path / "data", 4, rate=8000)
    assert run(*manifest_args(train), "data.resample=true", f"output_dir={tmp_path / 'run'}") == 0


def test_every_config_parses():
    for path in (speech_to_text.CONFIGS / "speech_to_text").glob("*.toml"):
        configs.load(speech_to_text.Config, path)
    assert {p.stem for p in (speech_to_text.CONFIGS / "speech_to_text").glob("*.toml")} == {
        "default", "manifest", "manifest_small", "finetune"}


# --- the pieces --------------------------------------------------------------------------------------------------
def test_the_longest_generated_clip_is_known_without_drawing_them():
    clips = DTMFClips(400, seed=0)
    longest = clips.max_samples
    assert longest == 30400  # 1.9 s: the window of the default config, 95 positions
    assert max(len(clips[i][0]) for i in range(400)) <= longest
    assert DTMFClips(1, sample_rate=8000).max_samples == 15200


def test_labels_are_the_prompt_after_start_of_transcript_the_text_and_end_of_text():
    tokenizer = WhisperTokenizer.byte_level()
    layout = tokenizer.layout
    labels = label_ids(tokenizer, ["12", "345"])
    assert labels.tolist() == [[layout.no_timestamps, 49, 50, layout.eot, -100],
                               [layout.no_timestamps, 51, 52, 53, layout.eot]]
