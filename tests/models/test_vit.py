"""ViT against timm: same weights through our key map, same logits."""
from __future__ import annotations

import pytest
import timm
import torch
from timm.models.vision_transformer import checkpoint_filter_fn

import zoo
from zoo.models.family import Family

TOL = 1e-4


def timm_reference(name: str, **kwargs) -> torch.nn.Module:
    """A timm model with random weights whose biases and norms are perturbed away from 0/1."""
    model = timm.create_model(name, pretrained=False, **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:  # biases, LayerNorm weights and biases
                param.add_(torch.randn_like(param) * 0.2)
    return model.eval()


def saved(model: torch.nn.Module, tmp_path, name="timm.pth"):
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("card, timm_name", [
    ("vit-tiny", "vit_tiny_patch16_224"),
    ("vit-small", "vit_small_patch16_224"),
    ("vit-base", "vit_base_patch16_224"),
])
def test_logits_match_timm(card, timm_name, tmp_path):
    reference = timm_reference(timm_name)
    ours = zoo.create(card, weights=saved(reference, tmp_path)).eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = reference(images), ours(images)
    assert got.shape == (2, 1000)
    assert (got - expected).abs().max().item() < TOL


def test_patch32_and_pretrained_features_match_timm(tmp_path):
    reference = timm_reference("vit_base_patch32_224", depth=2)
    ours = zoo.create("vit-base-patch32", depth=2, weights=saved(reference, tmp_path)).eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        feats = ours.forward_features(images)
        assert (feats - reference.forward_features(images)).abs().max() < TOL
        pooled = ours.forward_head(feats, pre_logits=True)
        assert (pooled - reference.forward_head(reference.forward_features(images), pre_logits=True)).abs().max() < TOL


def test_other_resolution_resamples_positions_like_timm(tmp_path):
    source = timm_reference("vit_tiny_patch16_224")
    reference = timm.create_model("vit_tiny_patch16_224", img_size=96).eval()
    reference.load_state_dict(checkpoint_filter_fn(source.state_dict(), reference))
    ours = zoo.create("vit-tiny", img_size=96, weights=saved(source, tmp_path)).eval()
    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert (ours(images) - reference(images)).abs().max() < TOL


@pytest.mark.parametrize("card", ["vit-tiny", "vit-small", "vit-base", "vit-large", "vit-base-patch32"])
def test_card_params_match_the_built_model(card):
    with torch.device("meta"):
        model = zoo.create(card)
    assert sum(p.numel() for p in model.parameters()) == zoo.info(card)["params"]


def test_card_params_match_timm():
    with torch.device("meta"):
        assert zoo.info("vit-small")["params"] == sum(
            p.numel() for p in timm.create_model("vit_small_patch16_224").parameters())


def test_reset_classifier_and_pre_logits():
    model = zoo.create("vit-tiny", img_size=32, depth=1).eval()
    images = torch.randn(3, 3, 32, 32)
    model.reset_classifier(7)
    assert model(images).shape == (3, 7) and model.spec.num_classes == 7 and model.num_classes == 7
    model.reset_classifier(0)
    assert model(images).shape == (3, 192)
    features = model.forward_features(images)
    assert features.shape == (3, 1 + 4, 192)
    assert torch.equal(model.forward_head(features, pre_logits=True), features[:, 0])


def test_grad_checkpointing_gives_same_gradients():
    model = zoo.create("vit-tiny", img_size=32, depth=2, num_classes=4)
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([1, 3])

    def grads():
        model.zero_grad()
        model.loss(model(images), labels).backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    model.set_grad_checkpointing()
    checkpointed = grads()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, checkpointed))


def test_classification_loss_accepts_soft_targets():
    model = zoo.create("vit-tiny", img_size=32, depth=1, num_classes=3)
    logits = model(torch.randn(2, 3, 32, 32))
    hard = model.loss(logits, torch.tensor([0, 2]))
    soft = model.loss(logits, torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float())
    assert torch.allclose(hard, soft)


def test_wrong_image_size_is_clear():
    model = zoo.create("vit-tiny", img_size=32, depth=1)
    with pytest.raises(ValueError, match=r"expected input \[batch, 3, 32, 32\], got \[1, 3, 64, 64\]"):
        model(torch.randn(1, 3, 64, 64))


def test_family_object_is_registered():
    assert isinstance(zoo.factory.get_family("vit"), Family)
