"""What every audio front end shares: input checks, the sample-rate check and padding masks -> lengths."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ...nn.checks import check_int, require_tensor
from ...nn.masks import check_binary_mask


def check_waveform(waveform: Tensor) -> None:
    """Waveforms are float [batch, samples], mono."""
    if not require_tensor(waveform, "waveform", "of float samples [batch, samples]").is_floating_point():
        raise TypeError(f"waveform must be a float tensor [batch, samples] with values in [-1, 1], got "
                        f"{waveform.dtype}; scale integer PCM first (16-bit: waveform.float() / 32768)")
    if waveform.dim() == 1:
        raise ValueError(f"waveform must be [batch, samples]; got one clip {list(waveform.shape)}: "
                         "add the batch dimension with waveform[None]")
    if waveform.dim() != 2:
        raise ValueError(f"waveform must be [batch, samples] mono audio, got shape {list(waveform.shape)}; "
                         "for [batch, channels, samples] mix down first with waveform.mean(dim=1)")


def check_sample_rate(sample_rate: int | None, expected: int) -> None:
    """A model cannot tell a tensor's rate, so callers may state it (an int, in Hz); a different one is an
    error saying how to fix it."""
    if sample_rate is not None and check_int(sample_rate, "sample_rate (in Hz)") != expected:
        raise ValueError(f"this model takes audio at {expected} Hz, got sample_rate={sample_rate}; resample first: "
                         f"torchaudio.functional.resample(waveform, {sample_rate}, {expected})")


def lengths_from_mask(attention_mask: Tensor, total: int, what: str) -> Tensor:
    """A right-padded keep-mask [B, total] (1 = real, 0 = padding) -> valid lengths [B] (int64).

    Padding must come after each clip; a mask with holes, left padding or values other than 0 and 1
    is an error, not a guess (one comparison and one host sync checks both, skipped while compiling).
    """
    mask = require_tensor(attention_mask, "attention_mask", f"keep-mask [batch, {total}]")
    if mask.dim() != 2 or mask.shape[1] != total:
        raise ValueError(f"attention_mask must be [batch, {total}] over the {what} (1 = real, 0 = padding), "
                         f"got shape {list(mask.shape)}")
    keep = mask != 0
    lengths = keep.sum(dim=1)  # [B]
    if not torch.compiler.is_compiling():
        expected = torch.arange(total, device=keep.device)[None] < lengths[:, None]  # [B, total]
        if not torch.equal(mask, expected.to(mask.dtype)):
            check_binary_mask(mask)  # names values other than 0/1, if that is what is wrong
            raise ValueError(f"attention_mask must be right-padded: ones for the real {what}, then zeros")
    return lengths


class AudioFrontEnd(nn.Module):
    """Base of the front ends: waveform [B, samples] (+ valid lengths) -> features [B, n_mels, frames] in fp32.

    Front ends are fixed functions of their settings: their buffers (window, filter bank)
    are not saved, follow the model across devices but stay float32 when the model is cast
    to bf16/fp16 (spectrograms and logs need the precision); the backbone casts the output.
    Subclasses set ``sample_rate``, ``n_mels``, ``min_samples``, ``max_samples`` and define
    ``frame_lengths`` and ``_features``.
    """

    sample_rate: int
    n_mels: int
    min_samples: int
    max_samples: int | None

    def frame_lengths(self, sample_lengths: Tensor, num_samples: int) -> Tensor:
        """Valid frames [B] for clips of ``sample_lengths`` samples padded to ``num_samples``."""
        raise NotImplementedError

    def num_frames(self, num_samples: int) -> int:
        """Frames of the output for an input of ``num_samples`` samples."""
        raise NotImplementedError

    def _features(self, waveform: Tensor, lengths: Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, waveform: Tensor, lengths: Tensor | None = None) -> Tensor:
        # waveform: [B, S]; lengths: [B] valid samples (the rest is padding and is ignored)
        check_waveform(waveform)
        seconds = self.sample_rate
        if waveform.shape[1] < self.min_samples:
            raise ValueError(f"clips must have at least {self.min_samples} samples "
                             f"({1000 * self.min_samples / seconds:g} ms at {self.sample_rate} Hz), "
                             f"got {waveform.shape[1]}")
        if self.max_samples is not None and waveform.shape[1] > self.max_samples:
            raise ValueError(f"clips of {waveform.shape[1]} samples ({waveform.shape[1] / seconds:g} s) are longer "
                             f"than this model takes: at most {self.max_samples} samples "
                             f"({self.max_samples / seconds:g} s at {self.sample_rate} Hz); crop "
                             f"(waveform[:, :{self.max_samples}]) or split the audio into chunks")
        if waveform.shape[0] == 0:  # an empty batch: empty features of the shape a clip gets
            return waveform.new_zeros(0, self.n_mels, self.num_frames(waveform.shape[1]), dtype=torch.float32)
        waveform = waveform.float()
        if lengths is not None:
            if not torch.compiler.is_compiling() and bool((lengths < self.min_samples).any()):
                raise ValueError(f"every clip needs at least {self.min_samples} real samples; attention_mask "
                                 f"gives lengths {lengths.tolist()}")
            keep = torch.arange(waveform.shape[1], device=waveform.device) < lengths[:, None]
            waveform = waveform * keep  # what the padding holds never matters
        return self._features(waveform, lengths)  # [B, n_mels, frames], fp32

    def _apply(self, fn, recurse: bool = True):
        """Follow the model's device, keep float32 (a cast model must not round the filter bank)."""
        kept = {name: buf for name, buf in self.named_buffers()}
        super()._apply(fn, recurse)
        for name, buf in list(self.named_buffers()):
            module_name, _, leaf = name.rpartition(".")
            owner = self.get_submodule(module_name) if module_name else self
            owner._buffers[leaf] = kept[name].to(buf.device)
        return self

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, n_mels={self.n_mels}"


def non_persistent(module: nn.Module) -> nn.Module:
    """Re-register every buffer of ``module`` as not saved (front ends are rebuilt from the spec)."""
    for sub in module.modules():
        for name, buf in list(sub._buffers.items()):
            if name not in sub._non_persistent_buffers_set:
                del sub._buffers[name]
                sub.register_buffer(name, buf, persistent=False)
    return module
