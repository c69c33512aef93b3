"""Input stems: turn raw inputs (token ids, images, spectrograms) into token sequences."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from .checks import check_input_dtype, check_token_ids, require_tensor

# how integer images become model input
_IMAGE_HINT = ("integer images (uint8, 0-255) need preprocessing: zoo.data.image_transform(model), or "
               "images.float() / 255 then normalise with the card's mean and std (model.meta)")


class TokenEmbedding(nn.Embedding):
    """Token ids [B, T] -> vectors [B, T, D], with a clear error for ids outside the vocabulary.

    ``name`` is what the ids are called in errors (BERT's segment embedding: ``token_type_ids``).
    The range check costs one reduction (aminmax) and its read-back per call, skipped while compiling
    or exporting; it stays on every device, since an id out of range is an opaque IndexError on a
    CPU and a device-side assert (which ends the CUDA context) on a GPU.
    """

    def __init__(self, *args: Any, name: str = "token ids", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name

    def forward(self, input_ids: Tensor) -> Tensor:
        check_token_ids(input_ids, self.name)
        if not torch.compiler.is_compiling() and input_ids.numel():
            low, high = (int(v) for v in torch.aminmax(input_ids))  # one reduction
            if low < 0 or high >= self.num_embeddings:
                raise ValueError(f"{self.name} must be in [0, {self.num_embeddings}) for this vocabulary; "
                                 f"got values in [{low}, {high}]")
        return super().forward(input_ids)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class PatchEmbed(nn.Module):
    """Image [B, C, H, W] -> patch tokens [B, N, D] by a strided convolution.

    ``stride`` smaller than ``patch_size`` gives overlapping patches (AST uses 16x16 with
    stride 10). The input size is fixed by ``input_size`` so positions line up; any other
    size is an error naming the expected one.
    """

    def __init__(self, input_size: int | tuple[int, int], patch_size: int | tuple[int, int], in_chans: int,
                 dim: int, *, stride: int | tuple[int, int] | None = None, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.patch_size = _pair(input_size), _pair(patch_size)
        self.stride = _pair(stride) if stride is not None else self.patch_size
        self.grid_size = tuple(
            (size - patch) // step + 1 for size, patch, step in zip(self.input_size, self.patch_size, self.stride)
        )
        if min(self.grid_size) < 1:
            raise ValueError(f"input size {self.input_size} is smaller than the patch size {self.patch_size}")
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=self.patch_size, stride=self.stride, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        expected = f"[batch, {self.proj.in_channels}, {self.input_size[0]}, {self.input_size[1]}]"
        x = require_tensor(x, "images", expected)
        if x.dim() != 4 or x.shape[1] != self.proj.in_channels or tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"expected input {expected}, got {list(x.shape)}")
        check_input_dtype(x, "images", self.proj.weight.dtype, _IMAGE_HINT)
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]


class ConvStem(nn.Module):
    """Features [B, C, T] -> tokens [B, T', D] by 1-D convolutions, each followed by ``activation``.

    One conv per entry of ``strides`` (Whisper: two, strides 1 and 2, GELU), odd ``kernel_size``
    with ``kernel_size // 2`` padding. With ``lengths`` [B] (valid steps per example), steps
    past each length are zeroed before every conv, so padding never leaks into real outputs.
    """

    def __init__(self, in_chans: int, dim: int, *, strides: Sequence[int] = (1, 2), kernel_size: int = 3,
                 activation: Callable[[], nn.Module] = nn.GELU) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.convs = nn.ModuleList(
            nn.Conv1d(in_chans if i == 0 else dim, dim, kernel_size, stride=stride, padding=kernel_size // 2)
            for i, stride in enumerate(strides)
        )
        self.act = activation()

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Valid output steps for ``lengths`` valid input steps (integer tensor)."""
        for conv in self.convs:
            lengths = (lengths + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
        return lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        # x: [B, C, T]; lengths: [B] valid steps
        for conv in self.convs:
            if lengths is not None:
                keep = torch.arange(x.shape[-1], device=x.device) < lengths[:, None]  # [B, T]
                x = x * keep[:, None, :].to(x.dtype)
                lengths = (lengths + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
            x = self.act(conv(x))  # [B, D, T_i]
        return x.transpose(1, 2)  # [B, T', D]
