"""``zoo new-plugin NAME`` writes a plugin that installs and passes the conformance kit as generated."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import cli
from zoo.scaffold import ScaffoldError, new_plugin

from plugin_site import site  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_plugin_passes_its_own_conformance_tests(tmp_path, site):  # noqa: F811
    folder = new_plugin("acme-encoder", tmp_path)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md", "acme_encoder/__init__.py", "acme_encoder/cards.toml", "acme_encoder/family.py",
        "acme_encoder/head.py", "acme_encoder/tasks.py", "pyproject.toml", "tests/test_conformance.py"]
    assert site.add_project(folder) == "acme-encoder"  # "installed": a dist-info with its entry points
    import zoo

    assert zoo.list_models("acme-encoder-*") == ["acme-encoder-small", "acme-encoder-tiny"]
    assert "acme-encoder-score" in zoo.list_tasks()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site.root), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = int(run.stdout.strip().splitlines()[-1].split()[0])
    assert passed >= 30, run.stdout[-500:]  # every check x distinct smoke spec x task, and the task on built-in cards


def test_new_plugin_never_overwrites_and_checks_the_name(tmp_path, capsys):
    (tmp_path / "acme-encoder").mkdir()
    (tmp_path / "acme-encoder" / "mine.txt").write_text("mine")
    assert cli.main(["new-plugin", "acme-encoder", "--dir", str(tmp_path)]) == 2
    assert "already exists; new-plugin writes a new folder and never overwrites one" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "acme-encoder").iterdir()] == ["mine.txt"]
    with pytest.raises(ScaffoldError, match="lowercase words joined by '-'"):
        new_plugin("Acme_Encoder", tmp_path)
    with pytest.raises(ScaffoldError, match="family 'bert', card 'bert-tiny', card 'bert-small' already exist"):
        new_plugin("bert", tmp_path)
    assert cli.main(["new-plugin", "acme-tagger", "--dir", str(tmp_path)]) == 0
    assert "pip install -e" in capsys.readouterr().out and (tmp_path / "acme-tagger" / "pyproject.toml").is_file()
