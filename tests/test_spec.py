"""Spec overrides: typed, validated, and never silently ignored."""
from __future__ import annotations

import pytest

import zoo
from zoo.models.spec import SpecError, build_spec
from zoo.models.vit import ViTSpec


def test_overrides_change_the_model():
    model = zoo.create("vit-small", num_classes=10, img_size=96, depth=6, drop_path_rate=0.1)
    assert model.spec.num_classes == 10 and model.spec.img_size == 96 and model.spec.depth == 6
    assert len(model.backbone.stack.blocks) == 6
    assert model.head.fc.out_features == 10
    assert model.backbone.stack.blocks[-1].drop_path.p == pytest.approx(0.1)
    assert model.backbone.pos_embed.weight.shape == (1 + 36, 384)


def test_unknown_override_lists_valid_fields():
    with pytest.raises(SpecError, match=r"unknown override num_clases; valid fields: img_size, patch_size.*num_classes"):
        zoo.create("vit-small", num_clases=10)


@pytest.mark.parametrize("override, message", [
    ({"depth": 2.5}, "depth must be an integer"),
    ({"depth": True}, "depth must be an integer"),
    ({"qkv_bias": "yes"}, "qkv_bias must be true or false"),
    ({"global_pool": "max"}, "global_pool must be one of 'token', 'avg'"),
    ({"num_heads": 5}, r"embed_dim \(192\) must be divisible by num_heads \(5\)"),
    ({"img_size": 8}, r"img_size \(8\) must be at least patch_size \(16\)"),
    ({"dropout": 1.5}, r"dropout must be in \[0, 1\)"),
    ({"depth": 0}, "depth must be positive"),
    ({"class_token": False}, "global_pool='token' needs class_token=true"),
])
def test_bad_values_are_clear(override, message):
    with pytest.raises(SpecError, match=message):
        zoo.create("vit-tiny", **override)


def test_ints_widen_to_floats_and_lists_stay_typed():
    spec = build_spec(ViTSpec, {"mlp_ratio": 4}, {})
    assert isinstance(spec.mlp_ratio, float)


def test_avg_pool_without_class_token():
    model = zoo.create("vit-tiny", class_token=False, global_pool="avg", depth=1, img_size=32)
    assert model.backbone.num_prefix_tokens == 0 and model.backbone.pos_embed.weight.shape[0] == 4
