"""weights="hf-hub:OWNER/NAME[@REVISION]" and timm model directories, offline.

The ``hub_cache`` fixture (conftest.py) lays out a Hugging Face cache by hand and switches
huggingface_hub to offline mode, so nothing is downloaded.
"""
from __future__ import annotations

import sys

import pytest
import timm
import torch
from timm.models import save_for_hf
from transformers import GPT2Config, GPT2LMHeadModel

import zoo
from zoo.weights.errors import WeightsError
from zoo.weights.hub import parse_hub_reference


def tiny_gpt2() -> GPT2LMHeadModel:
    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config).eval()


GPT2_TINY = dict(vocab_size=97, max_positions=32, dim=32, depth=2, num_heads=2)


def test_hub_reference_loads_a_cached_transformers_snapshot(hub_cache):
    reference = tiny_gpt2()
    reference.save_pretrained(hub_cache("someone/tiny-gpt2"))
    model = zoo.create("gpt2", task="causal-lm", weights="hf-hub:someone/tiny-gpt2", **GPT2_TINY).eval()
    ids = torch.randint(0, 97, (2, 12))
    with torch.no_grad():
        assert (model(ids) - reference(ids).logits).abs().max() < 1e-5


def test_hub_reference_revision_picks_that_branch(hub_cache):
    main, other = tiny_gpt2(), tiny_gpt2()
    main.save_pretrained(hub_cache("someone/tiny-gpt2"))
    other.save_pretrained(hub_cache("someone/tiny-gpt2", branch="v2", commit="f" * 40))
    model = zoo.create("gpt2", task="causal-lm", weights="hf-hub:someone/tiny-gpt2@v2", **GPT2_TINY)
    assert torch.equal(model.backbone.token_embedding.weight, other.transformer.wte.weight)
    assert not torch.equal(model.backbone.token_embedding.weight, main.transformer.wte.weight)


def test_hub_reference_to_a_timm_repository(hub_cache):
    reference = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2).eval()
    save_for_hf(reference, str(hub_cache("timm/vit_tiny_patch16_224.test")), safe_serialization=True)
    model = zoo.create("vit-tiny", weights="hf-hub:timm/vit_tiny_patch16_224.test", img_size=32, depth=2).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(images) - reference(images)).abs().max() < 1e-5


def test_timm_directory_with_torch_weights(tmp_path):
    reference = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2).eval()
    save_for_hf(reference, str(tmp_path), safe_serialization=False)  # pytorch_model.bin, read weights_only
    model = zoo.create("vit-tiny", weights=tmp_path, img_size=32, depth=2)
    assert torch.equal(model.backbone.cls_token, reference.cls_token)


def test_timm_directory_without_weights_is_an_error(tmp_path):
    (tmp_path / "config.json").write_text('{"architecture": "vit_tiny_patch16_224", "num_classes": 1000}')
    with pytest.raises(WeightsError, match="timm config.json but no weights"):
        zoo.create("vit-tiny", weights=tmp_path)


def test_uncached_repository_offline_says_so(hub_cache):
    model = zoo.create("vit-tiny", img_size=32, depth=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match="not in the local Hugging Face cache, and the hub could not be reached.*HF_HUB_OFFLINE"):
        zoo.create("vit-tiny", weights="hf-hub:nobody/nothing", img_size=32, depth=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("reference", ["hf-hub:", "hf-hub:a/b/c", "hf-hub:owner/name@", "hf-hub:bad name"])
def test_malformed_hub_reference(reference):
    with pytest.raises(WeightsError, match="not a hub reference; write hf-hub:OWNER/NAME"):
        parse_hub_reference(reference)


def test_parse_hub_reference():
    assert parse_hub_reference("hf-hub:openai-community/gpt2") == ("openai-community/gpt2", None)
    assert parse_hub_reference("hf-hub:gpt2@refs/pr/1") == ("gpt2", "refs/pr/1")


def test_hub_reference_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(WeightsError, match="pip install huggingface_hub"):
        zoo.create("vit-tiny", weights="hf-hub:timm/vit_tiny_patch16_224", img_size=32, depth=2)


def test_only_config_and_weights_are_fetched():
    """The patterns given to snapshot_download, through huggingface_hub's own file filter."""
    from huggingface_hub.utils import filter_repo_objects

    from zoo.weights.hub import _SAFETENSORS, _TORCH_PICKLES

    repo = ["config.json", "model.safetensors", "model.fp16.safetensors", "pytorch_model.bin", "tf_model.h5",
            "flax_model.msgpack", "onnx/model.onnx", "tokenizer.json", "README.md"]
    assert sorted(filter_repo_objects(repo, allow_patterns=_SAFETENSORS)) == ["config.json", "model.safetensors"]
    sharded = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
               "model.safetensors.index.json", "rust_model.ot"]
    assert sorted(filter_repo_objects(sharded, allow_patterns=_SAFETENSORS)) == sorted(sharded[:4])
    old = ["config.json", "pytorch_model.bin", "tf_model.h5", "vocab.txt"]
    assert sorted(filter_repo_objects(old, allow_patterns=_TORCH_PICKLES)) == ["config.json", "pytorch_model.bin"]


def test_sharded_snapshot_loads(hub_cache):
    reference = tiny_gpt2()
    folder = hub_cache("someone/sharded-gpt2")
    reference.save_pretrained(folder, max_shard_size="40KB")
    assert (folder / "model.safetensors.index.json").is_file()
    model = zoo.create("gpt2", task="causal-lm", weights="hf-hub:someone/sharded-gpt2", **GPT2_TINY).eval()
    ids = torch.randint(0, 97, (1, 8))
    with torch.no_grad():
        assert (model(ids) - reference(ids).logits).abs().max() < 1e-5
