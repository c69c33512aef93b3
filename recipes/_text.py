"""Text data for the language-model recipes: the offline grammar corpus, text files or JSONL."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from zoo.train import ConfigError


@dataclass
class TextData:
    source: Literal["grammar", "text", "jsonl"] = "grammar"
    train_path: str = ""  # text: a .txt file or a folder of them (one example a line); jsonl: a .jsonl file
    val_path: str = ""
    field: str = "text"  # jsonl: the key holding the text
    max_length: int = 128  # tokens per example (UTF-8 bytes + special tokens); longer texts are cut
    train_size: int = 20000  # grammar only
    val_size: int = 500  # grammar only

    def __post_init__(self) -> None:
        if self.max_length < 4 or self.train_size <= 0 or self.val_size <= 0:
            raise ValueError("max_length must be >= 4, train_size and val_size positive")


def text_datasets(data: TextData) -> tuple[Any, Any]:
    """(train, val): items are strings."""
    if data.source == "grammar":
        from zoo.data.synthetic import GrammarText

        return GrammarText(data.train_size, seed=0), GrammarText(data.val_size, seed=1)
    if not data.train_path or not data.val_path:
        raise ConfigError(f"data.source={data.source!r} needs data.train_path and data.val_path")
    from zoo.data.files import JsonlTexts, TextLines

    if data.source == "text":
        return TextLines(data.train_path), TextLines(data.val_path)
    return JsonlTexts(data.train_path, field=data.field), JsonlTexts(data.val_path, field=data.field)


def unigram_entropy_of(dataset: Any, limit: int = 2000) -> float:
    """Nats per byte of the first ``limit`` texts under a unigram byte model: the bar an LM must beat."""
    from zoo.data.synthetic import unigram_entropy

    return unigram_entropy(dataset[i] for i in range(min(len(dataset), limit)))


def check_max_length(model: Any, max_length: int) -> Any:
    """``model``, once examples of ``max_length`` tokens fit its learned positions (where it has ``max_positions``)."""
    limit = getattr(model.spec, "max_positions", None)
    if limit is not None and max_length > limit:
        raise ConfigError(f"data.max_length={max_length} is more than the model's max_positions={limit}; lower "
                          f"data.max_length or raise model.spec.max_positions")
    return model
