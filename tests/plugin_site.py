"""Fake installed distributions for plugin tests: nothing is pip-installed.

`FakeSite.add` writes a ``<name>-<version>.dist-info/`` folder (METADATA + entry_points.txt)
next to the plugin's package source, the layout pip leaves in site-packages. The `site`
fixture prepends that folder to ``sys.path``, so ``importlib.metadata.entry_points()`` (what
the catalogue reads) sees it; teardown drops the plugin modules, restores ``sys.path`` and
refreshes the catalogue, so later tests see only what is really installed.
"""
from __future__ import annotations

import importlib
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "zoo-plugin-example"


class FakeSite:
    """A folder on ``sys.path`` into which fake distributions are "installed"."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packages: set[str] = set()  # top-level modules written, forgotten at teardown

    def add(self, dist: str, entry_points: dict[str, dict[str, str]], files: dict[str, str] | None = None) -> None:
        """Write ``<dist>.dist-info`` with these entry points, and the package ``files`` (path -> source)."""
        info = self.root / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n", encoding="utf-8")
        sections = [f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items())
                    for group, eps in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")
        for path, source in (files or {}).items():
            target = self.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(source), encoding="utf-8")
            self.packages.add(Path(path).parts[0].removesuffix(".py"))
        self.changed()

    def add_project(self, folder: Path) -> str:
        """A plugin source folder "installed": its packages copied here, with the entry points its own
        pyproject.toml declares. Returns the distribution name."""
        pyproject = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        for package in pyproject["tool"]["setuptools"]["packages"]:
            shutil.copytree(folder / package, self.root / package)
            self.packages.add(package)
        self.add(pyproject["project"]["name"], pyproject["project"]["entry-points"])
        return pyproject["project"]["name"]

    def add_example(self) -> None:
        """The example plugin (examples/zoo-plugin-example)."""
        self.add_project(EXAMPLE)

    def forget_modules(self) -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in self.packages:
                del sys.modules[name]

    @staticmethod
    def changed() -> None:
        importlib.invalidate_caches()  # new packages and dist-info on sys.path
        registry.CATALOG.refresh()


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    fake = FakeSite(root)
    yield fake
    fake.forget_modules()
    registry.CATALOG.refresh()  # rediscovered without the fake site (monkeypatch restores sys.path next)
