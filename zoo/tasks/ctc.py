"""CTC head: frame-level logits over a character vocabulary, CTC loss, greedy decoding to text.

Index 0 of the logits is the CTC blank; character ``vocabulary[i]`` is index ``i + 1``.
Frames that the padding mask marks as padding predict the blank with certainty, so the
loss and the decoding need no lengths: a padded clip scores exactly as the unpadded one.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import fresh_linear
from .targets import IGNORE_INDEX as IGNORE, check_class_ids, example_rows  # IGNORE: padding in target id tensors

BLANK = 0


class CTCHead(nn.Module):
    """Features [B, N, D] -> per-time-step features [B, T, D] (``frames``) -> logits [B, T, 1 + len(vocabulary)]."""

    label_format = ("character ids [batch, max_chars] in [1, len(vocabulary)] (0 is the blank), right-padded "
                    "with -100, or a list of texts")

    def __init__(self, frames: nn.Module, in_dim: int, vocabulary: str, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.frames = frames
        self.vocabulary = vocabulary
        self.index = {char: i + 1 for i, char in enumerate(vocabulary)}
        self.num_classes = 1 + len(vocabulary)
        self.drop = nn.Dropout(dropout)
        self.fc = fresh_linear(in_dim, self.num_classes)

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        # features: [B, N, D]; attention_mask: [B, T] over time steps (1 = real)
        x = self.drop(self.frames(features))  # [B, T, D]
        if pre_logits:
            return x
        logits = self.fc(x)  # [B, T, C]
        if attention_mask is None:
            return logits
        if attention_mask.shape != logits.shape[:2]:
            raise ValueError(f"the CTC padding mask must be [batch, {logits.shape[1]}] over time steps, "
                             f"got {list(attention_mask.shape)}")
        certain_blank = torch.full_like(logits[:1, :1], torch.finfo(logits.dtype).min)  # [1, 1, C]
        certain_blank[..., BLANK] = 0.0
        return torch.where(attention_mask[..., None] != 0, logits, certain_blank)

    def encode(self, texts: Sequence[str]) -> Tensor:
        """Texts -> target ids [B, S] (characters 1.., padded with -100)."""
        unknown = sorted({c for text in texts for c in text if c not in self.index})
        if unknown:
            raise ValueError(f"characters {unknown} are not in the CTC vocabulary {self.vocabulary!r}; "
                             "normalise the text (e.g. lower-case) or create the model with vocabulary=...")
        longest = max((len(t) for t in texts), default=0)
        ids = torch.full((len(texts), longest), IGNORE, dtype=torch.long)
        for row, text in enumerate(texts):
            ids[row, : len(text)] = torch.tensor([self.index[c] for c in text], dtype=torch.long)
        return ids

    def loss(self, logits: Tensor, targets: Tensor | Sequence[str]) -> Tensor:
        """CTC loss (mean over the batch of per-clip loss / target length, as ``F.ctc_loss``).

        ``targets``: texts, or ids [B, S] with characters 1..len(vocabulary), padded with -100
        after each clip's text (0 is the blank and never a target).
        """
        if not isinstance(targets, Tensor):
            targets = self.encode(list(targets))
        targets = targets.to(logits.device)
        if targets.dim() != 2 or targets.shape[0] != logits.shape[0]:
            raise ValueError(f"CTC targets must be [batch={logits.shape[0]}, length] ids padded with -100 "
                             f"(or a list of texts), got shape {list(targets.shape)}")
        targets = check_class_ids(targets, self.num_classes, "CTC target ids", first=1, note=" (0 is the blank)")
        real = targets != IGNORE
        lengths = real.sum(dim=1)  # [B]
        if not torch.equal(real, torch.arange(targets.shape[1], device=targets.device)[None] < lengths[:, None]):
            raise ValueError("CTC targets must be right-padded with -100: each row's ids first, then the padding")
        steps = logits.shape[1]
        if lengths.numel() and int(lengths.max()) > steps:
            raise ValueError(f"a target of {int(lengths.max())} characters cannot fit in {steps} time steps")
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # [T, B, C]
        input_lengths = torch.full((logits.shape[0],), steps, dtype=torch.long, device=logits.device)
        return F.ctc_loss(log_probs, targets.clamp(min=0), input_lengths, lengths, blank=BLANK)

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The inputs unchanged; targets [B, 2]: two characters per clip, different from each other where
        the vocabulary allows (two time steps carry them; a repeat needs a blank between), so that the
        shortest example clip fits them."""
        first = torch.randint(1, self.num_classes, (example_rows(inputs, extras), 1))  # [B, 1]
        second = first % len(self.vocabulary) + 1  # the next character, wrapping round
        return inputs, extras, torch.cat([first, second], dim=1)

    def decode(self, logits: Tensor) -> list[str]:
        """Greedy decoding: the best class per step, repeats collapsed, blanks dropped."""
        best = logits.argmax(dim=-1)  # [B, T]
        texts = []
        for row in best.tolist():
            chars, previous = [], BLANK
            for index in row:
                if index != previous and index != BLANK:
                    chars.append(self.vocabulary[index - 1])
                previous = index
            texts.append("".join(chars))
        return texts

    def reset_classifier(self, num_classes: int) -> None:
        raise ValueError("a CTC head's classes are its vocabulary (1 + len(vocabulary)); create the model "
                         "with vocabulary='...' instead of resetting the classifier")

    def extra_repr(self) -> str:
        return f"vocabulary={self.vocabulary!r}"


def build_ctc_head(backbone: nn.Module, spec: Any) -> CTCHead:
    return CTCHead(backbone.make_frame_pool(), backbone.num_features, spec.vocabulary,
                   dropout=getattr(spec, "dropout", 0.0))
