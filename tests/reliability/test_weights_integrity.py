"""Weights that never silently change (issue 10): dtypes never change kind when loading."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo.weights.errors import WeightsError
from zoo.weights.strict import load_strict

VIT = dict(img_size=32, depth=2)


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- dtypes ----------------------------------------------------------------------------------

def test_integer_and_bool_tensors_never_load_into_float_parameters(tmp_path):
    model = zoo.create("vit-tiny", **VIT)
    before = params(model)
    state = params(model)
    state["backbone.cls_token"] = torch.ones_like(state["backbone.cls_token"], dtype=torch.int64)
    state["head.fc.bias"] = torch.ones_like(state["head.fc.bias"], dtype=torch.bool)
    with pytest.raises(WeightsError) as info:
        load_strict(model, state)
    message = str(info.value)
    assert "nothing was loaded" in message
    assert "wrong dtype (2):\n    backbone.cls_token: weights torch.int64, model torch.float32\n" \
           "    head.fc.bias: weights torch.bool, model torch.float32" in message
    assert "only floating point loads into floating point" in message
    assert unchanged(model, before)

    path = tmp_path / "w.safetensors"  # the same through weights=
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    with pytest.raises(WeightsError, match="backbone.cls_token: weights torch.int64, model torch.float32"):
        zoo.create("vit-tiny", weights=path, **VIT)

    # floating point into floating point is a documented cast: published fp16/bf16 weights load this way
    for dtype in (torch.float16, torch.bfloat16):
        half = {k: v.to(dtype) for k, v in before.items()}
        load_strict(model, half)
        assert all(torch.equal(model.state_dict()[k], v.float()) for k, v in half.items())


class WithIntegerBuffer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3))
        self.register_buffer("steps", torch.zeros(3, dtype=torch.int64))


@pytest.mark.parametrize("name, value, wrong", [
    ("steps", torch.ones(3, dtype=torch.int32), "steps: weights torch.int32, model torch.int64"),
    ("steps", torch.ones(3), "steps: weights torch.float32, model torch.int64"),
    ("steps", torch.ones(3, dtype=torch.complex64), "steps: weights torch.complex64, model torch.int64"),
    ("weight", torch.ones(3, dtype=torch.complex64), "weight: weights torch.complex64, model torch.float32"),
])
def test_integer_buffers_take_only_their_own_dtype(name, value, wrong):
    module = WithIntegerBuffer()
    good = {"weight": torch.ones(3), "steps": torch.full((3,), 7, dtype=torch.int64)}
    with pytest.raises(WeightsError, match=f"wrong dtype \\(1\\):\n    {wrong}"):
        load_strict(module, {**good, name: value})
    assert torch.equal(module.steps, torch.zeros(3, dtype=torch.int64)) and torch.equal(module.weight, torch.zeros(3))
    load_strict(module, good)
    assert torch.equal(module.steps, good["steps"])
