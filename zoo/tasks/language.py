"""Language-model and token-level heads: masked LM, causal LM, seq2seq LM, token classification."""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.checks import check_int, require_tensor
from .targets import IGNORE_INDEX, check_class_ids

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
    transformers: -100 is ignored; this head's labels are aligned with the outputs.
    """

    num_classes = 0

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        embedding = backbone.token_embedding
        self.vocab_size, dim = embedding.num_embeddings, embedding.embedding_dim
        self.transform = backbone.make_lm_transform() if hasattr(backbone, "make_lm_transform") else nn.Identity()
        self.decoder = nn.Linear(dim, self.vocab_size, bias=getattr(backbone, "lm_bias", False))
        if getattr(backbone, "lm_bias", False):
            nn.init.zeros_(self.decoder.bias)
        if backbone.tie_embeddings:
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


class CausalLMHead(LMHead):
    """Next-token prediction: ``labels`` may be the input ids themselves; the loss shifts them."""

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        labels = require_tensor(labels, "labels", "of token ids [batch, seq_len] (the input ids)")
        return token_cross_entropy(logits[:, :-1], labels[:, 1:])


class TokenClassificationHead(nn.Module):
    """Per-token classifier: features [B, T, D] -> logits [B, T, C]; labels -100 are ignored."""

    def __init__(self, in_dim: int, num_classes: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.drop = nn.Dropout(dropout)
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        if check_int(num_classes, "num_classes") < 1:
            raise ValueError(f"token classification needs num_classes >= 1, got {num_classes}")
        old = getattr(self, "fc", None)
        fc = nn.Linear(self.in_dim, num_classes)
        nn.init.trunc_normal_(fc.weight, std=0.02)
        nn.init.zeros_(fc.bias)
        if old is not None:
            fc = fc.to(device=old.weight.device, dtype=old.weight.dtype)
        self.num_classes, self.fc = num_classes, fc

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        hidden = self.drop(features)
        return hidden if pre_logits else self.fc(hidden)  # [B, T, C]

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return token_cross_entropy(logits, labels)


def build_masked_lm_head(backbone: nn.Module, spec: Any) -> LMHead:
    return LMHead(backbone)


def build_seq2seq_lm_head(backbone: nn.Module, spec: Any) -> LMHead:
    return LMHead(backbone)


def build_causal_lm_head(backbone: nn.Module, spec: Any) -> CausalLMHead:
    return CausalLMHead(backbone)


def build_token_classification_head(backbone: nn.Module, spec: Any) -> TokenClassificationHead:
    return TokenClassificationHead(backbone.num_features, spec.num_classes, dropout=getattr(spec, "dropout", 0.0))
