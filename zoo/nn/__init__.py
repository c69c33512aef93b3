"""The shared transformer block library. No model or family name appears here."""
from .activations import ACTIVATIONS, QuickGELU
from .attention import Attention
from .block import Block, LayerCache
from .cache import KVCache
from .drop import DropPath
from .init import init_trunc_normal
from .masks import apply_causal, causal_mask, check_binary_mask, padding_bias
from .mlp import MLP, GatedMLP
from .norm import LayerNorm, RMSNorm
from .pool import AttentionPool, GridAxisPool, LastTokenPool, TokenPool
from .positions import LearnedPositions, SinusoidalPositions, sinusoid_table
from .relative import RelativePositionBias, relative_position_bucket
from .rotary import RotaryEmbedding, apply_rotary
from .stack import Stack
from .stems import ConvStem, PatchEmbed, TokenEmbedding

__all__ = [
    "ACTIVATIONS", "MLP", "Attention", "AttentionPool", "QuickGELU", "Block", "ConvStem", "DropPath", "GridAxisPool", "GatedMLP", "KVCache", "LastTokenPool", "LayerCache", "LayerNorm",
    "LearnedPositions", "PatchEmbed", "RMSNorm", "RelativePositionBias", "RotaryEmbedding",
    "SinusoidalPositions", "Stack", "TokenEmbedding", "TokenPool", "init_trunc_normal", "apply_causal", "apply_rotary", "causal_mask", "check_binary_mask",
    "padding_bias", "relative_position_bucket", "sinusoid_table",
]
