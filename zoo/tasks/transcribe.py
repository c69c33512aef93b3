"""`transcribe`: WAV files or waveforms -> text with a speech-to-text model, any length.

Audio longer than the model's window (30 s for Whisper) is cut into consecutive windows, each
transcribed on its own (its language detected on its own when none is given), and the texts are
joined in order with a space. A word spoken across a cut may be split or lost at the boundary:
this is plain windowing, not openai-whisper's timestamp-guided seeking.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..data.audio import check_waveform
from ..data.files import load_mono
from ..nn.checks import describe

AudioLike = str | os.PathLike | Tensor


def _load(audio: AudioLike, sample_rate: int | None, target_rate: int, where: str) -> Tensor:
    """One clip as a mono waveform [samples] at ``target_rate`` (WAV files and other rates resampled)."""
    if isinstance(audio, (str, os.PathLike)):
        wave, rate, where = load_mono(Path(audio), target_rate, resample=True), target_rate, str(audio)  # [samples]
    elif isinstance(audio, Tensor):
        if audio.dim() != 1:
            raise ValueError(f"{where}: a waveform must be [samples] (a batch: [clips, samples] or a list), got "
                             f"shape {list(audio.shape)}")
        check_waveform(audio[None])
        wave, rate = audio, sample_rate or target_rate
    else:
        raise TypeError(f"{where}: audio must be a WAV file path or a waveform tensor [samples], got {describe(audio)}")
    if wave.numel() == 0:
        raise ValueError(f"{where}: the clip is empty (0 samples); there is nothing to transcribe")
    if rate != target_rate:
        import torchaudio

        wave = torchaudio.functional.resample(wave.float(), rate, target_rate)
    return wave.float()


def transcribe(model: nn.Module, audio: AudioLike | Sequence[AudioLike], *, language: str | None = None,
               task: str = "transcribe", tokenizer: Any = None, sample_rate: int | None = None,
               batch_size: int = 8, **options: Any) -> str | list[str]:
    """Text of one clip (a WAV path or a waveform [samples]) or a list of texts for a list of clips
    (or a waveform batch [clips, samples]).

    WAV files are mixed to mono and resampled to the model's rate; a waveform is at the model's
    rate unless ``sample_rate`` says otherwise (then it is resampled). ``language`` (a code or
    name) and ``task`` ("transcribe" or "translate" to English) go into Whisper's prompt; with
    ``language=None`` a multilingual model detects it. ``tokenizer`` defaults to ``model.tokenizer``.
    Windows run ``batch_size`` at a time; ``options`` go to ``model.generate`` (``num_beams``, ...).
    """
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("this model has no tokenizer to turn tokens into text: load it with its tokenizer files "
                         "(zoo.create(name, pretrained=True) or weights=DIR with tokenizer.json or vocab.json), "
                         "or pass tokenizer=zoo.data.load_tokenizer(DIR)")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(audio, Tensor) and audio.dim() == 2:  # [B, samples]: a batch of clips of one length
        audio = list(audio)
    one = isinstance(audio, (str, os.PathLike, Tensor))
    if not one and not isinstance(audio, (list, tuple)):
        raise TypeError(f"audio must be a WAV file path or a waveform tensor [samples], or a list of them; got "
                        f"{describe(audio)}")
    clips = [audio] if one else list(audio)
    if not clips:
        raise ValueError("audio is an empty list: pass a WAV path, a waveform, or a list of them")
    spec = model.spec
    waves = [_load(clip, sample_rate, spec.sample_rate, f"clip {i}") for i, clip in enumerate(clips)]
    pieces = [(i, piece) for i, wave in enumerate(waves) for piece in wave.split(spec.window_samples)]
    prompt_len = len(spec.tokens.prompt("en" if spec.tokens.multilingual else None, task))
    options.setdefault("max_new_tokens", spec.text_positions - prompt_len)
    options.setdefault("suppress_tokens", tokenizer.suppress_tokens)  # this tokenizer's, also when passed here
    options.setdefault("begin_suppress_tokens", tokenizer.begin_suppress_tokens)
    device = next(model.parameters()).device
    texts: list[list[str]] = [[] for _ in clips]
    for start in range(0, len(pieces), batch_size):
        group = pieces[start : start + batch_size]
        longest = max(len(piece) for _, piece in group)
        batch = torch.zeros(len(group), longest, device=device)  # [B, samples]
        mask = torch.zeros(len(group), longest, dtype=torch.long, device=device)
        for row, (_, piece) in enumerate(group):
            batch[row, : len(piece)], mask[row, : len(piece)] = piece, 1
        ids = model.generate(batch, attention_mask=mask, language=language, task=task, **options)  # [B, P + new]
        for (clip, _), row in zip(group, ids[:, prompt_len:].tolist()):
            texts[clip].append(tokenizer.decode(row, skip_special_tokens=True).strip())
    joined = [" ".join(t for t in parts if t) for parts in texts]
    return joined[0] if one else joined
