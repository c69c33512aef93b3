"""zoo.create(name, pretrained=True): each card's published weights, fetched offline from a hand-built cache."""
from __future__ import annotations

import json

import pytest
import timm
import torch
from timm.models import get_pretrained_cfg, save_for_hf
from transformers import BertConfig, BertForPreTraining, GPT2Config, GPT2LMHeadModel

import zoo

PRETRAINED = zoo.list_models(pretrained=True)


@pytest.mark.parametrize("name", PRETRAINED)
def test_published_weights_are_the_reference_models(name):
    """ViT cards point at timm's default pretrained tag; the others at their reference repository."""
    card = zoo.info(name)
    reference = card["meta"]["reference"]
    if card["family"] == "vit":
        architecture = reference.removeprefix("timm/")
        assert card["weights"] == f"hf-hub:{get_pretrained_cfg(architecture).hf_hub_id}"
    else:
        assert card["weights"] == f"hf-hub:{reference}"


def test_cards_without_published_weights():
    assert set(zoo.list_models()) - set(PRETRAINED) == {"llama-tiny", "transformer-base"}
    with pytest.raises(ValueError, match="'llama-tiny' has no published weights; text models with "
                                         "pretrained=True: bert-base, .*gpt2"):
        zoo.create("llama-tiny", pretrained=True)


def test_pretrained_and_weights_together_is_an_error():
    with pytest.raises(ValueError, match="pretrained=True .* or weights=..., not both"):
        zoo.create("gpt2", pretrained=True, weights="somewhere")


def test_pretrained_gpt2_matches_its_checkpoint(hub_cache):
    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    reference = GPT2LMHeadModel(config).eval()
    reference.save_pretrained(hub_cache("openai-community/gpt2"))
    model = zoo.create("gpt2", pretrained=True, vocab_size=97, max_positions=32, dim=32, depth=2, num_heads=2).eval()
    ids = torch.randint(0, 97, (2, 10))
    with torch.no_grad():
        assert (model(ids) - reference(ids).logits).abs().max() < 1e-5


def test_pretrained_vit_with_new_classes_keeps_the_backbone(hub_cache):
    reference = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2).eval()
    save_for_hf(reference, str(hub_cache("timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k")), safe_serialization=True)
    with pytest.warns(UserWarning, match=r"head has other shapes .*head.fc.weight \[1000, 192\] -> \[10, 192\].*"
                                         "starts fresh"):
        model = zoo.create("vit-tiny", pretrained=True, num_classes=10, img_size=32, depth=2).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model(images).shape == (2, 10)
        ours = model.forward_head(model.forward_features(images), pre_logits=True)
        theirs = reference.forward_head(reference.forward_features(images), pre_logits=True)
    assert (ours - theirs).abs().max() < 1e-5


def test_explicit_weights_with_other_classes_stay_an_error(hub_cache, tmp_path):
    """Only pretrained=True adapts the head: a weights= file that does not fit is still refused."""
    reference = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2)
    save_for_hf(reference, str(tmp_path), safe_serialization=True)
    with pytest.raises(ValueError, match="head.fc.weight"):
        zoo.create("vit-tiny", weights=tmp_path, num_classes=10, img_size=32, depth=2)


def test_older_repository_config_without_model_type(hub_cache):
    """The compact BERT repositories' config.json names neither model_type nor architectures."""
    config = BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    reference = BertForPreTraining(config).eval()
    folder = hub_cache("google/bert_uncased_L-2_H-128_A-2")
    reference.save_pretrained(folder)
    data = json.loads((folder / "config.json").read_text())
    data.pop("model_type"), data.pop("architectures")
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="head tensors are not used by the feature-extraction head"):
        model = zoo.create("bert-tiny", pretrained=True, task="feature-extraction", vocab_size=97, dim=32,
                           num_heads=2, mlp_dim=64, max_positions=32).eval()
    ids = torch.randint(0, 97, (2, 12))
    with torch.no_grad():
        theirs = reference.bert(ids).last_hidden_state
        assert (model(ids) - theirs).abs().max() < 1e-5
