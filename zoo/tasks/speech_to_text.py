"""Speech to text (Whisper): audio in, token ids out; `generate` with Whisper's prompt and rules.

Training is the seq2seq LM's: labels are the target ids after <|startoftranscript|> (the language
and task tokens, <|notimestamps|>, the text, <|endoftext|>), and the decoder inputs are the labels
shifted right. Generation builds Whisper's prompt (<|startoftranscript|>, the language, the task,
<|notimestamps|>), detects the language of each clip when none is given, suppresses the tokens
Whisper never writes, and stops at <|endoftext|>, as openai-whisper and transformers do.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..data.text.whisper_tokens import TASKS
from ..generation import generate
from .language import Seq2SeqLMHead


class SpeechToTextHead(Seq2SeqLMHead):
    """Decoder states [B, T, D] -> vocabulary logits [B, T, V] (tied to the token embedding)."""

    label_format = ("target ids [batch, target_len] after <|startoftranscript|> (language, task, <|notimestamps|>, "
                    "text, <|endoftext|>), -100 on padding; the decoder inputs are these shifted right")
    uses_tokenizer = True  # `zoo.create` and `zoo.load` attach the tokenizer found next to the weights

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The audio and decoder ids unchanged; labels: the decoder ids shifted left, <|endoftext|> last."""
        decoder_ids = extras["decoder_input_ids"]
        eot = torch.full((len(decoder_ids), 1), self.tokens.eot, dtype=decoder_ids.dtype)
        return inputs, extras, torch.cat([decoder_ids[:, 1:], eot], dim=1)

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__(backbone)
        self.tokens = backbone.spec.tokens  # the special tokens' ids

    def prompt(self, model: nn.Module, memory: Tensor, language: str | Sequence[str] | None, task: str) -> Tensor:
        """Whisper's decoder prompt per clip [B, P]; languages detected where ``language`` is None."""
        batch = memory.shape[0]
        if isinstance(language, (list, tuple)):
            if len(language) != batch:
                raise ValueError(f"language must be one code for every clip or a list with one per clip; got "
                                 f"{len(language)} languages for {batch} clips")
            rows = [self.tokens.prompt(code, task) for code in language]
        elif language is None and self.tokens.multilingual:
            detected = self.detect_language(model, memory)  # [B]
            rows = [self.tokens.prompt(None, task) for _ in range(batch)]
            rows = [row[:1] + [int(lang)] + row[1:] for row, lang in zip(rows, detected.tolist())]
        else:
            rows = [self.tokens.prompt(language, task)] * batch
        return torch.tensor(rows, dtype=torch.long, device=memory.device)  # [B, P]

    def detect_language(self, model: nn.Module, memory: Tensor) -> Tensor:
        """The most likely language token [B] after <|startoftranscript|>, among the vocabulary's languages."""
        start = torch.full((memory.shape[0], 1), self.tokens.sot, dtype=torch.long, device=memory.device)
        with torch.no_grad():
            logits = self(model.backbone.decode(start, memory))[:, -1].float()  # [B, V]
        ids = torch.tensor(list(self.tokens.language_ids.values()), device=memory.device)
        return ids[logits[:, ids].argmax(dim=-1)]  # [B]

    @torch.no_grad()
    def generate(self, model: nn.Module, waveform: Tensor | None = None, *, spectrogram: Tensor | None = None,
                 attention_mask: Tensor | None = None, sample_rate: int | None = None,
                 language: str | Sequence[str] | None = None, task: str = "transcribe",
                 suppress_tokens: Sequence[int] | None = None, begin_suppress_tokens: Sequence[int] | None = None,
                 **options: Any) -> Tensor:
        """Token ids [B, P + new]: each clip's prompt, then its transcript up to <|endoftext|> (padded after).

        ``suppress_tokens`` defaults to the tokenizer's (``model.tokenizer``: OpenAI's non-speech symbols
        and the special tokens), or the special tokens alone without one; ``begin_suppress_tokens`` to
        the tokenizer's (" " and <|endoftext|>), or <|endoftext|>. Other options are `zoo.generation.generate`'s.
        """
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        tokenizer = getattr(model, "tokenizer", None)
        if suppress_tokens is None:
            suppress_tokens = tokenizer.suppress_tokens if tokenizer is not None else self.tokens.always_suppressed()
        if begin_suppress_tokens is None:
            begin_suppress_tokens = tokenizer.begin_suppress_tokens if tokenizer is not None else [self.tokens.eot]
        memory = model.backbone.encode(waveform, spectrogram=spectrogram, attention_mask=attention_mask,
                                       sample_rate=sample_rate)  # [B, N, D]
        prompt = self.prompt(model, memory, language, task)
        options.setdefault("eos_token_id", self.tokens.eot)
        return generate(model, encoder_outputs=memory, decoder_input_ids=prompt, suppress_tokens=suppress_tokens,
                        begin_suppress_tokens=begin_suppress_tokens, **options)


def build_speech_to_text_head(backbone: nn.Module, spec: Any) -> SpeechToTextHead:
    return SpeechToTextHead(backbone)
