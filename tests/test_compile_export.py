"""Registry-wide: every card compiles with ``fullgraph=True`` and exports, with static and dynamic shapes.

Cards whose tiny smoke configs resolve to the same spec share one check (the gpt2 sizes
differ only in fields the smoke config overrides). Audio models are traced on spectrograms:
the waveform front end cuts each clip to its own length, a data-dependent shape, so it
runs before the traced part (as transformers' feature extractors do) or under a plain
`torch.compile` with graph breaks, which the last test checks.
"""
from __future__ import annotations

import pytest
import torch
from torch.export import Dim

import zoo
from zoo.factory import get_family
from zoo.models.spec import build_spec

from registry_helpers import smoke, tasks_for


def _smoke_groups() -> dict[str, list[str]]:
    """First card name -> every card whose smoke spec is the same."""
    groups: dict[str, list[str]] = {}
    for name in zoo.list_models():
        info = zoo.info(name)
        family = get_family(info["family"])
        spec = build_spec(family.spec, info["spec"], family.smoke_overrides, where=name)
        groups.setdefault(f"{info['family']}:{spec!r}", []).append(name)
    return {names[0]: names for names in groups.values()}


GROUPS = _smoke_groups()


EXPORT_CASES = [(name, task) for name in GROUPS for task in tasks_for(name)]


def traceable(name: str, task: str | None = None, batch_size: int = 3):
    """(eval model, args, kwargs) on inputs without data-dependent preprocessing."""
    model, args, kwargs = smoke(name, task, batch_size)
    model.eval()
    if zoo.info(name)["modality"] == "audio":
        spectrogram = model.backbone.frontend(args[0])  # [B, n_mels, frames]
        frames = spectrogram.shape[-1]
        mask = torch.ones(batch_size, frames, dtype=torch.long)
        mask[-1, frames * 5 // 8 :] = 0  # the last clip right-padded, as in the waveform smoke inputs
        args, kwargs = (), {"spectrogram": spectrogram, "attention_mask": mask}
    return model, args, kwargs


def test_every_card_is_in_one_group():
    assert sorted(n for names in GROUPS.values() for n in names) == sorted(zoo.list_models())


@pytest.mark.parametrize("name", list(GROUPS))
def test_compile_fullgraph_matches_eager(name):
    torch._dynamo.reset()
    model, args, kwargs = traceable(name)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(*args, **kwargs), model(*args, **kwargs), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,task", EXPORT_CASES)
def test_export_matches_eager(name, task):
    model, args, kwargs = traceable(name, task)
    exported = torch.export.export(model, args, kwargs)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(*args, **kwargs), model(*args, **kwargs), atol=1e-5, rtol=1e-4)


# text tensors and the length they share; every other input (images, spectrograms) has a dynamic batch only
_SEQUENCE_DIMS = {"input_ids": "seq", "attention_mask": "seq", "token_type_ids": "seq",
                  "decoder_input_ids": "decoder_seq", "decoder_attention_mask": "decoder_seq"}


def _named(args: tuple, kwargs: dict, text: bool) -> dict[str, torch.Tensor]:
    """Inputs by the name that decides their dynamic dims (a text model's positional input is input_ids)."""
    return {**{("input_ids" if text else "pixels"): a for a in args}, **kwargs}


def _dynamic_shapes(args: tuple, kwargs: dict, text: bool, max_len: int) -> dict:
    """``dynamic_shapes`` for ZooModel.forward(*inputs, **extras): batch everywhere, lengths on text tensors."""
    dims = {"batch": Dim("batch", min=1, max=64), "seq": Dim("seq", min=1, max=max_len),
            "decoder_seq": Dim("decoder_seq", min=1, max=max_len)}
    shapes = {name: {0: dims["batch"], **({1: dims[_SEQUENCE_DIMS[name]]} if text else {})}
              for name in _named(args, kwargs, text)}
    dynamic = {"inputs": tuple(shapes[n] for n in list(shapes)[: len(args)])} if args else {}
    return {**dynamic, "extras": {k: shapes[k] for k in kwargs}} if kwargs else dynamic


def _resized(args: tuple, kwargs: dict, text: bool, batch_size: int, length: int) -> tuple[tuple, dict]:
    """The first ``batch_size`` rows; text tensors cut to ``length`` tokens."""
    cut = {name: t[:batch_size, :length] if text else t[:batch_size] for name, t in _named(args, kwargs, text).items()}
    return tuple(cut.values())[: len(args)], {k: cut[k] for k in kwargs}


@pytest.mark.parametrize("name", list(GROUPS))
def test_export_dynamic_batch_and_length(name):
    """One export serves other batch sizes and (for text) other lengths, up to the positions' limit.

    ``strict=True``: torch 2.14's default non-strict export writes input guards for a
    ``**kwargs`` forward that fail with ``NameError: name 'L' is not defined`` when run.
    """
    model, args, kwargs = traceable(name, batch_size=3)
    text = zoo.info(name)["modality"] == "text"
    max_len = getattr(model.spec, "max_positions", None) or getattr(model.spec, "max_len", None) or 32
    exported = torch.export.export(model, args, kwargs, dynamic_shapes=_dynamic_shapes(args, kwargs, text, max_len),
                                   strict=True)
    for batch_size, length in ((1, 5), (2, 9)):
        small_args, small_kwargs = _resized(args, kwargs, text, batch_size, length)
        with torch.no_grad():
            torch.testing.assert_close(exported.module()(*small_args, **small_kwargs),
                                       model(*small_args, **small_kwargs), atol=1e-5, rtol=1e-4)


def test_waveform_models_compile_with_graph_breaks():
    """``torch.compile(model)`` on waveforms: the front end breaks the graph, the result is unchanged."""
    torch._dynamo.reset()
    family = get_family("whisper")
    model = zoo.create("whisper-encoder-tiny", **family.smoke_overrides).eval()
    args, kwargs = family.example_inputs(model.spec, 2)
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(*args, **kwargs), model(*args, **kwargs), atol=1e-5, rtol=1e-4)
