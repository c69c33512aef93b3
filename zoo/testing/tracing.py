"""Checks that a model traces: ``torch.compile(fullgraph=True)`` and ``torch.export``, static and dynamic.

Audio models are traced on spectrograms when the backbone has a ``frontend`` (the waveform
front end cuts each clip to its own length, a data-dependent shape), as transformers'
feature extractors run before the model.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.export import Dim

from .checks import _close, _diff, _fail
from .subject import Batch, Subject

TOL = dict(atol=1e-5, rtol=1e-4)
# text tensors and the length they share; every other input has a dynamic batch only
SEQUENCE_DIMS = {"input_ids": "seq", "attention_mask": "seq", "token_type_ids": "seq",
                 "decoder_input_ids": "decoder_seq", "decoder_attention_mask": "decoder_seq"}


def traceable(subject: Subject, batch_size: int = 3) -> tuple[Any, Batch]:
    """(eval model, batch) with inputs that need no data-dependent preprocessing."""
    torch.manual_seed(0)
    model = subject.build().eval()
    batch = subject.batch(model, batch_size)
    frontend = getattr(model.backbone, "frontend", None)
    if subject.modality == "audio" and frontend is not None:
        spectrogram = frontend(batch.inputs[0])  # [B, n_mels, frames]
        frames = spectrogram.shape[-1]
        extras = {k: v for k, v in batch.extras.items() if k != "attention_mask"}  # decoder ids stay
        extras["spectrogram"] = spectrogram
        if subject.architecture != "encoder-decoder":  # speech-to-text attends to its whole window: no mask
            extras["attention_mask"] = torch.ones(batch_size, frames, dtype=torch.long)
            extras["attention_mask"][-1, frames * 5 // 8:] = 0  # the last clip right-padded, as in the waveform
        batch = Batch((), extras, batch.targets)
    return model, batch


def _compare(subject: Subject, what: str, got: Tensor, expected: Tensor) -> None:
    if not _close(got, expected, **TOL):
        raise _fail(subject, f"{what} differs from eager ({_diff(got, expected)})")


def compile_fullgraph(subject: Subject) -> None:
    """``torch.compile(model, fullgraph=True)`` traces without graph breaks and equals eager."""
    torch._dynamo.reset()
    model, batch = traceable(subject)
    try:
        compiled = torch.compile(model, fullgraph=True)
        with torch.no_grad():
            got = compiled(*batch.inputs, **batch.extras)
    except Exception as exc:  # a graph break or an unsupported op
        raise _fail(subject, f"torch.compile(fullgraph=True) failed: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    with torch.no_grad():
        _compare(subject, "the compiled model", got, model(*batch.inputs, **batch.extras))


def _export(subject: Subject, model: Any, batch: Batch, **options: Any) -> Any:
    try:
        return torch.export.export(model, batch.inputs, batch.extras, **options)
    except Exception as exc:
        raise _fail(subject, f"torch.export failed: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc


def export_static(subject: Subject) -> None:
    """``torch.export`` with the example shapes; the exported program equals eager."""
    model, batch = traceable(subject)
    exported = _export(subject, model, batch)
    with torch.no_grad():
        _compare(subject, "the exported program", exported.module()(*batch.inputs, **batch.extras),
                 model(*batch.inputs, **batch.extras))


def _named(batch: Batch, text: bool) -> dict[str, Tensor]:
    """Inputs by the name that decides their dynamic dims (a text model's positional input is input_ids)."""
    return {**{("input_ids" if text else f"input{i}"): a for i, a in enumerate(batch.inputs)}, **batch.extras}


def _dynamic_shapes(batch: Batch, text: bool, max_len: int) -> dict:
    """``dynamic_shapes`` for ZooModel.forward(*inputs, **extras): the batch everywhere, lengths on text
    tensors (their last dimension, so multiple choice's [batch, choices, seq] works too)."""
    dims = {"batch": Dim("batch", min=1, max=64), "seq": Dim("seq", min=1, max=max_len),
            "decoder_seq": Dim("decoder_seq", min=1, max=max_len)}
    shapes = {name: {0: dims["batch"], **({t.dim() - 1: dims[SEQUENCE_DIMS[name]]} if text else {})}
              for name, t in _named(batch, text).items()}
    dynamic = {"inputs": tuple(shapes[n] for n in list(shapes)[: len(batch.inputs)])} if batch.inputs else {}
    return {**dynamic, "extras": {k: shapes[k] for k in batch.extras}} if batch.extras else dynamic


def _resized(batch: Batch, text: bool, batch_size: int, length: int) -> Batch:
    """The first ``batch_size`` rows; text tensors cut to ``length`` tokens."""
    cut = {name: (t[:batch_size, ..., :length] if text else t[:batch_size]) for name, t in _named(batch, text).items()}
    return Batch(tuple(cut.values())[: len(batch.inputs)], {k: cut[k] for k in batch.extras}, None)


def export_dynamic(subject: Subject) -> None:
    """One ``torch.export`` (``strict=True``) with a dynamic batch (and, for text, length) serves other sizes.

    ``strict=True``: torch 2.14's default non-strict export writes input guards for a
    ``**kwargs`` forward that fail with ``NameError: name 'L' is not defined`` when run.
    """
    model, batch = traceable(subject, batch_size=3)
    text = subject.modality == "text"
    max_len = getattr(model.spec, "max_positions", None) or getattr(model.spec, "max_len", None) or 32
    exported = _export(subject, model, batch, dynamic_shapes=_dynamic_shapes(batch, text, max_len), strict=True)
    for batch_size, length in ((1, 5), (2, 9)):
        small = _resized(batch, text, batch_size, length)
        with torch.no_grad():
            _compare(subject, f"the dynamic export at batch {batch_size}" + (f", length {length}" if text else ""),
                     exported.module()(*small.inputs, **small.extras), model(*small.inputs, **small.extras))

