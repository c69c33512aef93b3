"""Language-model and token-level heads: masked LM, causal LM, seq2seq LM, token classification."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.checks import check_int, require_tensor
from .layers import fresh_linear
from .targets import IGNORE_INDEX, check_class_ids, example_tokens, skip_padding

MASKED_FRACTION = 0.15  # of the real tokens that example masked-LM labels score, as in BERT pre-training


def token_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over positions whose label is not -100. logits [B, T, C], labels [B, T]."""
    if require_tensor(labels, "labels", "of class ids [batch, seq_len]").shape != logits.shape[:-1]:
        raise ValueError(f"labels must have shape {list(logits.shape[:-1])} to match the logits, "
                         f"got {list(labels.shape)}")
    labels = check_class_ids(labels, logits.shape[-1], "labels")
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)


class LMHead(nn.Module):
    """Features [B, T, D] -> vocabulary logits [B, T, V].

    The projection is tied to the backbone's token embedding when the backbone says so
    (``tie_embeddings``), else its own matrix. ``transform`` (BERT's dense-GELU-LayerNorm,
    T5's output scaling) runs first when the backbone provides one. Labels follow
    transformers: -100 is ignored; this head's labels are aligned with the outputs
    (masked LM: the original ids at the masked positions).
    """

    num_classes = 0
    label_format = "token ids [batch, seq_len] in [0, vocab_size) at the masked positions, -100 elsewhere"

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        embedding = backbone.token_embedding
        self.vocab_size, dim = embedding.num_embeddings, embedding.embedding_dim
        self.transform = backbone.make_lm_transform() if hasattr(backbone, "make_lm_transform") else nn.Identity()
        self.decoder = nn.Linear(dim, self.vocab_size, bias=getattr(backbone, "lm_bias", False))
        if getattr(backbone, "lm_bias", False):
            nn.init.zeros_(self.decoder.bias)
        if getattr(backbone, "tie_embeddings", False):  # a backbone that does not say has its own matrix
            self.decoder.weight = embedding.weight  # one Parameter, two names
        else:
            nn.init.trunc_normal_(self.decoder.weight, std=0.02)

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        hidden = self.transform(features)  # [B, T, D]
        return hidden if pre_logits else self.decoder(hidden)  # [B, T, V]

    def reset_classifier(self, num_classes: int) -> None:
        raise ValueError("a language-model head predicts the vocabulary; it has no classifier to reset "
                         "(create the model with vocab_size=... instead)")

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return token_cross_entropy(logits, labels)

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The inputs unchanged; labels [B, T]: the ids at about 15% of the real tokens (at least the
        first of each row), -100 elsewhere. The inputs are not corrupted (no mask token is known here)."""
        ids, mask = example_tokens(inputs, extras)
        positions = torch.arange(ids.shape[1])
        real = torch.ones_like(ids, dtype=torch.bool) if mask is None else mask != 0  # [B, T]
        first = real.long().argmax(dim=1, keepdim=True)  # [B, 1]
        chosen = real & ((torch.rand(ids.shape) < MASKED_FRACTION) | (positions == first))
        return inputs, extras, ids.masked_fill(~chosen, IGNORE_INDEX)


class CausalLMHead(LMHead):
    """Next-token prediction: ``labels`` may be the input ids themselves; the loss shifts them."""

    label_format = "token ids [batch, seq_len]: the input ids (shifted inside the loss), -100 on padding"

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        labels = require_tensor(labels, "labels", "of token ids [batch, seq_len] (the input ids)")
        return token_cross_entropy(logits[:, :-1], labels[:, 1:])

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The inputs unchanged; labels: the input ids with -100 on padding."""
        ids, mask = example_tokens(inputs, extras)
        return inputs, extras, skip_padding(ids, mask)


class Seq2SeqLMHead(LMHead):
    """Encoder-decoder LM: logits [B, T_dec, V] aligned with the labels (the decoder inputs are the
    labels shifted right, the backbone's ``labels=`` does that)."""

    label_format = ("target ids [batch, target_len] in [0, vocab_size), -100 on padding; "
                    "the decoder inputs are these shifted right")

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The inputs (with their ``decoder_input_ids``) unchanged; labels [B, T_dec]: the next decoder
        token at each position (a random id after the last), so ``decoder_input_ids`` is the labels shifted
        right; -100 where ``decoder_attention_mask`` marks padding."""
        if "decoder_input_ids" not in extras:
            raise ValueError("seq2seq-lm example inputs need decoder_input_ids [batch, target_len] to derive "
                             "the labels from")
        decoder_ids, mask = example_tokens(inputs, extras)
        labels = torch.cat([decoder_ids[:, 1:], torch.randint(1, self.vocab_size, (len(decoder_ids), 1))], dim=1)
        return inputs, extras, skip_padding(labels, mask)


class TokenClassificationHead(nn.Module):
    """Per-token classifier: features [B, T, D] -> logits [B, T, C]; labels -100 are ignored."""

    label_format = "class ids [batch, seq_len] in [0, num_classes), -100 where a token has no label (padding)"

    def __init__(self, in_dim: int, num_classes: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.drop = nn.Dropout(dropout)
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        if check_int(num_classes, "num_classes") < 1:
            raise ValueError(f"token classification needs num_classes >= 1, got {num_classes}")
        self.num_classes, self.fc = num_classes, fresh_linear(self.in_dim, num_classes, like=getattr(self, "fc", None))

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        hidden = self.drop(features)
        return hidden if pre_logits else self.fc(hidden)  # [B, T, C]

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return token_cross_entropy(logits, labels)

    def example_batch(self, inputs: tuple, extras: dict) -> tuple[tuple, dict, Tensor]:
        """The inputs unchanged; random class ids per token [B, T], -100 on padding."""
        ids, mask = example_tokens(inputs, extras)
        return inputs, extras, skip_padding(torch.randint(0, self.num_classes, ids.shape), mask)


def build_masked_lm_head(backbone: nn.Module, spec: Any) -> LMHead:
    return LMHead(backbone)


def build_seq2seq_lm_head(backbone: nn.Module, spec: Any) -> Seq2SeqLMHead:
    return Seq2SeqLMHead(backbone)


def build_causal_lm_head(backbone: nn.Module, spec: Any) -> CausalLMHead:
    return CausalLMHead(backbone)


def build_token_classification_head(backbone: nn.Module, spec: Any) -> TokenClassificationHead:
    return TokenClassificationHead(backbone.num_features, spec.num_classes, dropout=getattr(spec, "dropout", 0.0))
