"""Plugins: entry-point discovery, broken and clashing plugins, and in-code registration.

Nothing is pip-installed: each test builds fake installed distributions (tests/plugin_site.py).
"""
from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from torch import nn

import registry
import zoo
from plugin_site import site  # noqa: F401  (a fixture)
from zoo.models.vit import FAMILY as VIT_FAMILY

TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}


@pytest.fixture
def example(site):
    site.add_example()
    return site


# --- a working plugin ---------------------------------------------------------------------
def test_plugin_cards_and_task_are_listed(example):
    assert {"simple-vit-tiny", "simple-vit-small"} <= set(zoo.list_models())
    assert zoo.list_models("simple-vit-*") == ["simple-vit-small", "simple-vit-tiny"]
    assert "simple-vit-tiny" in zoo.list_models(modality="image")
    assert "simple-vit-tiny" not in zoo.list_models(modality="text")
    assert "image-regression" in zoo.list_tasks()
    assert {"simple-vit-tiny", "vit-tiny"} <= set(zoo.list_models(task="image-regression"))
    assert "simple-vit" in zoo.list_families()
    card = zoo.info("simple-vit-tiny")
    assert (card["family"], card["modality"], card["task"]) == ("simple-vit", "image", "image-classification")
    assert "vit-small" in zoo.list_models()  # the built-ins are still there


def test_plugin_listing_does_not_import_the_family(example):
    zoo.list_models()
    zoo.list_tasks()
    assert "zoo_plugin_example.simple_vit" not in sys.modules
    assert "zoo_plugin_example.regression" not in sys.modules


def test_plugin_card_creates_a_working_model(example):
    model = zoo.create("simple-vit-tiny", img_size=32, patch_size=8, depth=1, embed_dim=32, num_heads=2, num_classes=7)
    images = torch.randn(2, 3, 32, 32)
    logits = model(images)
    assert logits.shape == (2, 7)
    assert model.forward_features(images).shape == (2, 16, 32)  # no class token: 4x4 patches
    model.loss(logits, torch.tensor([0, 6])).backward()
    assert model.backbone.patch_embed.proj.weight.grad is not None


def test_plugin_cards_declare_their_parameter_count(example):
    for name in zoo.list_models("simple-vit-*"):
        with torch.device("meta"):  # full size, without allocating or initialising weights
            model = zoo.create(name)
        assert sum(p.numel() for p in model.parameters()) == zoo.info(name)["params"], name


def test_plugin_task_serves_a_builtin_model(example):
    model = zoo.create("vit-tiny", task="image-regression", num_classes=3, **TINY_VIT)
    assert type(model.head).__name__ == "RegressionHead"
    outputs = model(torch.randn(4, 3, 32, 32))
    assert outputs.shape == (4, 3)
    loss = model.loss(outputs, torch.randn(4, 3))
    assert loss.ndim == 0
    loss.backward()
    single = zoo.create("vit-tiny", task="image-regression", num_classes=1, **TINY_VIT)
    assert single.loss(single(torch.randn(2, 3, 32, 32)), torch.randn(2)).ndim == 0  # targets [B]
    single.reset_classifier(2)
    assert single(torch.randn(2, 3, 32, 32)).shape == (2, 2)


@pytest.mark.parametrize("name, task", [("simple-vit-tiny", None), ("vit-tiny", "image-regression"),
                                        ("simple-vit-tiny", "image-regression")])
def test_plugin_models_save_and_load(example, tmp_path, name, task):
    overrides = {**TINY_VIT, "num_classes": 2}
    model = zoo.create(name, task=task, **overrides).eval()
    with torch.no_grad():  # the regression head starts at zero; give it something to round-trip
        for p in model.head.parameters():
            p.normal_()
    zoo.save(model, tmp_path / "saved")
    loaded = zoo.load(tmp_path / "saved").eval()
    assert (loaded.family, loaded.task, loaded.card) == (model.family, model.task, name)
    assert loaded.spec == model.spec
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


# --- a broken plugin ----------------------------------------------------------------------
BROKEN_EPS = {
    "zoo.families": {"broken-net": "zoo_broken_plugin.model:FAMILY"},
    "zoo.cards": {
        "zoo-broken-plugin": "zoo_broken_plugin.cards:CARDS",  # loads: data only
        "zoo-broken-plugin-extra": "zoo_broken_plugin.model:CARDS",  # does not
    },
    "zoo.tasks": {"broken-task": "zoo_broken_plugin.model:TASK"},
}
BROKEN_FILES = {
    "zoo_broken_plugin/__init__.py": "",
    "zoo_broken_plugin/cards.py": """
        CARDS = {"family": "broken-net", "modality": "image", "task": "image-classification",
                 "cards": {"broken-net-tiny": {"spec": {"depth": 1}}}}
    """,
    "zoo_broken_plugin/model.py": """
        import a_dependency_that_is_not_installed  # noqa: F401
    """,
}


@pytest.fixture
def broken(example):
    example.add("zoo-broken-plugin", BROKEN_EPS, BROKEN_FILES)
    return example


def test_broken_plugin_warns_and_the_rest_keep_working(broken):
    with pytest.warns(RuntimeWarning, match="zoo-broken-plugin") as caught:
        names = zoo.list_models()
    assert any("zoo-broken-plugin-extra" in str(w.message) and "ModuleNotFoundError" in str(w.message)
               for w in caught)
    assert {"vit-small", "vit-tiny", "simple-vit-tiny", "broken-net-tiny"} <= set(names)

    with pytest.warns(RuntimeWarning, match=r"broken-task.*zoo-broken-plugin"):
        tasks = zoo.list_tasks()
    assert "broken-task" not in tasks
    assert {"image-classification", "image-regression"} <= set(tasks)

    assert zoo.create("vit-tiny", **TINY_VIT)(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    assert zoo.create("simple-vit-tiny", **TINY_VIT)(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    assert zoo.create("vit-tiny", task="image-regression", num_classes=1, **TINY_VIT).num_classes == 1


def test_card_of_a_broken_family_names_the_plugin(broken):
    with pytest.warns(RuntimeWarning):
        assert "broken-net-tiny" in zoo.list_models()
    with pytest.raises(registry.PluginLoadError) as raised:
        zoo.create("broken-net-tiny")
    message = str(raised.value)
    assert "family 'broken-net'" in message
    assert "zoo-broken-plugin" in message
    assert "zoo_broken_plugin.model:FAMILY" in message
    assert "a_dependency_that_is_not_installed" in message
    assert isinstance(raised.value, ImportError)


@pytest.mark.filterwarnings("ignore:skipping model cards:RuntimeWarning")
def test_broken_task_names_the_plugin(broken):
    with pytest.raises(registry.PluginLoadError, match=r"task 'broken-task' from distribution 'zoo-broken-plugin'"):
        zoo.create("vit-tiny", task="broken-task", **TINY_VIT)


# --- names claimed twice ------------------------------------------------------------------
def test_plugin_card_with_a_builtin_name_is_skipped(example):
    example.add(
        "zoo-dup-card",
        {"zoo.cards": {"zoo-dup-card": "zoo_dup_card:CARDS"}},
        {"zoo_dup_card/__init__.py": """
            CARDS = {"family": "vit", "modality": "image", "task": "image-classification",
                     "cards": {"vit-small": {"spec": {"depth": 1}}, "dup-card-tiny": {"spec": {"depth": 1}}}}
        """},
    )
    with pytest.warns(registry.PluginWarning) as caught:
        names = zoo.list_models()
    clashes = [str(w.message) for w in caught if "'vit-small'" in str(w.message)]
    assert len(clashes) == 1, clashes
    assert "transformer-zoo" in clashes[0] and "zoo-dup-card" in clashes[0] and "vit.toml" in clashes[0]
    assert {"vit-small", "dup-card-tiny", "simple-vit-tiny"} <= set(names)  # the rest of its file too
    assert registry.get_card("vit-small").spec["depth"] == 12  # the built-in won
    assert zoo.create("vit-small", **TINY_VIT)(torch.randn(1, 3, 32, 32)).shape == (1, 1000)


@pytest.mark.parametrize("group, name", [
    ("zoo.families", "simple-vit"),  # another plugin's family
    ("zoo.tasks", "image-regression"),  # another plugin's task
    ("zoo.families", "vit"),  # a built-in family
    ("zoo.tasks", "image-classification"),  # a built-in task
])
def test_name_claimed_by_two_distributions_is_skipped(example, group, name):
    example.add("zoo-zz-clash", {group: {name: "zoo_zz_clash:SOMETHING"}})  # sorts after zoo-plugin-example
    owner = "transformer-zoo" if name in ("vit", "image-classification") else "zoo-plugin-example"
    with pytest.warns(registry.PluginWarning) as caught:
        names = zoo.list_families() if group == "zoo.families" else zoo.list_tasks()
    clash = [str(w.message) for w in caught if f"'{name}'" in str(w.message)]
    assert len(clash) == 1, clash
    assert clash[0].index("zoo-zz-clash") < clash[0].index(owner)  # "... from zoo-zz-clash is skipped: taken by owner"
    assert name in names
    loaded = registry.get_family(name) if group == "zoo.families" else registry.get_task(name)
    assert loaded.name == name  # the first claim's object: zoo_zz_clash is not even importable


# --- in-code registration -------------------------------------------------------------------
class MeanHead(nn.Module):
    """A tiny head: mean over tokens, then a linear layer; MSE loss."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.dim = dim
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes, self.fc = num_classes, nn.Linear(self.dim, num_classes)

    def forward(self, features: torch.Tensor, pre_logits: bool = False, attention_mask=None) -> torch.Tensor:
        pooled = features.mean(dim=1)  # [B, D]
        return pooled if pre_logits else self.fc(pooled)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(outputs, targets)


def mean_head(backbone: nn.Module, spec) -> MeanHead:
    return MeanHead(backbone.num_features, spec.num_classes)


@pytest.fixture
def registered():
    """Registrations to undo: ``registered.append((kind, key))``."""
    undo: list[tuple[str, str]] = []
    zoo.list_families()  # discover first, so registration checks against what is installed
    yield undo
    for kind, key in reversed(undo):
        try:
            registry.CATALOG.unregister(kind, key)
        except registry.UnknownNameError:
            pass
    registry.CATALOG.refresh()


def test_in_code_registration(registered, tmp_path):
    zoo.register_family(dataclasses.replace(VIT_FAMILY, name="notebook-vit"))
    registered.append(("family", "notebook-vit"))
    zoo.register_task("token-mean-regression", mean_head, modalities=["image", "text"], summary="mean tokens")
    registered.append(("task", "token-mean-regression"))
    card = zoo.register_card("notebook-vit-tiny", family="notebook-vit", modality="image",
                             task="token-mean-regression", spec={**TINY_VIT, "num_classes": 4})
    registered.append(("card", "code:notebook-vit-tiny"))

    assert card.source == "in-code registration"
    assert "notebook-vit-tiny" in zoo.list_models(modality="image")
    assert "notebook-vit" in zoo.list_families()
    assert "token-mean-regression" in zoo.list_tasks()
    model = zoo.create("notebook-vit-tiny")
    assert isinstance(model.head, MeanHead)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    classifier = zoo.create("notebook-vit-tiny", task="image-classification", num_classes=6)
    assert classifier(torch.randn(2, 3, 32, 32)).shape == (2, 6)
    assert zoo.create("vit-tiny", task="token-mean-regression", num_classes=2, **TINY_VIT).num_classes == 2

    zoo.save(model, tmp_path / "saved")
    assert zoo.load(tmp_path / "saved").family == "notebook-vit"


def test_in_code_registration_of_a_taken_name_raises(registered):
    with pytest.raises(zoo.DuplicateNameError, match="vit-small"):
        zoo.register_card("vit-small", family="vit", modality="image", task="image-classification")
    with pytest.raises(zoo.DuplicateNameError, match="'vit'.*transformer-zoo"):
        zoo.register_family(dataclasses.replace(VIT_FAMILY))
    with pytest.raises(zoo.DuplicateNameError, match="image-classification"):
        zoo.register_task("image-classification", mean_head, modalities=["image"])

    zoo.register_task("twice", mean_head, modalities=["image"])
    registered.append(("task", "twice"))
    with pytest.raises(zoo.DuplicateNameError, match="twice"):
        zoo.register_task("twice", mean_head, modalities=["image"])
    zoo.register_card("twice-card", family="vit", modality="image", task="image-classification")
    registered.append(("card", "code:twice-card"))
    with pytest.raises(zoo.DuplicateNameError, match="twice-card.*in-code registration"):
        zoo.register_card("twice-card", family="vit", modality="image", task="image-classification")
    # what failed to register left nothing behind
    assert zoo.list_models("vit-small") == ["vit-small"]
    assert registry.get_card("vit-small").source != "in-code registration"
    assert zoo.create("vit-tiny", **TINY_VIT).family == "vit"


def test_in_code_registration_rejects_what_is_not_a_family(registered):
    with pytest.raises(TypeError, match="zoo.Family"):
        zoo.register_family(object())


def test_unregister_removes_it(registered):
    zoo.register_card("short-lived", family="vit", modality="image", task="image-classification")
    assert "short-lived" in zoo.list_models()
    registry.CATALOG.unregister("card", "code:short-lived")
    assert "short-lived" not in zoo.list_models()
    with pytest.raises(registry.UnknownNameError):
        registry.CATALOG.unregister("card", "code:short-lived")


def test_in_code_registration_before_discovery_raises_at_once(registered):
    registry.CATALOG.refresh()
    try:
        with pytest.raises(zoo.DuplicateNameError):
            zoo.register_family(dataclasses.replace(VIT_FAMILY))
        assert "vit-small" in zoo.list_models()  # the catalogue still works
    finally:
        try:
            registry.CATALOG.unregister("family", "vit")
        except registry.UnknownNameError:
            pass


def test_the_example_plugin_passes_its_own_conformance_tests(site):
    """examples/zoo-plugin-example/tests: the kit over its cards and its task, as its author runs it."""
    import os
    import subprocess
    from pathlib import Path

    from plugin_site import EXAMPLE

    site.add_example()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site.root), str(Path(__file__).resolve().parents[1])]),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                         cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert int(run.stdout.strip().splitlines()[-1].split()[0]) >= 15, run.stdout[-500:]  # checks x smoke specs x tasks
