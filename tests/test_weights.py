"""weights=, zoo.save / zoo.load: formats, layouts, strictness, atomicity, no pickled code."""
from __future__ import annotations

import json
import pickle

import pytest
import timm
import torch
from safetensors.torch import save_file

import zoo
from zoo.weights.errors import WeightsError
from zoo.weights.load import load_weights

SMALL = dict(img_size=32, depth=2)


@pytest.fixture
def timm_tiny():
    return timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2).eval()


def params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".bin"])
def test_timm_layout_in_every_file_type(timm_tiny, tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    state = {k: v.contiguous() for k, v in timm_tiny.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    model = zoo.create("vit-tiny", weights=path, **SMALL).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(images) - timm_tiny(images)).abs().max() < 1e-5


def test_training_checkpoint_wrappers_are_unwrapped(timm_tiny, tmp_path):
    path = tmp_path / "train.pth"
    wrapped = {f"module.{k}": v for k, v in timm_tiny.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": wrapped}, path)
    model = zoo.create("vit-tiny", weights=path, **SMALL)
    assert torch.equal(model.backbone.cls_token, timm_tiny.cls_token)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_refused(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"w": Evil()}, handle)
    with pytest.raises(WeightsError, match="pickled code is refused on purpose") as info:
        zoo.create("vit-tiny", weights=path, **SMALL)
    assert "pwned" not in capsys.readouterr().out
    assert "weights_only" not in str(info.value)


def test_corrupt_and_missing_files(tmp_path, timm_tiny):
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in timm_tiny.state_dict().items()}, path)
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(WeightsError, match="not a readable safetensors file \\(truncated or corrupt"):
        zoo.create("vit-tiny", weights=path, **SMALL)
    with pytest.raises(WeightsError, match="does not exist"):
        zoo.create("vit-tiny", weights=tmp_path / "nope.pth", **SMALL)
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(WeightsError, match="unsupported weights file type '.npz'"):
        zoo.create("vit-tiny", weights=tmp_path / "w.npz", **SMALL)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(WeightsError, match="neither a saved zoo model, a Hugging Face model"):
        zoo.create("vit-tiny", weights=tmp_path / "empty_dir", **SMALL)


def test_unknown_layout_is_named(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"encoder.layer.0.weight": torch.zeros(2)}, path)
    with pytest.raises(WeightsError, match=r"not a layout the 'vit' family reads \(zoo, timm\)"):
        zoo.create("vit-tiny", weights=path, **SMALL)


def test_mismatch_lists_keys_and_leaves_model_untouched(timm_tiny, tmp_path):
    model = zoo.create("vit-tiny", **SMALL)
    before = params(model)
    state = dict(timm_tiny.state_dict())
    del state["blocks.1.mlp.fc2.bias"]
    state["blocks.0.extra"] = torch.zeros(1)
    state["head.weight"] = torch.zeros(10, 192)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as info:
        load_weights(model, path, zoo.factory.get_family("vit"))
    message = str(info.value)
    assert "nothing was loaded" in message
    assert "missing from the weights (1):\n    backbone.stack.blocks.1.mlp.fc2.bias" in message
    assert "unexpected in the weights (1):\n    blocks.0.extra" in message
    assert "head.fc.weight: weights [10, 192], model [1000, 192]" in message
    assert "reset_classifier" in message
    assert same(before, params(model))


def test_headless_task_keeps_backbone_and_warns(timm_tiny, tmp_path):
    path = tmp_path / "w.pth"
    torch.save(timm_tiny.state_dict(), path)
    with pytest.warns(UserWarning, match="2 head tensors are not used by the feature-extraction head"):
        model = zoo.create("vit-tiny", task="feature-extraction", weights=path, **SMALL).eval()
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (model(images) - timm_tiny.forward_features(images)).abs().max() < 1e-5


def test_save_load_round_trip_is_exact(tmp_path):
    model = zoo.create("vit-tiny", num_classes=3, drop_path_rate=0.1, **SMALL)
    model.reset_classifier(5)
    zoo.save(model, tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["family"] == "vit" and config["task"] == "image-classification"
    assert config["spec"]["num_classes"] == 5 and config["card"] == "vit-tiny"
    loaded = zoo.load(tmp_path / "run")
    assert loaded.spec == model.spec
    assert same(params(model), params(loaded))
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(images), loaded.eval()(images))
    again = zoo.create("vit-tiny", num_classes=5, weights=tmp_path / "run", **SMALL)
    assert same(params(model), params(again))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.safetensors"]


def test_mixed_saves_are_detected(tmp_path):
    zoo.save(zoo.create("vit-tiny", num_classes=3, **SMALL), tmp_path / "a")
    zoo.save(zoo.create("vit-tiny", num_classes=4, **SMALL), tmp_path / "b")
    (tmp_path / "a" / "config.json").write_bytes((tmp_path / "b" / "config.json").read_bytes())
    with pytest.raises(WeightsError, match="come from different saves"):
        zoo.load(tmp_path / "a")


def test_failed_save_leaves_previous_files(tmp_path, monkeypatch):
    model = zoo.create("vit-tiny", **SMALL)
    zoo.save(model, tmp_path / "run")
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    import safetensors.torch

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", crash)
    with pytest.raises(OSError, match="disk full"):
        zoo.save(zoo.create("vit-tiny", **SMALL), tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.safetensors"]


def test_save_needs_a_zoo_model(tmp_path):
    with pytest.raises(TypeError, match="zoo.save needs a model made by zoo.create"):
        zoo.save(torch.nn.Linear(2, 2), tmp_path)


def test_missing_head_starts_fresh_with_warning(timm_tiny, tmp_path):
    path = tmp_path / "backbone_only.pth"
    torch.save({k: v for k, v in timm_tiny.state_dict().items() if not k.startswith("head.")}, path)
    torch.manual_seed(3)
    with pytest.warns(UserWarning, match="no weights for 2 tensors of the image-classification head"):
        model = zoo.create("vit-tiny", num_classes=4, weights=path, **SMALL)
    assert torch.equal(model.backbone.cls_token, timm_tiny.cls_token)
    assert model.head.fc.weight.shape == (4, 192) and model.head.fc.weight.abs().sum() > 0


def test_backbone_stays_strict_when_head_is_missing(timm_tiny, tmp_path):
    state = {k: v for k, v in timm_tiny.state_dict().items() if not k.startswith("head.")}
    del state["norm.weight"]
    path = tmp_path / "w.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="missing from the weights \\(1\\):\n    backbone.stack.norm.weight"):
        zoo.create("vit-tiny", weights=path, **SMALL)


def test_consuming_load_empties_the_dict_as_it_copies(timm_tiny):
    """consume=True (what weights= and zoo.load use) frees each checkpoint tensor once copied: a pickle
    checkpoint and the model then never both sit in memory in full (measured: gpt2-large from a .bin
    peaks at 3.8 GB instead of 6.6 GB)."""
    from zoo.weights.strict import load_strict

    source = zoo.create("vit-tiny", **SMALL)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    model = zoo.create("vit-tiny", **SMALL)
    load_strict(model, state, consume=True)
    assert state == {}
    assert same(params(model), params(source))
    with pytest.raises(TypeError, match="consume=True needs a dict"):
        load_strict(model, tuple(source.state_dict().items()), consume=True)
