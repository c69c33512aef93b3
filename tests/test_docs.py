"""docs/models.md is generated from the model cards and must be kept in step with them."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import registry

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "docs" / "generate_models.py"
MODELS_MD = ROOT / "docs" / "models.md"


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("generate_models", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _listed_names(text: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE)


def test_models_md_is_up_to_date(generator):
    assert MODELS_MD.read_text(encoding="utf-8") == generator.render(), (
        "docs/models.md is out of date with the model cards; run `python docs/generate_models.py`"
    )


def test_every_builtin_card_is_listed_once(generator):
    builtin = {card.name: card for card in generator.builtin_cards()}
    assert builtin, "no built-in cards found"
    text = MODELS_MD.read_text(encoding="utf-8")
    listed = _listed_names(text)
    assert sorted(listed) == sorted(builtin)
    assert len(set(listed)) == len(listed)
    # the generator reads the same cards the catalogue serves
    assert set(builtin) <= set(registry.list_models())
    for name, card in builtin.items():
        served = registry.get_card(name)
        assert dict(served.to_dict(), source=None) == dict(card.to_dict(), source=None)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {card.family} | {card.task} | {generator.format_params(card.params)} |" in row


@pytest.mark.parametrize("count, text", [(None, "-"), (999, "999"), (5717416, "5.7M"), (22050664, "22.1M"),
                                         (304326632, "304.3M"), (1_500_000_000, "1.5B"), (12_345, "12.3K")])
def test_format_params(generator, count, text):
    assert generator.format_params(count) == text


def test_render_groups_by_modality(generator):
    cards = [
        registry.Card("b-img", family="f", modality="image", task="t", spec={"img_size": 32, "patch_size": 8},
                      meta={"reference": "x/y", "paper": "P"}, params=1234),
        registry.Card("a-txt", family="g", modality="text", task="u", spec={"max_len": 512}),
        registry.Card("c-pipe", family="f", modality="image", task="t", meta={"reference": "a|b"}),
    ]
    text = generator.render(cards)
    assert text.startswith("<!-- Generated from the model cards by `python docs/generate_models.py`")
    assert "## Image models" in text and "## Text models" in text and "## Audio models" not in text
    assert text.index("## Image models") < text.index("## Text models")
    assert "| `b-img` | f | t | 1.2K | 32 | 8 | `x/y` |" in text
    assert "| `a-txt` | g | u | - | 512 | - |" in text
    assert "`a\\|b`" in text  # a pipe in a cell does not break the table
    assert "| f | P |" in text


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_check_mode(generator, tmp_path):
    """`--check` exits 1 on a stale file and 0 on a fresh one; it runs from any directory."""
    out = tmp_path / "models.md"
    out.write_text("stale\n", encoding="utf-8")
    stale = _run(str(GENERATOR), "--check", "--output", str(out), cwd=tmp_path)
    assert stale.returncode == 1, stale.stderr
    assert "out of date" in stale.stderr and out.read_text(encoding="utf-8") == "stale\n"
    written = _run(str(GENERATOR), "--output", str(out), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert out.read_text(encoding="utf-8") == generator.render()
    fresh = _run(str(GENERATOR), "--check", "--output", str(out), cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr


def test_generator_does_not_import_torch(tmp_path):
    code = ("import runpy, sys; runpy.run_path(sys.argv[1])['render'](); "
            "assert 'torch' not in sys.modules, 'the docs generator imported torch'")
    result = _run("-c", code, str(GENERATOR), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
