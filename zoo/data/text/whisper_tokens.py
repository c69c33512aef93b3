"""Whisper's special-token layout: where the end-of-text, start-of-transcript, language, task,
no-timestamps and timestamp tokens sit in a Whisper vocabulary (no torch, no files).

Every Whisper vocabulary is ``[text tokens][<|endoftext|>][<|startoftranscript|>][one token per
language][<|translate|>][<|transcribe|>][<|startoflm|>][<|startofprev|>][<|nospeech|>]
[<|notimestamps|>][1501 timestamps <|0.00|> .. <|30.00|>]``, so the vocabulary size and the number
of languages fix every id. OpenAI's checkpoints have 99 languages (51865 tokens; ``.en`` models:
the same layout after GPT-2's 50256 text tokens, 51864), large-v3 adds Cantonese (100, 51866);
``multilingual=False`` marks the English-only models, whose prompt has no language and task tokens.
The model (`zoo.models.whisper`) and the tokenizer (`zoo.data.text.whisper`) share this one layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

# Whisper's languages, in its token order (the first ``num_languages`` of them are in a vocabulary)
LANGUAGES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek",
    "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese",
    "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog", "mg": "malagasy",
    "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa", "ba": "bashkir",
    "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}
TASKS = ("transcribe", "translate")
NUM_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s
TASK_TOKENS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
               "<|notimestamps|>")


@dataclass(frozen=True)
class WhisperTokens:
    """The special token ids of a Whisper vocabulary of ``vocab_size`` tokens with ``num_languages``."""

    vocab_size: int
    num_languages: int = 99
    multilingual: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.num_languages <= len(LANGUAGES):
            raise ValueError(f"num_languages must be between 1 and {len(LANGUAGES)} (Whisper's languages), "
                             f"got {self.num_languages}")
        if self.text_vocab_size < 1:
            raise ValueError(f"vocab_size {self.vocab_size} is too small for Whisper's special tokens: it needs "
                             f"{self.num_special} of them ({self.num_languages} languages, {NUM_TIMESTAMPS} "
                             "timestamps) after at least one text token")

    @property
    def num_special(self) -> int:
        return 2 + self.num_languages + len(TASK_TOKENS) + NUM_TIMESTAMPS

    @property
    def text_vocab_size(self) -> int:
        """Ids below this are text; the first special token, <|endoftext|>, has this id."""
        return self.vocab_size - self.num_special

    @property
    def eot(self) -> int:
        return self.text_vocab_size

    @property
    def sot(self) -> int:
        return self.eot + 1

    @property
    def translate(self) -> int:
        return self.sot + 1 + self.num_languages

    @property
    def transcribe(self) -> int:
        return self.translate + 1

    @property
    def start_of_lm(self) -> int:
        return self.translate + 2

    @property
    def start_of_prev(self) -> int:
        return self.translate + 3

    @property
    def no_speech(self) -> int:
        return self.translate + 4

    @property
    def no_timestamps(self) -> int:
        return self.translate + 5

    @property
    def timestamp_begin(self) -> int:
        """The id of <|0.00|>; timestamps run to the end of the vocabulary."""
        return self.translate + 6

    @cached_property
    def languages(self) -> tuple[str, ...]:
        """The language codes this vocabulary has a token for, in id order."""
        return tuple(LANGUAGES)[: self.num_languages]

    @cached_property
    def language_ids(self) -> dict[str, int]:
        return {code: self.sot + 1 + i for i, code in enumerate(self.languages)}

    def language_id(self, language: str) -> int:
        """The token of a language given by code ("de") or English name ("german")."""
        code = language_code(language, self.languages)
        return self.language_ids[code]

    def task_id(self, task: str) -> int:
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        return self.transcribe if task == "transcribe" else self.translate

    def prompt(self, language: str | None, task: str = "transcribe") -> list[int]:
        """The decoder prompt: <|startoftranscript|> [language task] <|notimestamps|> (English-only models:
        no language or task token). ``language=None`` leaves the language out, to be detected first."""
        if not self.multilingual:
            if task != "transcribe":
                raise ValueError("this is an English-only Whisper model: it transcribes English and cannot "
                                 f"translate (task={task!r}); use a multilingual card for translation")
            if language is not None and language_code(language, self.languages) != "en":
                raise ValueError(f"this is an English-only Whisper model; language={language!r} is not "
                                 "English (pass language='en' or None)")
            return [self.sot, self.no_timestamps]
        task_id = self.task_id(task)
        if language is None:
            return [self.sot, task_id, self.no_timestamps]  # the language token goes after sot once detected
        return [self.sot, self.language_id(language), task_id, self.no_timestamps]

    def special_tokens(self) -> list[str]:
        """The special tokens' strings in id order, from <|endoftext|> to <|30.00|>."""
        return ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in self.languages),
                *TASK_TOKENS, *(f"<|{i * 0.02:.2f}|>" for i in range(NUM_TIMESTAMPS))]

    def always_suppressed(self) -> list[int]:
        """Tokens a transcript never contains after its prompt (OpenAI's decoding suppresses them on top of
        the tokenizer's non-speech symbols): the task tokens, start of transcript / LM / previous text, no speech."""
        return [self.translate, self.transcribe, self.sot, self.start_of_prev, self.start_of_lm, self.no_speech]


def language_code(language: str, known: tuple[str, ...]) -> str:
    """A language's code from its code or English name (any case); a clear error listing the known codes."""
    if not isinstance(language, str):
        raise TypeError(f"language must be a code such as 'en' or a name such as 'english', got {language!r}")
    key = language.strip().lower()
    names = {name: code for code, name in LANGUAGES.items() if code in known}
    code = key if key in known else names.get(key)
    if code is None:
        raise ValueError(f"unknown language {language!r}; this model knows {len(known)}: {', '.join(known)}")
    return code


def tokens_for_vocab_size(vocab_size: int) -> WhisperTokens:
    """The layout of OpenAI's checkpoints by vocabulary size, as OpenAI's and Hugging Face's code derive it
    (51864: English-only, 99 languages; 51865: 99; 51866: 100)."""
    multilingual = vocab_size >= 51865
    return WhisperTokens(vocab_size, vocab_size - 51765 - int(multilingual), multilingual)
