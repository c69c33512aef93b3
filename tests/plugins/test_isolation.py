"""One plugin never breaks the whole zoo: clashing names, invalid cards and files, unknown
families, rejected specs, heads that fail to import, and in-code registration checked as
discovery checks. Each case uses fake installed distributions (tests/plugin_site.py).
"""
from __future__ import annotations

import re
import subprocess
import sys
import warnings

import pytest
import torch

import registry
import zoo
import zoo.cli
from plugin_site import FakeSite, site  # noqa: F401  (a fixture)

TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}
CARDS_MODULE = """
    from pathlib import Path
    CARDS = Path(__file__).with_name("{name}")
"""


def add_card_file(site: FakeSite, dist: str, toml: str, *, name: str = "cards.toml") -> str:
    """Install ``dist`` providing one card source: a TOML file (or, if ``name`` has no suffix, a folder)."""
    package = dist.replace("-", "_")
    files = {f"{package}/__init__.py": CARDS_MODULE.format(name=name)}
    files.update({f"{package}/{name}": toml} if name.endswith(".toml") else {})
    site.add(dist, {"zoo.cards": {dist: f"{package}:CARDS"}}, files)
    return str(site.root / package / name)


def plugin_warnings(call, *args, **kwargs) -> tuple[object, list[str]]:
    """``call(...)``'s result and the `registry.PluginWarning` messages it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, registry.PluginWarning)]


VIT_CARD = 'family = "vit"\nmodality = "image"\ntask = "image-classification"\n'


# --- 1. names claimed twice -----------------------------------------------------------------------
def test_first_distribution_by_name_wins_whatever_the_path_order(site, tmp_path, monkeypatch):
    add_card_file(site, "zoo-aaa", VIT_CARD + "[cards.shared-vit]\nspec = { depth = 1 }\n")
    later_root = tmp_path / "earlier-on-sys-path"
    later_root.mkdir()
    monkeypatch.syspath_prepend(str(later_root))  # zoo-bbb is found first on sys.path...
    other = FakeSite(later_root)
    add_card_file(other, "zoo-bbb", VIT_CARD + "[cards.shared-vit]\nspec = { depth = 2 }\n")
    site.packages |= other.packages
    names, caught = plugin_warnings(zoo.list_models)
    assert "shared-vit" in names
    assert registry.get_card("shared-vit").spec["depth"] == 1  # ...but zoo-aaa sorts first and wins
    clash = [m for m in caught if "'shared-vit'" in m]
    assert len(clash) == 1
    assert re.search(r"zoo-bbb.*is skipped: the name is taken by .*zoo-aaa", clash[0]), clash[0]
    assert "zoo_bbb/cards.toml" in clash[0] and "zoo_aaa/cards.toml" in clash[0]


def test_a_clash_warns_once_not_on_every_lookup(site):
    add_card_file(site, "zoo-dup", VIT_CARD + "[cards.vit-tiny]\nspec = { depth = 1 }\n")
    _, first = plugin_warnings(zoo.list_models)
    assert len([m for m in first if "'vit-tiny'" in m]) == 1
    _, again = plugin_warnings(lambda: (zoo.list_models(), zoo.info("vit-tiny"), zoo.list_models("vit-*")))
    assert again == []
    assert zoo.info("vit-tiny")["spec"]["depth"] == 12


def test_in_code_registration_of_a_plugin_name_raises_naming_the_provider(site, fresh_catalog):
    add_card_file(site, "zoo-named", VIT_CARD + "[cards.named-vit]\n")
    with pytest.raises(zoo.DuplicateNameError) as raised:
        zoo.register_card("named-vit", family="vit", modality="image", task="image-classification")
    message = str(raised.value)
    assert "'named-vit'" in message and "distribution 'zoo-named'" in message and "zoo_named/cards.toml" in message


def test_an_in_code_card_yields_to_a_plugin_installed_later(site, fresh_catalog):
    zoo.register_card("late-vit", family="vit", modality="image", task="image-classification", spec={"depth": 3})
    try:
        add_card_file(site, "zoo-late", VIT_CARD + "[cards.late-vit]\nspec = { depth = 1 }\n")  # rediscovers
        _, caught = plugin_warnings(zoo.list_models)
        assert registry.get_card("late-vit").spec["depth"] == 1
        assert [m for m in caught if "'late-vit'" in m and "in-code registration" in m and "zoo-late" in m]
    finally:
        registry.CATALOG.unregister("card", "code:late-vit")


# --- 2. invalid cards and card files -------------------------------------------------------------
def test_an_invalid_card_skips_only_itself(site):
    path = add_card_file(site, "zoo-mixed", VIT_CARD + "[cards.good-vit]\nparams = 5\n[cards.zero-vit]\nparams = 0\n"
                                                       "[cards.also-good-vit]\nspec = { depth = 2 }\n")
    names, caught = plugin_warnings(zoo.list_models)
    assert {"good-vit", "also-good-vit", "vit-small"} <= set(names) and "zero-vit" not in names
    [warning] = [m for m in caught if "zero-vit" in m]
    assert path in warning and "'params' must be a positive integer" in warning
    with pytest.raises(registry.UnknownNameError) as raised:
        zoo.create("zero-vit")
    assert str(raised.value) == f"model 'zero-vit' was skipped: {path}: 'params' must be a positive integer"


@pytest.mark.parametrize("bad, reason", [
    ("family = \n", "not valid TOML"),
    (VIT_CARD + "colour = 1\n[cards.x]\n", "unknown top-level keys ['colour']"),
])
def test_an_invalid_card_file_skips_only_that_file(site, bad, reason):
    package = site.root / "zoo_folder"
    package.mkdir()
    (package / "cards").mkdir()
    (package / "cards" / "bad.toml").write_text(bad)
    (package / "cards" / "good.toml").write_text(VIT_CARD + "[cards.folder-vit]\n")
    (package / "__init__.py").write_text("from pathlib import Path\nCARDS = Path(__file__).with_name('cards')\n")
    site.packages.add("zoo_folder")
    site.add("zoo-folder", {"zoo.cards": {"zoo-folder": "zoo_folder:CARDS"}})
    names, caught = plugin_warnings(zoo.list_models)
    assert {"folder-vit", "vit-small"} <= set(names)
    bad_path = str(package / "cards" / "bad.toml")
    assert [m for m in caught if bad_path in m and reason in m]
    with pytest.raises(registry.UnknownNameError) as raised:
        zoo.info("what-the-bad-file-had")
    assert "may be among them" in str(raised.value) and bad_path in str(raised.value) and reason in str(raised.value)


def test_a_card_source_that_fails_to_load_is_named_in_unknown_name_errors(site):
    site.add("zoo-gone", {"zoo.cards": {"gone": "zoo_gone_missing:CARDS"}})
    _, caught = plugin_warnings(zoo.list_models)
    assert [m for m in caught if "zoo-gone" in m and "ModuleNotFoundError" in m]
    with pytest.raises(registry.UnknownNameError, match=r"unknown model 'gone-vit'.*zoo-gone.*ModuleNotFoundError"):
        zoo.info("gone-vit")


# --- 3. cards that cannot be built: zoo doctor, zoo list, zoo.create ----------------------------------
BAD_BUILD = """
modality = "text"
task = "feature-extraction"
[cards.roberta-tiny]
family = "roberta"
[cards.vit-typo]
family = "vit"
modality = "image"
spec = { depthh = 2 }
[cards.vit-wrong-type]
family = "vit"
modality = "image"
spec = { depth = "two" }
"""


@pytest.fixture
def unbuildable(site):
    return add_card_file(site, "zoo-unbuildable", BAD_BUILD)


def test_doctor_reports_every_card_that_cannot_be_built(unbuildable, capsys):
    assert zoo.cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("zoo doctor: 3 problems")
    roberta = next(line for line in out.splitlines() if "'roberta-tiny'" in line)
    assert unbuildable in roberta and "unknown family 'roberta'" in roberta and "zoo.register_family" in roberta
    typo = next(line for line in out.splitlines() if "'vit-typo'" in line)
    assert unbuildable in typo and "unknown spec key depthh; valid fields: img_size" in typo
    wrong = next(line for line in out.splitlines() if "'vit-wrong-type'" in line)
    assert unbuildable in wrong and "depth must be an integer; got 'two'" in wrong


def test_doctor_on_the_builtins_finds_nothing(capsys):
    code, out = zoo.cli.main(["doctor"]), capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("zoo doctor: no problems")


def test_doctor_reports_skipped_cards_and_clashes(site, capsys):
    add_card_file(site, "zoo-doctored", VIT_CARD + "[cards.vit-small]\n[cards.zero-vit]\nparams = 0\n")
    assert zoo.cli.main(["doctor", "nothing-matches-*"]) == 1
    out = capsys.readouterr().out
    assert "'vit-small'" in out and "zoo-doctored" in out and "transformer-zoo" in out
    assert "'zero-vit'" in out and "'params' must be a positive integer" in out


def test_list_marks_cards_whose_family_is_not_registered_without_torch(unbuildable):
    code = ("import sys, zoo.cli\n"
            "code = zoo.cli.main(['list', '*-tiny'])\n"
            "assert 'torch' not in sys.modules, 'zoo list imported torch'\n"
            "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": ":".join(sys.path)})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    assert rows["roberta-tiny"][1] == "roberta!" and rows["vit-tiny"][1] == "vit"
    assert "1 model marked '!' names a family or task that is not registered" in result.stderr
    assert "zoo doctor" in result.stderr


def test_create_names_the_card_its_file_and_the_reason(unbuildable):
    with pytest.raises(registry.UnknownNameError) as raised:
        zoo.create("roberta-tiny")
    message = str(raised.value)
    assert "unknown family 'roberta'" in message and "Known families:" in message
    assert f"model 'roberta-tiny' ({unbuildable})" in message
    with pytest.raises(zoo.SpecError, match=rf"model 'vit-typo' \({re.escape(unbuildable)}\): unknown spec key depthh"):
        zoo.create("vit-typo")


# --- 4. a task's head that fails to import ---------------------------------------------------------
HEADLESS_FILES = {
    "zoo_headless/__init__.py": """
        from registry import TaskInfo
        MISSING = TaskInfo("missing-head", ("image",), "zoo_headless.not_there:build")
        RAISING = TaskInfo("raising-head", ("image",), "zoo_headless.raising:build")
    """,
    "zoo_headless/raising.py": """
        raise RuntimeError("this head needs a GPU driver")
    """,
}


@pytest.fixture
def headless(site):
    site.add("zoo-headless", {"zoo.tasks": {"missing-head": "zoo_headless:MISSING",
                                            "raising-head": "zoo_headless:RAISING"}}, HEADLESS_FILES)


@pytest.mark.parametrize("task, module, error", [
    ("missing-head", "zoo_headless.not_there", "ModuleNotFoundError: No module named 'zoo_headless.not_there'"),
    ("raising-head", "zoo_headless.raising", "RuntimeError: this head needs a GPU driver"),
])
def test_a_head_that_fails_to_import_names_its_task_and_distribution(headless, task, module, error):
    with pytest.raises(registry.PluginLoadError) as raised:
        zoo.create("vit-tiny", task=task, **TINY_VIT)
    assert str(raised.value) == (f"task {task!r} from distribution 'zoo-headless' (zoo.tasks: {task} = "
                                 f"zoo_headless:{task.split('-')[0].upper()}) failed to load its head "
                                 f"'{module}:build': {error}")
    assert zoo.create("vit-tiny", **TINY_VIT)(torch.randn(1, 3, 32, 32)).shape == (1, 1000)  # the rest works


def test_doctor_reports_a_head_that_fails_to_import(headless, capsys):
    assert zoo.cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "task 'missing-head' from distribution 'zoo-headless'" in out and "ModuleNotFoundError" in out
    assert "task 'raising-head' from distribution 'zoo-headless'" in out and "RuntimeError" in out


# --- 6. register_card checks what discovery checks ----------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    ({"family": "robrta"}, registry.UnknownNameError,
     r"model 'nb-card' \(in-code registration\): unknown family 'robrta'\..*Known families: .*vit.*"
     r"zoo.register_family"),
    ({"spec": {"depthh": 2}}, registry.CardError,
     r"model 'nb-card' \(in-code registration\): unknown spec key depthh; valid fields: img_size"),
    ({"spec": {"depth": "two"}}, registry.CardError, r"depth must be an integer; got 'two'"),
    ({"task": "no-such-task"}, registry.UnknownNameError, r"unknown task 'no-such-task'.*zoo.register_task"),
    ({"task": "causal-lm"}, registry.CardError, r"default task 'causal-lm' needs modality text"),
    ({"family": "gpt2", "modality": "text", "task": "feature-extraction"}, registry.CardError,
     r"architecture = 'encoder', but the 'gpt2' family builds 'decoder' \(a card that does not say its architecture "
     r"is an 'encoder'\); set architecture = \"decoder\" in the card"),
    ({"family": "gpt2", "architecture": "decoder", "task": "feature-extraction"}, registry.CardError,
     r"modality = 'image', but the 'gpt2' family builds 'text'"),
])
def test_register_card_checks_as_discovery_does(fresh_catalog, kwargs, error, message):
    card = {"family": "vit", "modality": "image", "task": "image-classification", **kwargs}
    with pytest.raises(error, match=message):
        zoo.register_card("nb-card", **card)
    assert "nb-card" not in zoo.list_models()


def test_register_card_gives_the_message_doctor_gives(site, capsys):
    add_card_file(site, "zoo-typo", VIT_CARD + "[cards.typo-vit]\nspec = { depthh = 2 }\n")
    zoo.cli.main(["doctor", "typo-vit"])
    reported = next(line for line in capsys.readouterr().out.splitlines() if "typo-vit" in line)
    with pytest.raises(registry.CardError) as raised:
        zoo.register_card("typo-vit-2", family="vit", modality="image", task="image-classification",
                          spec={"depthh": 2})
    source = registry.get_card("typo-vit").source
    in_code = str(raised.value)
    assert reported == "- " + in_code.replace("'typo-vit-2' (in-code registration)", f"'typo-vit' ({source})")
