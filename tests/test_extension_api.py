"""The public names docs/plugins.md documents for plugin authors: zoo.weights' key-map helpers, zoo.PluginWarning."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch

import registry
import zoo
import zoo.weights


@dataclass(frozen=True)
class Shape:
    dim: int = 32
    depth: int = 2


def test_key_map_helpers_are_public():
    from zoo.weights import WeightsError, check_hf_config, rename_keys

    assert set(zoo.weights.__all__) == {"rename_keys", "check_hf_config", "WeightsError"}
    assert WeightsError is zoo.WeightsError
    assert callable(rename_keys) and callable(check_hf_config)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        zoo.weights.nope  # noqa: B018


def test_submodules_still_import_beside_the_public_names():
    from zoo.weights import load, strict

    assert callable(load.load_weights) and callable(strict.load_strict)


def test_rename_keys_applies_the_first_matching_rule_and_passes_the_rest_through():
    state = {"encoder.layer.0.fc.weight": torch.zeros(1), "encoder.layer.1.fc.bias": torch.ones(1),
             "mystery": torch.zeros(2)}
    rules = [(r"^encoder\.layer\.(\d+)\.fc\.", r"backbone.blocks.\1.mlp."), (r"^encoder\.", "never.")]
    renamed = zoo.weights.rename_keys(state, rules)
    assert list(renamed) == ["backbone.blocks.0.mlp.weight", "backbone.blocks.1.mlp.bias", "mystery"]
    assert renamed["backbone.blocks.1.mlp.bias"] is state["encoder.layer.1.fc.bias"]  # the tensors, not copies


def test_check_hf_config_names_every_mismatch_and_skips_absent_keys():
    fields, expected = {"hidden_size": "dim", "num_hidden_layers": "depth"}, {"model_type": "roberta"}
    zoo.weights.check_hf_config({"hidden_size": 32, "model_type": "roberta"}, Shape(), fields, expected, "fam")
    zoo.weights.check_hf_config({}, Shape(), fields, expected, "fam")  # nothing to compare: fine
    with pytest.raises(zoo.weights.WeightsError) as caught:
        zoo.weights.check_hf_config({"hidden_size": 64, "num_hidden_layers": 2, "model_type": "bert"}, Shape(),
                                    fields, expected, "fam")
    message = str(caught.value)
    assert "hidden_size=64 but dim=32" in message and "model_type='bert', the fam family needs 'roberta'" in message
    assert "num_hidden_layers" not in message


def test_plugin_warning_is_exported_from_zoo():
    assert zoo.PluginWarning is registry.PluginWarning
    assert issubclass(zoo.PluginWarning, RuntimeWarning)
    assert "PluginWarning" in zoo.__all__
    with pytest.warns(zoo.PluginWarning):
        import warnings

        warnings.warn("a plugin was skipped", registry.PluginWarning)


def test_the_errors_module_and_zoo_stay_torch_free():
    code = ("import sys, zoo, zoo.weights.errors, zoo.weights\n"
            "assert zoo.PluginWarning and zoo.weights.WeightsError\n"
            "assert 'torch' not in sys.modules, 'importing zoo.weights imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unregister_removes_what_code_registered(fresh_catalog):
    import dataclasses

    from zoo.factory import get_family

    zoo.register_family(dataclasses.replace(get_family("vit"), name="vit-notebook"))
    zoo.register_card("vit-notebook-tiny", family="vit-notebook", modality="image", task="image-classification")
    assert "vit-notebook-tiny" in zoo.list_models() and "vit-notebook" in zoo.list_families()
    zoo.unregister("card", "vit-notebook-tiny")
    zoo.unregister("family", "vit-notebook")
    assert "vit-notebook-tiny" not in zoo.list_models() and "vit-notebook" not in zoo.list_families()
    with pytest.raises(registry.UnknownNameError, match="no in-code family named 'vit-notebook'"):
        zoo.unregister("family", "vit-notebook")
    with pytest.raises(ValueError, match="kind must be one of family, card, task"):
        zoo.unregister("model", "vit-tiny")


def test_a_family_registered_under_another_name_is_refused(fresh_catalog):
    from zoo.factory import get_family

    registry.register_family("vit-alias", get_family("vit"))  # the object calls itself 'vit'
    try:
        with pytest.raises(registry.PluginLoadError, match="family 'vit-alias' from in-code registration calls "
                                                           "itself 'vit'; register it under its own name"):
            registry.get_family("vit-alias")
    finally:
        zoo.unregister("family", "vit-alias")
