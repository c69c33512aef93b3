"""The catalogue: listing, lookup, suggestions, card files, and the torch-free CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import registry
import zoo
from registry.card import cards_from_mapping, parse_cards, read_card_file

VIT_NAMES = {"vit-tiny", "vit-small", "vit-base", "vit-large", "vit-base-patch32"}


def test_builtin_cards_listed():
    assert VIT_NAMES <= set(zoo.list_models())
    assert zoo.list_models() == sorted(zoo.list_models())


def test_pattern_modality_and_task_filters():
    assert set(zoo.list_models("vit-*")) >= VIT_NAMES
    assert zoo.list_models("vit-b*") == ["vit-base", "vit-base-patch32"]
    assert zoo.list_models("vit-*patch32") == ["vit-base-patch32"]
    assert zoo.list_models("nothing-*") == []
    # image-text cards join both modalities: listed under each, and under the tasks of either tower
    assert "clip-vit-base-patch32" in zoo.list_models(modality="image")
    assert "clip-vit-base-patch32" in zoo.list_models(modality="text")
    assert zoo.list_models("clip-*", modality="image-text") == zoo.list_models("clip-*")
    assert "siglip-base-patch16-224" in zoo.list_models(task="image-classification")
    assert "siglip-base-patch16-224" in zoo.list_models(task="sequence-classification")
    assert "vit-base" not in zoo.list_models(task="contrastive")
    assert set(zoo.list_models(modality="image")) >= VIT_NAMES
    assert not set(zoo.list_models(modality="text")) & VIT_NAMES
    assert set(zoo.list_models(task="image-classification")) >= VIT_NAMES
    assert set(zoo.list_models(task="feature-extraction")) >= VIT_NAMES


def test_bad_filters_are_clear():
    with pytest.raises(ValueError, match="unknown modality 'video'.*image, text, audio"):
        zoo.list_models(modality="video")
    with pytest.raises(registry.UnknownNameError, match="unknown task 'image-clasification'.*image-classification"):
        zoo.list_models(task="image-clasification")


def test_tasks_registered():
    assert {"image-classification", "feature-extraction"} <= set(zoo.list_tasks())


def test_unknown_name_suggests_closest():
    with pytest.raises(registry.UnknownNameError, match=r"unknown model 'vit-smal'\. Did you mean: vit-small"):
        zoo.info("vit-smal")
    with pytest.raises(registry.UnknownNameError, match="Did you mean: vit-base"):
        zoo.create("vit_base")


def test_unknown_names_use_proper_plurals():
    with pytest.raises(registry.UnknownNameError, match=r"unknown family 'vti'\. Did you mean: vit.* Known families: "):
        registry.get_family("vti")
    with pytest.raises(registry.UnknownNameError, match=r"Did you mean: image-classification.*\(\d+ tasks are registered\.\)"):
        registry.get_task("image-clasification")
    with pytest.raises(registry.UnknownNameError, match=r"\(\d+ models are registered\.\)"):
        registry.get_card("nothing-like-any-card")


def test_info_is_the_card():
    card = zoo.info("vit-small")
    assert card["family"] == "vit" and card["modality"] == "image" and card["task"] == "image-classification"
    assert card["spec"] == {"img_size": 224, "patch_size": 16, "num_classes": 1000,
                            "embed_dim": 384, "depth": 12, "num_heads": 6}
    assert card["meta"]["mean"] == [0.5, 0.5, 0.5] and card["meta"]["reference"] == "timm/vit_small_patch16_224"
    json.dumps(card)  # plain data


def test_card_file_defaults_merge_and_validation(tmp_path):
    path = tmp_path / "fam.toml"
    path.write_text('family = "f"\nmodality = "image"\ntask = "t"\n[spec]\na = 1\n'
                    '[cards.one]\nspec = { b = 2 }\n[cards.two]\nspec = { a = 3 }\ntask = "u"\n')
    one, two = read_card_file(path)
    assert one.spec == {"a": 1, "b": 2} and one.task == "t"
    assert two.spec == {"a": 3} and two.task == "u"


@pytest.mark.parametrize("data, message", [
    ({"family": "f", "modality": "image", "task": "t"}, "needs at least one"),
    ({"family": "f", "modality": "image", "task": "t", "colour": 1, "cards": {"x": {}}}, "unknown top-level keys"),
    ({"family": "f", "modality": "image", "task": "t", "cards": {"x": {"sepc": {}}}}, "unknown keys.*sepc"),
    ({"modality": "image", "task": "t", "cards": {"x": {}}}, "does not say its family"),
    ({"family": "f", "modality": "video", "task": "t", "cards": {"x": {}}}, "modality 'video'"),
    ({"family": "f", "modality": "image", "task": "t", "cards": {"Bad Name": {}}}, "names are lowercase"),
    ({"family": "f", "modality": "image", "task": "t", "cards": {"x": {"params": -3}}}, "positive integer"),
    ({"family": "f", "modality": "image", "task": "t", "cards": {"x": {"weights": "owner/name"}}},
     "'weights' must be a hub reference hf-hub:OWNER/NAME"),
])
def test_bad_card_data_is_rejected(data, message):
    with pytest.raises(registry.CardError, match=message):
        cards_from_mapping(data, "test")


def test_an_invalid_card_is_set_aside_with_its_file_and_reason():
    data = {"family": "f", "modality": "image", "task": "t",
            "cards": {"good": {}, "zero": {"params": 0}, "typo": {"sepc": {}}, "also-good": {"params": 3}}}
    parsed = parse_cards(data, "plugin.toml")
    assert [card.name for card in parsed.cards] == ["good", "also-good"]
    assert [(e.card, e.source) for e in parsed.bad_cards] == [("zero", "plugin.toml"), ("typo", "plugin.toml")]
    assert parsed.bad_cards[0].reason == "'params' must be a positive integer"
    assert str(parsed.bad_cards[0]) == "model 'zero' (plugin.toml): 'params' must be a positive integer"
    with pytest.raises(registry.CardError, match="positive integer"):  # the strict reader still raises
        cards_from_mapping(data, "plugin.toml")


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("family = \n")
    with pytest.raises(registry.CardError, match="broken.toml: not valid TOML"):
        read_card_file(path)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    code = ("import sys, zoo.cli\n"
            f"code = zoo.cli.main({list(args)!r})\n"
            "assert 'torch' not in sys.modules, 'zoo CLI imported torch'\n"
            "sys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_cli_list_is_torch_free_table():
    result = _run_cli("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "modality", "params", "default", "task", "pretrained", "weights"]
    row = next(line.split() for line in lines if line.startswith("vit-small "))
    assert row == ["vit-small", "vit", "image", "22.1M", "image-classification",
                   "hf-hub:timm/vit_small_patch16_224.augreg_in21k_ft_in1k"]


def test_cli_list_filters_and_info():
    result = _run_cli("list", "vit-b*", "--task", "feature-extraction")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert names == ["vit-base", "vit-base-patch32"]
    pretrained = _run_cli("list", "--pretrained", "--modality", "text")
    names = [line.split()[0] for line in pretrained.stdout.splitlines()[2:]]
    assert "gpt2" in names and "llama-tiny" not in names and "transformer-base" not in names
    info = _run_cli("info", "vit-tiny")
    assert info.returncode == 0 and json.loads(info.stdout)["spec"]["embed_dim"] == 192


def test_cli_errors_are_messages_not_tracebacks():
    result = _run_cli("info", "vit-smol")
    assert result.returncode == 2
    assert "zoo: error: unknown model 'vit-smol'" in result.stderr and "Traceback" not in result.stderr
    assert _run_cli("list", "nope*").returncode == 1


def test_task_of_another_modality_is_refused(fresh_catalog):
    zoo.register_task("text-only", head="zoo.tasks.features:build_feature_head", modalities=["text"])
    try:
        with pytest.raises(ValueError, match="task 'text-only' needs modality text and architecture "
                                             "encoder/decoder/encoder-decoder/dual-encoder; 'vit-tiny' has modality image, "
                                             "architecture encoder. Tasks that fit: feature-extraction, "
                                             "image-classification"):
            zoo.create("vit-tiny", task="text-only", depth=1)
    finally:
        registry.CATALOG.unregister("task", "text-only")
