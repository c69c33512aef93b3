"""Each check of the conformance kit fails on a family broken on purpose for it, and passes on the sound one.

The families wrap the gpt2 backbone (a decoder, so every check applies) and break one thing
each: a check that cannot fail would pass them all.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor, nn

import registry
import zoo
from zoo import testing
from zoo.factory import get_family

GPT2 = get_family("gpt2")


class Sound(nn.Module):
    """The gpt2 backbone, unchanged: every attribute and method is the inner one's."""

    modality, architecture = "text", "decoder"

    def __init__(self, spec) -> None:
        super().__init__()
        self.inner = GPT2.build(spec)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "inner":
                raise
            return getattr(self.inner, name)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, caches=None) -> Tensor:
        return self.inner(input_ids, attention_mask=attention_mask, caches=caches)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.inner.set_grad_checkpointing(enable)


class LooksAhead(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        out = super().forward(input_ids, attention_mask, caches)
        return out + out[:, -1:]  # every position sees the last token


class BatchDependent(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        out = super().forward(input_ids, attention_mask, caches)
        return out - out.mean(dim=0, keepdim=True)  # a row depends on the others


class UnusedParameter(Sound):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.unused = nn.Linear(4, 4)


class Randomized(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        return super().forward(input_ids, attention_mask, caches) + 1e-3 * torch.rand(())  # even in eval mode


class LostBuffer(Sound):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.register_buffer("scale", torch.rand(()) + 1, persistent=False)  # drawn again when loading

    def forward(self, input_ids, attention_mask=None, caches=None):
        return super().forward(input_ids, attention_mask, caches) * self.scale


class IgnoresMask(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        return super().forward(input_ids, None, caches)


class IgnoresCache(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        return super().forward(input_ids, None if caches is None else attention_mask, None)


class NoCheckpointing(Sound):
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        pass  # claims to, does not


class GraphBreak(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        out = super().forward(input_ids, attention_mask, caches)
        return out * 2 if float(out.sum()) > 1e30 else out  # a branch on data: no single graph


class FixedBatch(Sound):
    def forward(self, input_ids, attention_mask=None, caches=None):
        out = super().forward(input_ids, attention_mask, caches)
        return out if out.shape[0] == 3 else out + 1  # specialises on the example batch size


def family(build, name: str) -> zoo.Family:
    return dataclasses.replace(GPT2, name=name, build=build, key_maps=())


@pytest.fixture
def registered(fresh_catalog):
    """Register a family in code for the test (zoo.load rebuilds through the registry), removed after."""
    names = []

    def add(build) -> zoo.Family:
        made = family(build, f"kit-{build.__name__.lower()}")
        zoo.register_family(made)
        names.append(made.name)
        return made

    yield add
    for name in names:
        registry.CATALOG.unregister("family", name)


BROKEN = [
    (LooksAhead, "causal", "changing the last token changed earlier outputs"),
    (BatchDependent, "deterministic", "row 0 alone differs from row 0"),
    (UnusedParameter, "forward_backward", "parameters get no gradient .*unused"),
    (Randomized, "deterministic", "two forwards of the same input differ"),
    (LostBuffer, "save_load", "outputs differ after zoo.save / zoo.load"),
    (IgnoresMask, "padding", "padding columns on the left .* changed the real tokens' features"),
    (IgnoresCache, "kv_cache", "decoding through the KV caches differs"),
    (NoCheckpointing, "grad_checkpointing", "expected under half"),
    (GraphBreak, "compile", r"torch.compile\(fullgraph=True\) failed"),
    (FixedBatch, "export_dynamic", "torch.export failed|dynamic export at batch 1 differs"),
]


@pytest.mark.parametrize("build, check, message", BROKEN, ids=[b.__name__ for b, _, _ in BROKEN])
def test_each_check_fails_on_a_family_broken_for_it(registered, build, check, message):
    broken = registered(build)
    with pytest.raises(testing.ConformanceError, match=message):
        testing.check_family(broken, checks=[check], tasks=["causal-lm"])


@pytest.mark.parametrize("check", [c for _, c, _ in BROKEN])
def test_the_sound_family_passes_the_same_checks(registered, check):
    testing.check_family(registered(Sound), checks=[check], tasks=["causal-lm"])


def test_a_head_without_example_batch_cannot_be_checked(fresh_catalog):
    class Head(nn.Module):
        num_classes = 0

        def forward(self, features, pre_logits=False, attention_mask=None):
            return features

    registry.register_task("kit-bare-head", lambda backbone, spec: Head(), modalities=("text",))
    try:
        with pytest.raises(testing.ConformanceError, match="has no example_batch"):
            testing.check_task("kit-bare-head", card="gpt2", checks=["forward_backward"])
    finally:
        registry.CATALOG.unregister("task", "kit-bare-head")


def test_key_map_check_compares_with_the_reference_and_catches_a_wrong_map():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    reference = GPT2LMHeadModel(config)
    ours = zoo.create("gpt2", task="causal-lm", vocab_size=97, max_positions=32, dim=32, depth=2, num_heads=2)
    ids = torch.randint(1, 97, (2, 10))
    layout = testing.check_key_map(ours, reference, (ids,), output=lambda out: out.logits,
                                   config=config.to_dict())
    assert layout == GPT2.key_maps[0].layout

    key_map = GPT2.key_maps[0]

    def swapped(state, spec):  # a map that mixes up the two blocks
        converted = key_map.convert(state, spec)
        return {k.replace("blocks.0.", "blocks.X.").replace("blocks.1.", "blocks.0.").replace("blocks.X.", "blocks.1."): v
                for k, v in converted.items()}

    wrong = dataclasses.replace(GPT2, key_maps=(dataclasses.replace(key_map, convert=swapped),))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("zoo.factory.get_family", lambda name: wrong)
        with pytest.raises(testing.ConformanceError, match="differs from GPT2LMHeadModel"):
            testing.check_key_map(ours, reference, (ids,), output=lambda out: out.logits)


def test_cases_cover_every_check_and_name_themselves():
    found = testing.cases(["gpt2"])
    assert {c.check.name for c in found} == {c.name for c in testing.CHECKS}
    assert "gpt2-causal-lm-kv_cache" in {str(c) for c in found}
    with pytest.raises(ValueError, match="unknown checks nope"):
        testing.cases(["gpt2"], checks=["nope"])
