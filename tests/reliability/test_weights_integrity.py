"""Weights that never silently change or escape their directory (issue 10).

Shard indexes stay inside the model directory and match their shards; dtypes never change kind
when loading; zoo.save records the config and a digest of every tensor and zoo.load checks both;
saved files get the user's umask; unreadable files and malformed config.json files are clear
errors in our own words (never torch's advice to turn weights_only off).
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel

import zoo
from zoo.factory import get_family
from zoo.weights.errors import WeightsError
from zoo.weights.huggingface import read_hf_directory
from zoo.weights.load import load_weights
from zoo.weights.strict import load_strict

VIT = dict(img_size=32, depth=2)
GPT2_TINY = dict(vocab_size=97, max_positions=32, dim=32, depth=2, num_heads=2)


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


# --- shard indexes ---------------------------------------------------------------------------

@pytest.fixture
def sharded(tmp_path) -> tuple[Path, GPT2LMHeadModel]:
    """A tiny transformers GPT-2 saved in several safetensors shards, in ``tmp_path/model``."""
    reference = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2)).eval()
    folder = tmp_path / "model"
    reference.save_pretrained(folder, max_shard_size="40KB")
    assert len(set(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"].values())) > 2
    return folder, reference


def edit_index(folder: Path, edit) -> Path:
    path = folder / "model.safetensors.index.json"
    index = json.loads(path.read_text())
    index = edit(index)
    path.write_text(json.dumps(index))
    return path


def repoint(index: dict, old: str, new: str) -> dict:
    index["weight_map"] = {k: new if v == old else v for k, v in index["weight_map"].items()}
    return index


def first_shard(folder: Path) -> str:
    return sorted(set(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"].values()))[0]


@pytest.mark.parametrize("entry", ["../outside.safetensors", "sub/../../outside.safetensors", "ABSOLUTE"])
def test_shard_index_entry_outside_the_directory_is_refused(sharded, entry):
    folder, _ = sharded
    shard = first_shard(folder)
    outside = folder.parent / "outside.safetensors"
    shutil.copy(folder / shard, outside)  # a valid shard: the old code loaded it without a word
    entry = str(outside) if entry == "ABSOLUTE" else entry
    index = edit_index(folder, lambda i: repoint(i, shard, entry))
    model = zoo.create("gpt2", task="causal-lm", **GPT2_TINY)
    before = params(model)
    with pytest.raises(WeightsError) as info:
        load_weights(model, folder, get_family("gpt2"))
    message = str(info.value)
    assert str(index) in message and repr(entry) in message
    assert "absolute path" in message or "climbs out of the model directory" in message
    assert "allowed: the name of a .safetensors file inside" in message
    assert unchanged(model, before)


def test_shard_symlink_leading_outside_is_refused_but_hub_cache_links_load(sharded, tmp_path):
    folder, reference = sharded
    shard = first_shard(folder)
    outside = tmp_path / "elsewhere.safetensors"
    (folder / shard).rename(outside)
    (folder / shard).symlink_to(outside)
    with pytest.raises(WeightsError, match=rf"shard entry '{shard}' leads outside the model directory through a "
                                           rf"symlink \(to {outside}\)"):
        zoo.create("gpt2", task="causal-lm", weights=folder, **GPT2_TINY)

    # huggingface_hub's cache: every snapshot file is a link into the repository's blobs/
    repo = tmp_path / "hub" / "models--someone--gpt2"
    snapshot, blobs = repo / "snapshots" / ("0" * 40), repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    (folder / shard).unlink()
    outside.rename(folder / shard)
    for number, file in enumerate(sorted(folder.iterdir())):
        file.rename(blobs / f"blob{number}")
        (snapshot / file.name).symlink_to(Path("../../blobs") / f"blob{number}")
    model = zoo.create("gpt2", task="causal-lm", weights=snapshot, **GPT2_TINY).eval()
    ids = torch.randint(0, 97, (1, 8))
    with torch.no_grad():
        assert (model(ids) - reference(ids).logits).abs().max() < 1e-5


@pytest.mark.parametrize("index, expected", [
    ([], r"must hold a JSON object \(\{\.\.\.\}\), not a JSON array"),
    ({"metadata": {}}, r"\"weight_map\" must be a non-empty JSON object of tensor name -> shard file name, got none"),
    ({"weight_map": ["model-1.safetensors"]}, r"\"weight_map\" must be a non-empty JSON object .*, got list"),
    ({"weight_map": {}}, r"\"weight_map\" must be a non-empty JSON object .*, got dict \(empty\)"),
    ({"weight_map": {"transformer.wte.weight": 3}}, r"entries that are not file names \(1\):\n    transformer.wte.weight: 3"),
])
def test_shard_index_shape_is_checked(sharded, index, expected):
    folder, _ = sharded
    path = edit_index(folder, lambda _: index)
    with pytest.raises(WeightsError, match=expected) as info:
        zoo.create("gpt2", task="causal-lm", weights=folder, **GPT2_TINY)
    assert str(path) in str(info.value)


def test_shard_index_must_match_the_tensors_in_its_shards(sharded):
    folder, _ = sharded
    shard = first_shard(folder)
    # the index places a tensor in a shard that lacks it (transformers: silently absent if the model lacks it)
    edit_index(folder, lambda i: {**i, "weight_map": {**i["weight_map"], "transformer.h.7.ln_1.weight": shard}})
    with pytest.raises(WeightsError, match=rf"does not match its shard {shard}.*\n  placed in the shard by the index, "
                                           r"but not in it \(1\):\n    transformer.h.7.ln_1.weight"):
        zoo.create("gpt2", task="causal-lm", weights=folder, **GPT2_TINY)

    # a shard carries a second, different copy of a tensor the index places in another shard
    edit_index(folder, lambda i: {**i, "weight_map": {k: v for k, v in i["weight_map"].items() if "h.7" not in k}})
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    name, home = next((k, v) for k, v in index["weight_map"].items() if v != shard)
    tensors = load_file(folder / shard)
    save_file({**tensors, name: torch.zeros_like(load_file(folder / home)[name])}, folder / shard)
    with pytest.raises(WeightsError, match=rf"in the shard, but not placed there by the index \(1\):\n    {name}"):
        zoo.create("gpt2", task="causal-lm", weights=folder, **GPT2_TINY)


# --- unreadable files ------------------------------------------------------------------------

class RunsCode:
    def __reduce__(self):
        return (print, ("pwned",))


def write_torch_file(path: Path, kind: str) -> None:
    if kind == "random bytes":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        torch.save({"w": torch.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "pickle with code":
        with open(path, "wb") as handle:
            pickle.dump({"w": RunsCode()}, handle)
    elif kind == "torch.save with code":
        torch.save({"w": RunsCode()}, path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind, expected", [
    ("random bytes", r"is not a readable PyTorch checkpoint: it is truncated or corrupt, or not a checkpoint at all"),
    ("empty", r"not a checkpoint at all \(the file is empty\)"),
    ("truncated", r"not a checkpoint at all \(PytorchStreamReader failed reading zip archive"),
    ("pickle with code", r"A file holding pickled code is refused on purpose"),
    ("torch.save with code", r"is refused on purpose: it holds pickled Python objects \(print\), not only tensors"),
])
def test_unreadable_torch_files_get_our_own_message(tmp_path, capsys, kind, expected):
    path = tmp_path / "w.pth"
    write_torch_file(path, kind)
    with pytest.raises(WeightsError, match=expected) as info:
        zoo.create("vit-tiny", weights=path, **VIT)
    assert "weights_only" not in str(info.value)  # torch's advice to turn the safety off is never passed on
    assert "pwned" not in capsys.readouterr().out


def safetensors_bytes(kind: str) -> bytes:
    header = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    good = struct.pack("<Q", len(header)) + header + bytes(16)
    return {
        "empty": b"",
        "header past the end": struct.pack("<Q", 10**9) + good[8:],
        "truncated": good[:-4],
        "tensor past the end": good.replace(b"[0, 16]", b"[0, 99]"),
        "random bytes": bytes(range(256)),
    }[kind]


@pytest.mark.parametrize("kind, detail", [
    ("empty", "the file is empty"), ("header past the end", "header too large"),
    ("truncated", "file not fully covered"), ("tensor past the end", "offset"), ("random bytes", "header"),
])
def test_unreadable_safetensors_files_are_named_as_such(tmp_path, kind, detail):
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(kind))
    with pytest.raises(WeightsError, match=rf"{path} is not a readable safetensors file \(truncated or corrupt, or not "
                                           rf"safetensors at all\): .*{detail}"):
        zoo.create("vit-tiny", weights=path, **VIT)


# --- config.json that is not a JSON object ---------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("[1, 2]", "must hold a JSON object \\(\\{\\.\\.\\.\\}\\), not a JSON array"),
    ('"vit-tiny"', "must hold a JSON object .*, not a JSON string"),
    ("3", "must hold a JSON object .*, not a JSON number"),
    ("{not json", "is not valid JSON: Expecting property name"),
])
@pytest.mark.parametrize("beside", ["model.safetensors", "pytorch_model.bin"])
def test_config_json_must_be_a_json_object(tmp_path, text, expected, beside):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(text)
    state = {"w": torch.zeros(2)}
    save_file(state, folder / beside) if beside.endswith(".safetensors") else torch.save(state, folder / beside)
    config = str(folder / "config.json")
    loads = [lambda: zoo.create("vit-tiny", weights=folder, **VIT), lambda: read_hf_directory(folder)]
    if beside == "model.safetensors":  # what zoo.load needs beside config.json
        loads.append(lambda: zoo.load(folder))
    for load in loads:
        with pytest.raises(WeightsError, match=f"{config} {expected}"):
            load()


# --- zoo.save / zoo.load integrity -----------------------------------------------------------

def payload_start(path: Path) -> int:
    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def tensor_at(path: Path, offset: int) -> str:
    """The name of the tensor whose bytes hold file offset ``offset``."""
    header = json.loads(path.read_bytes()[8:payload_start(path)])
    relative = offset - payload_start(path)
    return next(k for k, v in header.items() if k != "__metadata__" and v["data_offsets"][0] <= relative < v["data_offsets"][1])


def test_a_damaged_payload_byte_is_detected_on_every_path(tmp_path):
    model = zoo.create("gpt2", task="causal-lm", **GPT2_TINY)  # tied head: one tensor under two names
    folder = zoo.save(model, tmp_path / "saved")
    assert torch.equal(zoo.load(folder).backbone.token_embedding.weight, model.backbone.token_embedding.weight)
    weights = folder / "model.safetensors"
    offset = (payload_start(weights) + weights.stat().st_size) // 2
    flip_byte(weights, offset)
    damaged = tensor_at(weights, offset)
    for load in (lambda: zoo.load(folder),
                 lambda: zoo.create("gpt2", task="causal-lm", weights=folder, **GPT2_TINY),
                 lambda: zoo.create("gpt2", task="causal-lm", weights=weights, **GPT2_TINY)):
        with pytest.raises(WeightsError, match=rf"is damaged: its tensors are not the ones zoo.save wrote.*nothing was "
                                               rf"loaded.*\n  bytes differ from the recorded sha256 \(1\):\n    {damaged}$"):
            load()


def edit_config(folder: Path, **spec) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["spec"].update(spec)
    path.write_text(json.dumps(config))


def strip_metadata(weights: Path, metadata: dict[str, str] | None = None) -> None:
    save_file(load_file(weights), weights, metadata=metadata)


@pytest.mark.parametrize("edit", [dict(num_heads=6), dict(global_pool="avg")])  # same shapes, other outputs
def test_edited_config_or_weights_without_zoo_metadata_are_refused(tmp_path, edit):
    model = zoo.create("vit-tiny", **VIT)
    folder = zoo.save(model, tmp_path / "stripped")
    strip_metadata(folder / "model.safetensors")  # rewritten by another tool: no zoo metadata left
    edit_config(folder, **edit)  # the old code loaded this silently, with other outputs
    for load in (lambda: zoo.load(folder), lambda: zoo.create("vit-tiny", weights=folder, **VIT)):
        with pytest.raises(WeightsError, match=r"carries no transformer-zoo metadata .* so .*config.json cannot be "
                                               r"checked against it\. Save the model again with zoo.save"):
            load()

    folder = zoo.save(model, tmp_path / "edited")
    edit_config(folder, **edit)
    (field, value), = edit.items()
    saved = {"num_heads": 3, "global_pool": "token"}[field]
    with pytest.raises(WeightsError, match=rf"differs from the config embedded in .*model.safetensors \(spec.{field}: "
                                           rf"saved {saved!r}, config.json {value!r}\)"):
        zoo.load(folder)


def test_format_versions(tmp_path):
    """Format 1 (config embedded, no digests) still loads, with its config checked; format 2 needs its
    digests; a newer format says to upgrade."""
    model = zoo.create("vit-tiny", **VIT)
    folder = zoo.save(model, tmp_path / "saved")
    weights = folder / "model.safetensors"
    config = json.loads((folder / "config.json").read_text())
    assert config["format_version"] == 2
    with safe_open(str(weights), framework="pt") as handle:
        assert json.loads(handle.metadata()["zoo_config"]) == config
        assert set(json.loads(handle.metadata()["zoo_sha256"])) == set(model.state_dict())

    strip_metadata(weights, {"zoo_config": json.dumps(config)})
    with pytest.raises(WeightsError, match="lacks the tensor digests .* that format 2 records"):
        zoo.load(folder)

    old = {**config, "format_version": 1}
    (folder / "config.json").write_text(json.dumps(old))
    strip_metadata(weights, {"zoo_config": json.dumps(old)})
    assert unchanged(zoo.load(folder), params(model))
    edit_config(folder, num_heads=6)
    with pytest.raises(WeightsError, match=r"spec.num_heads: saved 3, config.json 6"):
        zoo.load(folder)

    new = {**config, "format_version": 3}
    (folder / "config.json").write_text(json.dumps(new))
    strip_metadata(weights, {"zoo_config": json.dumps(new)})
    with pytest.raises(WeightsError, match=r"format_version 3; this transformer-zoo reads 1, 2 \(it was saved by a "
                                           r"newer transformer-zoo: upgrade\)"):
        zoo.load(folder)


# --- file modes ------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_saved_files_get_the_users_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        folder = zoo.save(zoo.create("vit-tiny", **VIT), tmp_path / "saved")
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert modes == {"config.json": 0o666 & ~umask, "model.safetensors": 0o666 & ~umask}
