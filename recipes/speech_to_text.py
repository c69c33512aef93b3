"""Speech to text: a Whisper-shaped encoder-decoder writes each clip's transcript, token by token.

    python -m recipes.speech_to_text                              # offline touch-tone digit strings, from scratch
    python -m recipes.speech_to_text --config manifest data.train_manifest=train.csv data.val_manifest=val.csv
    python -m recipes.speech_to_text --config finetune data.train_manifest=train.csv data.val_manifest=val.csv \\
        data.language=en                                          # fine-tune whisper-tiny's published weights

A manifest is a CSV with a header and the columns ``path,transcript`` (paths relative to the
CSV's folder). From scratch the tokenizer is `WhisperTokenizer.byte_level` (the 256 bytes, then
Whisper's special tokens; no download), which sets the model's ``vocab_size``; with
``model.pretrained=true`` or ``model.weights`` it is the one beside those weights. Labels are
Whisper's fine-tuning labels: the prompt after <|startoftranscript|> (language, task,
<|notimestamps|>), the text, <|endoftext|>. Every clip is zero-padded to the encoder's window,
as Whisper is trained: from scratch the window is ``model.spec.max_positions`` x 320 samples,
set from the longest clip unless given. Metrics: validation loss, and the character and word
error rates (``cer``, ``wer``) of greedy ``model.generate`` transcripts. The final model keeps
its tokenizer: ``zoo.load(run_dir / "model").transcribe("clip.wav")``.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from zoo.train import Batch, ConfigError, Job, ModelConfig, RunConfig, main as run_main
from zoo.train.metrics import character_errors, word_errors

from ._audio import check_clip_lengths, pad, resample_key, sample_rate_of
from ._common import CONFIGS, _saved_spec, check_model, create_model

TASK = "speech-to-text"
SAMPLES_PER_POSITION = 320  # Whisper's encoder: 160 samples a log-mel frame, the stem halves the frames
SAVED_FIELDS = ("vocab_size", "num_languages", "multilingual", "max_positions")  # set by the data, from scratch


@dataclass
class SpeechData:
    source: Literal["dtmf", "manifest"] = "dtmf"
    train_manifest: str = ""  # manifest: CSV with path,transcript
    val_manifest: str = ""
    resample: bool = False  # manifest: resample files at another rate (else that is an error)
    language: str = ""  # Whisper's prompt: a code or name ("en", "german"); "" = none (English-only models)
    task: Literal["transcribe", "translate"] = "transcribe"  # translate: into English (multilingual models)
    train_size: int = 20000  # dtmf only
    val_size: int = 300  # dtmf only

    def __post_init__(self) -> None:
        if self.train_size <= 0 or self.val_size <= 0:
            raise ValueError("train_size and val_size must be positive")


@dataclass
class Config(RunConfig):
    data: SpeechData = field(default_factory=SpeechData)


def datasets(data: SpeechData, sample_rate: int) -> tuple[Any, Any]:
    """(train, val); items are (waveform [samples], transcript)."""
    if data.source == "dtmf":
        from zoo.data.synthetic import DTMFClips

        return (DTMFClips(data.train_size, sample_rate=sample_rate, seed=0),
                DTMFClips(data.val_size, sample_rate=sample_rate, seed=1))
    if not data.train_manifest or not data.val_manifest:
        raise ConfigError("data.source='manifest' needs data.train_manifest and data.val_manifest (CSV files)")
    from zoo.data.files import TranscriptManifest

    with resample_key():
        return (TranscriptManifest(data.train_manifest, sample_rate=sample_rate, resample=data.resample),
                TranscriptManifest(data.val_manifest, sample_rate=sample_rate, resample=data.resample))


def longest_clip(dataset: Any) -> tuple[int, Any]:
    """(samples, file or None) of a dataset's longest clip: a manifest's from its WAV headers, generated
    clips' from how they are drawn."""
    if hasattr(dataset, "samples"):
        longest = max(range(len(dataset.samples)), key=dataset.samples.__getitem__)
        return dataset.samples[longest], dataset.paths[longest]
    return dataset.max_samples, None  # generated clips: DTMFClips knows its longest


def longest_text(dataset: Any, tokenizer: Any) -> tuple[int, str | None, Any]:
    """(tokens, text, file) of a dataset's longest transcript; generated digit strings: at most one token a
    digit (no text or file to name)."""
    if not hasattr(dataset, "items"):
        return dataset.max_digits, None, None
    texts = [text for _, text in dataset.items]
    counts = [len(ids) for start in range(0, len(texts), 1024)
              for ids in tokenizer(texts[start:start + 1024], add_special_tokens=False, padding=False,
                                   return_tensors=None)["input_ids"]]
    longest = max(range(len(counts)), key=counts.__getitem__)
    return counts[longest], texts[longest], dataset.items[longest][0]


def byte_tokenizer(model: ModelConfig, data: SpeechData) -> Any:
    """From scratch: `WhisperTokenizer.byte_level`, English-only unless ``data.language`` is set (then with
    Whisper's 99 language tokens); ``model.spec.multilingual`` / ``num_languages`` choose otherwise."""
    from zoo.data import WhisperTokenizer
    from zoo.data.text.base import TokenizerError

    multilingual = model.spec.get("multilingual", bool(data.language))
    try:
        return WhisperTokenizer.byte_level(num_languages=model.spec.get("num_languages", 99 if multilingual else 1),
                                           multilingual=multilingual)
    except TokenizerError as exc:
        raise ConfigError(f"model.spec: {exc}") from None


def set_prompt(tokenizer: Any, data: SpeechData, name: str, scratch: bool) -> Any:
    """``tokenizer`` with the labels' prefix set to Whisper's prompt for ``data.language`` and ``data.task``."""
    from zoo.data.text.base import TokenizerError

    if tokenizer.layout.multilingual and not data.language:
        raise ConfigError(f"model.name={name!r} is multilingual: set data.language to the transcripts' language "
                          f"(a code or name, e.g. data.language=en); it is part of Whisper's prompt")
    try:
        tokenizer.set_prefix(data.language or None, data.task)
    except TokenizerError as exc:
        fix = ("; from scratch, model.spec.multilingual and model.spec.num_languages choose the language tokens "
               "(Whisper's first N languages)" if scratch else "")
        raise ConfigError(f"data.language={data.language!r}, data.task={data.task!r}: {exc}{fix}") from None
    return tokenizer


def check_window(model: Any, scratch: bool, *datasets: Any) -> Any:
    """``model``, once the longest clip fits the encoder's window (and the shortest its front end)."""
    spec = model.spec
    window = spec.window_samples
    for data in datasets:
        samples, path = longest_clip(data)
        if samples <= window:
            continue
        rate, needed = spec.sample_rate, math.ceil(samples / SAMPLES_PER_POSITION)
        what = f"{path}: a clip of" if path is not None else "the generated clips last up to"
        fix = (f"raise model.spec.max_positions to {needed} (or leave it unset: the recipe fits the window to "
               "the longest clip)" if scratch else "this checkpoint's window is fixed; split or crop the clip")
        more = sum(n > window for n in getattr(data, "samples", ())) - 1
        raise ConfigError(f"{what} {samples / rate:g} s is longer than the model's window of {window / rate:g} s "
                          f"(model.spec.max_positions={spec.max_positions}); {fix}"
                          + (f" ({more} more clips are too long)" if more > 0 else ""))
    return check_clip_lengths(model, *datasets)


def check_texts(model: Any, tokenizer: Any, *datasets: Any) -> int:
    """The longest validation transcript in tokens, once every transcript, with the prompt before it and
    <|endoftext|> after it, fits the decoder's ``text_positions``."""
    prompt, limit = len(tokenizer.prefix_tokens), model.spec.text_positions
    for data in datasets:
        tokens, text, path = longest_text(data, tokenizer)
        if prompt + tokens + 1 > limit:
            shown = f"{text[:60]!r}{'...' if len(text) > 60 else ''}" if text is not None else ""
            what = (f"{data.csv_path}: the transcript of {path} ({shown}) is" if text is not None
                    else "the generated transcripts are up to")
            raise ConfigError(f"{what} {tokens} tokens; with the prompt ({prompt}) and <|endoftext|> that is "
                              f"{prompt + tokens + 1}, more than the model's text_positions={limit}; raise "
                              "model.spec.text_positions (from scratch) or split the clip and its transcript")
    return tokens


def label_ids(tokenizer: Any, texts: Sequence[str]) -> Any:
    """Labels [B, T]: the tokenizer's sequence without <|startoftranscript|> (the decoder starts from it),
    -100 on padding."""
    from zoo.tasks.language import IGNORE_INDEX

    batch = tokenizer(list(texts))  # [B, 1 + T]: prefix, text, <|endoftext|>, padding
    return batch["input_ids"][:, 1:].masked_fill(batch["attention_mask"][:, 1:] == 0, IGNORE_INDEX)


def build(cfg: Config, env: Any) -> Job:
    from zoo.tasks.language import IGNORE_INDEX

    check_model(cfg.model, TASK)
    data = cfg.data
    train, val = datasets(data, sample_rate_of(cfg.model))
    scratch = not (cfg.model.pretrained or cfg.model.weights)
    state: dict[str, Any] = {}  # the tokenizer and the generation length, once the model is built

    def make_model():
        if scratch:
            tokenizer = set_prompt(byte_tokenizer(cfg.model, data), data, cfg.model.name, scratch)
            layout = tokenizer.layout
            fixed = {"vocab_size": layout.vocab_size, "num_languages": layout.num_languages,
                     "multilingual": layout.multilingual}
            if "max_positions" not in cfg.model.spec:  # the window just covers the longest clip
                longest = max(longest_clip(split)[0] for split in (train, val))
                fixed["max_positions"] = math.ceil(longest / SAMPLES_PER_POSITION)
            model = create_model(cfg.model, TASK, **fixed)
        else:  # a zoo.save directory (an earlier run's model) keeps the window and vocabulary it was saved with
            saved = _saved_spec(cfg.model.weights) if cfg.model.weights else {}
            model = create_model(cfg.model, TASK, **{k: saved[k] for k in SAVED_FIELDS
                                                     if k in saved and k not in cfg.model.spec})
            tokenizer = getattr(model, "tokenizer", None)
            if tokenizer is None:
                raise ConfigError(f"model.weights={cfg.model.weights!r} has no tokenizer beside it (tokenizer.json, "
                                  "or vocab.json + merges.txt + added_tokens.json); a speech-to-text model needs "
                                  "the tokenizer it was trained with")
            set_prompt(tokenizer, data, cfg.model.name, scratch)
            if tokenizer.layout != model.spec.tokens:
                raise ConfigError(f"the tokenizer beside the weights ({tokenizer.layout}) does not fit the model "
                                  f"({model.spec.tokens})")
        check_window(model, scratch, train, val)
        check_texts(model, tokenizer, train)
        longest = check_texts(model, tokenizer, val)
        prompt = len(tokenizer.prefix_tokens)
        state.update(tokenizer=tokenizer, prompt=prompt,
                     max_new_tokens=min(model.spec.text_positions - prompt, 2 * longest + 1))
        model.tokenizer = tokenizer  # saved with the model: zoo.load(dir).transcribe(...) writes text
        return model

    def collate(items: list) -> Batch:
        waves, mask = pad([wave for wave, _ in items])  # [B, S] each
        labels = label_ids(state["tokenizer"], [text for _, text in items])  # [B, T]
        return Batch((waves,), {"attention_mask": mask, "labels": labels}, labels)

    def eval_collate(items: list) -> Batch:
        batch = collate(items)
        return Batch(batch.inputs, batch.extras, [text for _, text in items])  # the references

    def evaluate(model, batch: Batch) -> dict:
        tokenizer, labels = state["tokenizer"], batch.extras["labels"]
        logits = model(*batch.inputs, **batch.extras)  # [B, T, V], teacher forcing
        tokens = int((labels != IGNORE_INDEX).sum())
        ids = model.generate(batch.inputs[0], attention_mask=batch.extras["attention_mask"],
                             max_new_tokens=state["max_new_tokens"], language=tokenizer.language,
                             task=data.task)  # [B, prompt + new], greedy
        predictions = [tokenizer.decode(row, skip_special_tokens=True).strip()
                       for row in ids[:, state["prompt"]:].tolist()]
        references = [text.strip() for text in batch.targets]
        return {"loss": (float(model.loss(logits.float(), labels)) * tokens, tokens),
                "cer": character_errors(predictions, references), "wer": word_errors(predictions, references)}

    return Job(make_model=make_model, train_set=train, val_set=val, collate=collate, evaluate=evaluate,
               eval_collate=eval_collate, name="speech_to_text")


def main(argv: list[str] | None = None) -> int:
    return run_main("speech_to_text", Config, build, CONFIGS / "speech_to_text", argv)


if __name__ == "__main__":
    sys.exit(main())
