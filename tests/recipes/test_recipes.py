"""Every recipe trains a few steps on its offline default data with a tiny model; bad input fails clearly."""
from __future__ import annotations

import importlib
import json

import pytest

import zoo
from zoo import cli
from zoo.train import config as configs

COMMON = ["train.steps=30", "train.batch_size=16", "train.log_every=5", "train.eval_every=30",
          "train.checkpoint_every=30", "train.warmup_steps=5", "train.lr=3e-3", "train.progress=false"]
TEXT = ["data.max_length=48", "data.train_size=1000", "data.val_size=32"]
AUDIO = ["model.spec.n_mels=16", "model.spec.dim=32", "model.spec.depth=1", "model.spec.num_heads=2",
         "model.spec.mlp_dim=64"]
TINY = {
    "image_classification": ["model.spec.img_size=16", "model.spec.patch_size=4", "model.spec.embed_dim=32",
                             "model.spec.depth=1", "model.spec.num_heads=2", "data.image_size=16",
                             "data.train_size=512", "data.val_size=32"],
    "causal_lm": ["model.spec.dim=32", "model.spec.depth=1", "model.spec.num_heads=2", *TEXT],
    "masked_lm": ["model.spec.dim=32", "model.spec.depth=1", "model.spec.num_heads=2", "model.spec.mlp_dim=64",
                  "data.mask_prob=0.3", *TEXT],
    "seq2seq": ["model.spec.dim=32", "model.spec.depth=1", "model.spec.num_heads=2", "model.spec.head_dim=16",
                "model.spec.mlp_dim=64", "data.train_size=1000", "data.val_size=32"],
    "audio_classification": [*AUDIO, "data.seconds=0.5", "data.train_size=1000", "data.val_size=32"],
    "speech_recognition": [*AUDIO, "data.train_size=1000", "data.val_size=32"],
}
METRICS = {"image_classification": {"loss", "accuracy"}, "causal_lm": {"loss", "perplexity", "unigram_entropy"},
           "masked_lm": {"loss", "accuracy", "perplexity", "unigram_entropy"}, "seq2seq": {"loss", "exact_match"},
           "audio_classification": {"loss", "accuracy"}, "speech_recognition": {"loss", "cer"}}


def run(recipe: str, *args: str) -> int:
    return importlib.import_module(f"recipes.{recipe}").main(list(args))


@pytest.mark.parametrize("recipe", sorted(TINY))
def test_a_few_steps_lower_the_loss(recipe, tmp_path):
    assert run(recipe, *TINY[recipe], *COMMON, f"output_dir={tmp_path}") == 0
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 6 and losses[-1] + losses[-2] < losses[0] + losses[1], losses
    final = records[-1]
    assert final["step"] == 30 and {k.removeprefix("val_") for k in final if k.startswith("val_")} == METRICS[recipe]
    model = zoo.load(tmp_path / "model")  # the final model is a zoo.save directory
    assert model.task == {"image_classification": "image-classification", "causal_lm": "causal-lm",
                          "masked_lm": "masked-lm", "seq2seq": "seq2seq-lm",
                          "audio_classification": "audio-classification", "speech_recognition": "ctc"}[recipe]
    saved = configs.read_toml(tmp_path / "config.toml")  # the resolved config, reusable with --config
    assert saved["train"]["steps"] == 30 and saved["output_dir"] == str(tmp_path)


def test_every_recipe_config_parses():
    from zoo.cli import available_recipes

    assert set(TINY) <= set(available_recipes())
    for recipe in available_recipes():
        module = importlib.import_module(f"recipes.{recipe}")
        folder = module.CONFIGS / recipe
        names = sorted(p.stem for p in folder.glob("*.toml"))
        assert "default" in names and len(names) >= 2, (recipe, names)
        for path in folder.glob("*.toml"):
            configs.load(module.Config, path)


@pytest.mark.parametrize("args, message", [
    (["train.lr=fast"], "train.lr must be a number; got 'fast'"),
    (["train.stepz=3"], "unknown key 'train.stepz' (did you mean 'steps'?)"),
    (["data.source=mnist"], "data.source must be one of 'shapes', 'cifar10', 'imagefolder'; got 'mnist'"),
    (["model.spec.depthh=2"], "unknown override depthh"),
    (["model.spec.num_classes=3"], "model.spec.num_classes=3 (the data needs 12)"),
    (["model.name=vit-huge-typo"], "vit-huge-typo"),
    (["--config", "imagenet"], "is not one of this recipe's configs: cifar10, cifar10_small, default, imagefolder, "
                               "imagefolder_small"),
])
def test_bad_overrides_fail_with_a_clear_message(args, message, tmp_path, capsys):
    assert run("image_classification", *args, f"output_dir={tmp_path}") == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("recipe, args, message", [
    ("image_classification", ["--config", "imagefolder", "data.root={tmp}/nowhere"], "nowhere needs train/"),
    ("image_classification", ["--config", "cifar10", "data.root={tmp}/nowhere"], "pass data.download=true"),
    ("causal_lm", ["--config", "text", "data.train_path={tmp}/missing.txt", "data.val_path={tmp}/missing.txt"],
     "missing.txt does not exist"),
    ("seq2seq", ["data.source=jsonl"], "data.source='jsonl' needs data.train_path and data.val_path"),
    ("audio_classification", ["--config", "wavfolder", "data.root={tmp}"], "needs train/ with one sub-folder"),
    ("speech_recognition", ["--config", "manifest", "data.train_manifest={tmp}/no.csv", "data.val_manifest=x.csv"],
     "no.csv does not exist"),
])
def test_bad_data_paths_fail_with_a_clear_message(recipe, args, message, tmp_path, capsys):
    args = [a.format(tmp=tmp_path) for a in args]
    assert run(recipe, *args, *COMMON, f"output_dir={tmp_path / 'run'}") == 2
    assert message in capsys.readouterr().err


def test_zoo_train_runs_a_recipe(tmp_path, capsys):
    assert cli.main(["train", "image_classification", "--print-config", "train.steps=7"]) == 0
    assert "steps = 7" in capsys.readouterr().out
    assert cli.main(["train", "nope"]) == 2
    assert "unknown recipe 'nope'; recipes: " in capsys.readouterr().err


def test_own_text_files_train(tmp_path):
    lines = ["the cat sat on the mat", "a dog ran in the park", "birds sing in the morning"] * 20
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "val.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in lines[:6]))
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in lines))
    assert run("causal_lm", "--config", "text", *TINY["causal_lm"][:3], *COMMON, "train.steps=5",
               f"data.train_path={tmp_path / 'train.txt'}", f"data.val_path={tmp_path / 'train.txt'}",
               f"output_dir={tmp_path / 'a'}") == 0
    assert run("masked_lm", "--config", "jsonl", *TINY["masked_lm"][:4], *COMMON, "train.steps=5",
               "data.field=body", f"data.train_path={tmp_path / 'train.jsonl'}",
               f"data.val_path={tmp_path / 'val.jsonl'}", f"output_dir={tmp_path / 'b'}") == 0
    assert (tmp_path / "b" / "model" / "model.safetensors").is_file()


def test_own_image_folder_trains(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for i in range(16 if split == "train" else 4):
                Image.new("RGB", (20, 24), colour).save(folder / f"{i}.png")
    assert run("image_classification", "--config", "imagefolder", *TINY["image_classification"][:5],
               "data.image_size=16", f"data.root={tmp_path / 'images'}", *COMMON, "train.steps=4",
               "train.batch_size=8", f"output_dir={tmp_path / 'run'}") == 0
    assert zoo.load(tmp_path / "run" / "model").num_classes == 2


def _write_clips(tmp_path, make):
    """WAV files of synthesized clips; returns their (relative path, payload) pairs."""
    from zoo.data.wav import write_wav

    written = []
    for name, wave, payload in make():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, wave, 16000)
        written.append((name, payload))
    return written


def test_own_wav_folder_and_manifest_train(tmp_path):
    from zoo.data.synthetic import DTMFClips, ToneClips

    tones = ToneClips(24, seconds=0.5)
    _write_clips(tmp_path, lambda: [(f"audio/{split}/{tones.classes[y].replace(' ', '_')}/{i}.wav", w, y)
                                    for split in ("train", "val") for i, (w, y) in
                                    ((i, tones[i]) for i in range(24))])
    assert run("audio_classification", "--config", "wavfolder", *AUDIO, f"data.root={tmp_path / 'audio'}",
               *COMMON, "train.steps=3", "train.batch_size=8", f"output_dir={tmp_path / 'a'}") == 0

    dtmf = DTMFClips(16)
    rows = _write_clips(tmp_path, lambda: [(f"speech/{i}.wav", *dtmf[i]) for i in range(16)])
    (tmp_path / "speech.csv").write_text("path,transcript\n" + "".join(f"{p},{t}\n" for p, t in rows))
    assert run("speech_recognition", "--config", "manifest", *AUDIO, f"data.train_manifest={tmp_path / 'speech.csv'}",
               f"data.val_manifest={tmp_path / 'speech.csv'}", *COMMON, "train.steps=3", "train.batch_size=8",
               f"output_dir={tmp_path / 's'}") == 0
    assert zoo.load(tmp_path / "s" / "model").spec.vocabulary == "".join(sorted(set("".join(t for _, t in rows))))


def test_model_pretrained_starts_from_the_published_weights(hub_cache):
    import timm
    import torch
    from timm.models import save_for_hf

    from recipes._common import create_model
    from zoo.train.schema import ModelConfig

    spec = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2}
    reference = timm.create_model("vit_tiny_patch16_224", **spec)
    save_for_hf(reference, str(hub_cache("timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k")), safe_serialization=True)
    with pytest.warns(UserWarning, match="starts fresh"):
        model = create_model(ModelConfig(name="vit-tiny", spec=spec, pretrained=True), "image-classification",
                             num_classes=2)
    assert model.num_classes == 2
    assert torch.equal(model.backbone.patch_embed.proj.weight, reference.patch_embed.proj.weight)
    with pytest.raises(configs.ConfigError, match="model.pretrained=true and model.weights='x.pth' both"):
        create_model(ModelConfig(name="vit-tiny", pretrained=True, weights="x.pth"), "image-classification")
