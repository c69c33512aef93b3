"""Decoding, in one room: the generation loop with a static KV cache (`generate`), beam search,
and the rules applied to the next-token scores (`token_rules`)."""
from .generate import filter_logits, generate

__all__ = ["filter_logits", "generate"]
