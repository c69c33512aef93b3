"""Typed configs: TOML files, dotted overrides, errors that list what is allowed, TOML round trip."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from zoo.train import config as configs
from zoo.train.config import ConfigError
from zoo.train.run import config_path
from zoo.train.schema import RunConfig


@dataclass
class Data:
    source: Literal["a", "b"] = "a"
    root: str = ""
    size: int = 10


@dataclass
class Config(RunConfig):
    data: Data = field(default_factory=Data)


def test_defaults_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[train]\nlr = 0.01\nsteps = 50\n[data]\nsource = "b"\n[model]\nspec = { depth = 2 }\n')
    cfg = configs.load(Config, path, ["train.steps=7", "train.betas=[0.8, 0.9]", "model.spec.embed_dim=32",
                                      "data.root=/some/path", "resume=false"])
    assert cfg.train.lr == 0.01 and isinstance(cfg.train.lr, float)
    assert cfg.train.steps == 7 and cfg.train.betas == [0.8, 0.9]
    assert cfg.model.spec == {"depth": 2, "embed_dim": 32}  # a table is merged key by key
    assert cfg.data.source == "b" and cfg.data.root == "/some/path" and cfg.data.size == 10
    assert cfg.resume is False
    assert cfg.train.batch_size == 32  # schema default


def test_integer_is_accepted_for_float_and_converted():
    cfg = configs.load(Config, None, ["train.lr=1"])
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", r"unknown key 'train\.lrr' \(did you mean 'lr'\?\); allowed keys in \[train\]: steps, batch_size"),
    ("trian.lr=1", r"unknown key 'trian' \(did you mean 'train'\?\); allowed keys: output_dir, resume, model"),
    ("train.steps=many", r"train\.steps must be an integer; got 'many'"),
    ("train.steps=1.5", r"train\.steps must be an integer; got 1\.5"),
    ("train.compile=yes", r"train\.compile must be true or false; got 'yes'"),
    ("train.precision=fp16", r"train\.precision must be one of 'auto', 'fp32', 'bf16'; got 'fp16'"),
    ("data.source=c", r"data\.source must be one of 'a', 'b'; got 'c'"),
    ("train.steps=0", r"train: steps must be positive, got 0"),
    ("train.lr", r"overrides look like key=value"),
    ("train.lr.x=1", r"train\.lr is a number, not a section"),
    ("train.lr=nan", r"train\.lr must be a number; got nan"),
])
def test_bad_overrides_say_what_is_allowed(override, message):
    with pytest.raises(ConfigError, match=message):
        configs.load(Config, None, [override])


def test_bad_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nsteps = 'x'\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: train\.steps must be an integer"):
        configs.load(Config, path)
    path.write_text("[train\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        configs.load(Config, path)
    with pytest.raises(ConfigError, match="does not exist"):
        configs.load(Config, tmp_path / "missing.toml")


def test_round_trip_through_toml(tmp_path):
    cfg = configs.load(Config, None, ["train.lr=3e-4", 'model.spec={ depth = 2, name = "x \\"q\\"", r = [1, 2] }',
                                      "data.root=C:\\\\data", "output_dir=runs/x"])
    path = configs.save(cfg, tmp_path / "config.toml")
    assert configs.load(Config, path) == cfg
    assert "[train]" in path.read_text() and "[model]" in path.read_text()


def test_differences_lists_dotted_keys():
    a = {"train": {"lr": 1.0, "steps": 2}, "resume": True}
    b = {"train": {"lr": 2.0, "steps": 2}, "resume": True, "new": 1}
    assert configs.differences(a, b) == ["new", "train.lr"]


def test_config_names_resolve_inside_the_recipe_folder(tmp_path):
    (tmp_path / "default.toml").write_text("")
    (tmp_path / "cifar10.toml").write_text("")
    assert config_path(tmp_path, None) == tmp_path / "default.toml"
    assert config_path(tmp_path, "cifar10") == tmp_path / "cifar10.toml"
    assert config_path(tmp_path, "my.toml").name == "my.toml"  # a path: checked when read
    with pytest.raises(ConfigError, match="is not one of this recipe.s configs: cifar10, default"):
        config_path(tmp_path, "imagenet")
