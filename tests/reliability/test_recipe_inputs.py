"""A user's own data and models in the recipes: every mistake ends in one line naming the file or key, before
training starts, never in a traceback halfway through a run (issue 10)."""
from __future__ import annotations

import importlib
import re
import struct
import tomllib
from pathlib import Path

import pytest
import torch

import zoo
from zoo.data.wav import write_wav

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["train.steps=2", "train.batch_size=2", "train.eval_every=2", "train.checkpoint_every=2",
         "train.warmup_steps=1", "train.progress=false", "train.log_every=1"]
VIT = ["model.spec.patch_size=4", "model.spec.embed_dim=32", "model.spec.depth=1", "model.spec.num_heads=2"]
WHISPER = ["model.name=whisper-encoder-tiny", "model.spec.n_mels=16", "model.spec.dim=32", "model.spec.depth=1",
           "model.spec.num_heads=2", "model.spec.mlp_dim=64"]


def run(recipe: str, *args: str) -> int:
    return importlib.import_module(f"recipes.{recipe}").main(list(args))


def one_line_error(capsys, recipe: str) -> str:
    """The run's stderr, checked to be exactly one ``<recipe>: error: ...`` line."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{recipe}: error: "), err
    return lines[0]


def nothing_trained(run_dir: Path) -> bool:
    return not (run_dir / "checkpoints").exists() and not (run_dir / "model").exists()


def image_folder(root: Path, size: tuple[int, int] = (20, 24), per_class: int = 4) -> Path:
    from PIL import Image

    for split in ("train", "val"):
        for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            (root / split / label).mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", size, colour).save(root / split / label / f"{i}.jpg")
    return root


def wav_folder(root: Path, rate: int = 16000, samples: int = 4000, per_class: int = 4) -> Path:
    for split in ("train", "val"):
        for label, level in (("yes", 0.25), ("no", -0.25)):
            (root / split / label).mkdir(parents=True)
            for i in range(per_class):
                write_wav(root / split / label / f"{i}.wav", torch.full((samples,), level) * torch.rand(samples), rate)
    return root


def manifest(root: Path, rate: int = 16000, samples: int = 4000, text: str = "ab") -> Path:
    root.mkdir(parents=True)
    for i in range(4):
        write_wav(root / f"{i}.wav", torch.rand(samples) * 0.1, rate)
    (root / "m.csv").write_text("path,transcript\n" + "".join(f"{i}.wav,{text}\n" for i in range(4)))
    return root / "m.csv"


def run_images(root: Path, run_dir: Path, *args: str) -> int:
    return run("image_classification", "--config", "imagefolder", f"data.root={root}", *VIT, "data.image_size=16",
               *QUICK, f"output_dir={run_dir}", *args)


def run_wavs(root: Path, run_dir: Path, *args: str) -> int:
    return run("audio_classification", "--config", "wavfolder", f"data.root={root}", *WHISPER, *QUICK,
               f"output_dir={run_dir}", *args)


def run_speech(csv: Path, run_dir: Path, *args: str) -> int:
    return run("speech_recognition", "--config", "manifest", f"data.train_manifest={csv}", f"data.val_manifest={csv}",
               *WHISPER, *QUICK, f"output_dir={run_dir}", *args)


# 1. a model whose task does not fit the recipe ------------------------------------------------------------------
@pytest.mark.parametrize("recipe, name, fits", [
    ("image_classification", "bert-tiny", "vit-tiny"),
    ("causal_lm", "vit-tiny", "gpt2"),
    ("masked_lm", "t5-small", "bert-tiny"),
    ("seq2seq", "gpt2", "t5-small"),
    ("audio_classification", "bert-tiny", "whisper-encoder-tiny"),
    ("speech_recognition", "gpt2", "whisper-encoder-tiny"),
])
def test_a_model_for_another_task_is_a_config_error(recipe, name, fits, tmp_path, capsys):
    assert run(recipe, f"model.name={name}", *QUICK, f"output_dir={tmp_path}") == 2
    line = one_line_error(capsys, recipe)
    assert f"model.name={name!r}" in line and "models that fit: " in line and fits in line.split("models that fit: ")[1]
    assert nothing_trained(tmp_path)


# 2. damaged WAV files are found before training, and named -----------------------------------------------------
EMPTY_DATA = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36, b"WAVE", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16, b"data", 0)
MU_LAW = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 44, b"WAVE", b"fmt ", 16, 7, 1, 8000, 8000, 1, 8, b"data", 8) \
    + bytes(8)


@pytest.mark.parametrize("content, problem", [
    (b"not a wav file at all", "not a RIFF/WAVE file"),
    (EMPTY_DATA, "no samples (the 'data' chunk is empty)"),
    (MU_LAW, "mu-law"),
], ids=["not-riff", "empty-data", "mu-law"])
def test_a_damaged_wav_in_a_folder_is_named_before_training(content, problem, tmp_path, capsys):
    root = wav_folder(tmp_path / "audio", per_class=6)
    (root / "train" / "yes" / "zz_bad.wav").write_bytes(content)  # one of 13: a short run would likely skip it
    assert run_wavs(root, tmp_path / "run", "train.steps=1") == 2
    line = one_line_error(capsys, "audio_classification")
    assert f"{root / 'train' / 'yes' / 'zz_bad.wav'}: " in line and problem in line
    assert nothing_trained(tmp_path / "run")


def test_a_damaged_wav_in_a_manifest_is_named_before_training(tmp_path, capsys):
    csv = manifest(tmp_path / "speech")
    (tmp_path / "speech" / "3.wav").write_bytes(b"RIFF")
    assert run_speech(csv, tmp_path / "run") == 2
    assert f"{tmp_path / 'speech' / '3.wav'}: not a RIFF/WAVE file" in one_line_error(capsys, "speech_recognition")


def test_clips_the_model_cannot_take_are_named_before_training(tmp_path, capsys):
    root = wav_folder(tmp_path / "audio")
    write_wav(root / "train" / "no" / "click.wav", torch.zeros(100), 16000)  # the front end needs 400 samples
    assert run_wavs(root, tmp_path / "run") == 2
    line = one_line_error(capsys, "audio_classification")
    assert f"{root / 'train' / 'no' / 'click.wav'}: 100 samples" in line and "shorter than the 400 samples" in line
    assert nothing_trained(tmp_path / "run")


def test_a_transcript_longer_than_its_clip_allows_is_named(tmp_path, capsys):
    csv = manifest(tmp_path / "speech", samples=1600, text="abcdefghij" * 5)  # 0.1 s gives 5 CTC time steps
    assert run_speech(csv, tmp_path / "run") == 2
    line = one_line_error(capsys, "speech_recognition")
    assert f"{tmp_path / 'speech' / '0.wav'}: its transcript (50 characters) needs 50 CTC time steps" in line


def test_training_transcripts_outside_the_vocabulary_are_a_config_error(tmp_path, capsys):
    train, val = manifest(tmp_path / "train", text="abc"), manifest(tmp_path / "val", text="ab")
    assert run("speech_recognition", "--config", "manifest", f"data.train_manifest={train}",
               f"data.val_manifest={val}", "data.vocabulary=ab", *WHISPER, *QUICK, f"output_dir={tmp_path / 'r'}") == 2
    assert f"training transcripts ({train}) use characters outside the vocabulary: 'c'" in \
        one_line_error(capsys, "speech_recognition")


# 3. unreadable images are found before training, and named ------------------------------------------------------
def _jpeg_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, problem", [
    ("bad.jpg", b"this is not an image", "not an image PIL can read"),
    ("empty.jpg", b"", "not an image PIL can read"),
    ("cut.jpg", _jpeg_bytes()[:900], "image file is truncated"),  # passes PIL's verify(): decoded to be found
    ("cut.png", _png_bytes()[:900], "runcated"),
], ids=["garbage", "empty", "truncated-jpeg", "truncated-png"])
def test_an_unreadable_image_is_named_before_training(name, content, problem, tmp_path, capsys):
    root = image_folder(tmp_path / "images", per_class=6)
    (root / "train" / "red" / name).write_bytes(content)
    assert run_images(root, tmp_path / "run", "train.steps=1") == 2
    line = one_line_error(capsys, "image_classification")
    assert f"{root / 'train' / 'red' / name}: " in line and problem in line
    assert nothing_trained(tmp_path / "run")


def test_an_image_damaged_after_the_check_is_named_when_read(tmp_path):
    from zoo.data.files import DataFileError, image_folder as checked_folder

    root = image_folder(tmp_path / "images")
    data = checked_folder(root / "train")
    path, _ = data.samples[0]
    Path(path).write_bytes(_jpeg_bytes()[:900])
    with pytest.raises(DataFileError, match=f"{re.escape(path)}: cannot read the image .*truncated"):
        data[0]


# 4. the model's image size follows data.image_size --------------------------------------------------------------
def test_data_image_size_sets_the_model_image_size(tmp_path):
    root = image_folder(tmp_path / "images")
    assert run("image_classification", "--config", "imagefolder", f"data.root={root}", "data.image_size=32", *VIT,
               *QUICK, f"output_dir={tmp_path / 'run'}") == 0
    assert zoo.load(tmp_path / "run" / "model").spec.img_size == 32


def test_the_default_config_takes_its_image_size_from_the_data(tmp_path):
    assert run("image_classification", *VIT, "data.image_size=16", "data.train_size=8", "data.val_size=4", *QUICK,
               f"output_dir={tmp_path}") == 0
    assert zoo.load(tmp_path / "model").spec.img_size == 16


def test_an_image_size_set_twice_must_agree(tmp_path, capsys):
    assert run("image_classification", *VIT, "model.spec.img_size=224", *QUICK, f"output_dir={tmp_path}") == 2
    assert "model.spec.img_size=224 (the data needs 32); set data.image_size instead" in \
        one_line_error(capsys, "image_classification")


def test_saved_weights_at_another_image_size_say_what_to_set(tmp_path, capsys):
    zoo.save(zoo.create("vit-tiny", img_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2, num_classes=3),
             tmp_path / "vit16")
    root = image_folder(tmp_path / "images")
    spec = "model.spec={patch_size = 4, embed_dim = 32, depth = 1, num_heads = 2}"
    args = ["--config", "imagefolder", f"data.root={root}", spec, f"model.weights={tmp_path / 'vit16'}", *QUICK]
    assert run("image_classification", *args, "data.image_size=32", f"output_dir={tmp_path / 'a'}") == 2
    assert "was saved with img_size=16, but the data needs 32; set data.image_size=16" in \
        one_line_error(capsys, "image_classification")
    # at its own size it fine-tunes: its 3-class head loads, then makes way for the data's 2 classes
    assert run("image_classification", *args, "data.image_size=16", f"output_dir={tmp_path / 'b'}") == 0
    assert zoo.load(tmp_path / "b" / "model").num_classes == 2


def test_pretrained_weights_follow_the_data_image_size(hub_cache, tmp_path):
    import timm
    from timm.models import save_for_hf

    reference = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=4, embed_dim=32, depth=1,
                                  num_heads=2)
    save_for_hf(reference, str(hub_cache("timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k")), safe_serialization=True)
    root = image_folder(tmp_path / "images")
    with pytest.warns(UserWarning, match="starts fresh"):
        assert run("image_classification", "--config", "imagefolder", f"data.root={root}", "data.image_size=16",
                   "model.name=vit-tiny", *VIT, "model.pretrained=true", *QUICK, f"output_dir={tmp_path / 'r'}") == 0
    assert zoo.load(tmp_path / "r" / "model").backbone.pos_embed.weight.shape == (1 + 16, 32)  # 8x8 grid -> 4x4


# 5. a WAV folder at another rate names the config key -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["wavfolder", "manifest"])
def test_another_sample_rate_names_data_resample(kind, tmp_path, capsys):
    if kind == "wavfolder":
        recipe, code = "audio_classification", run_wavs(wav_folder(tmp_path / "a", rate=22050), tmp_path / "r")
    else:
        recipe, code = "speech_recognition", run_speech(manifest(tmp_path / "a", rate=22050), tmp_path / "r")
    assert code == 2
    line = one_line_error(capsys, recipe)
    assert "sampled at 22050 Hz, expected 16000 Hz" in line and "set data.resample=true" in line
    assert "resample=True" not in line


# more that a new user meets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("recipe", ["causal_lm", "masked_lm"])
def test_max_length_beyond_the_model_positions_is_a_config_error(recipe, tmp_path, capsys):
    (tmp_path / "t.txt").write_text("x" * 300 + "\n" + "short\n" * 3)
    path = tmp_path / "t.txt"
    assert run(recipe, "--config", "text", f"data.train_path={path}", f"data.val_path={path}", "model.spec.dim=32",
               "model.spec.depth=1", "model.spec.num_heads=2", "model.spec.max_positions=64", "data.max_length=128",
               *QUICK, f"output_dir={tmp_path / 'r'}") == 2
    assert "data.max_length=128 is more than the model's max_positions=64" in one_line_error(capsys, recipe)


# the own-data table and the configs agree ----------------------------------------------------------------------
def own_data_rows() -> dict[tuple[str, str], str]:
    """{(recipe, config): row} of the first table under docs/recipes.md's "Bring your own data"."""
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    section = text.split("## Bring your own data", 1)[1].lstrip("\n")
    rows = {}
    for line in section[:section.index("\n\n")].splitlines()[2:]:  # the table, less its header
        recipes, config = [c.strip() for c in line.strip("|").split("|")][:2]
        for recipe in re.findall(r"`(\w+)`", recipes):
            rows[recipe, config.strip("`")] = line
    return rows


def own_data_configs() -> list[Path]:
    return sorted(p for p in (ROOT / "recipes" / "configs").glob("*/*.toml") if p.stem != "default")


def test_the_own_data_table_names_every_data_key_of_its_configs():
    rows = own_data_rows()
    assert ("speech_recognition", "manifest") in rows
    for path in own_data_configs():  # a laptop-sized twin (NAME_small) is described by NAME's row
        row = rows.get((path.parent.name, path.stem.removesuffix("_small")))
        assert row is not None, f"docs/recipes.md: the own-data table has no row for {path}"
        keys = tomllib.loads(path.read_text())["data"]
        missing = [f"data.{k}" for k in keys if k != "source" and f"data.{k}" not in row]
        assert not missing, f"docs/recipes.md: the row for {path} does not name {missing}"


def test_every_own_data_config_says_how_long_it_takes():
    docs = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    for path in own_data_configs():
        head = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
        assert re.search(r"CPU.*\d", head) and "GPU" in head, f"{path}: the header comment gives no CPU/GPU time"
        assert f"`{path.parent.name}` | `{path.stem}`" in docs, f"docs/recipes.md gives no time for {path}"


@pytest.fixture(scope="module")
def own_data(tmp_path_factory) -> dict[str, list[str]]:
    """Small real-looking data of every kind, and the data overrides that point each own-data config at it."""
    import json

    root = tmp_path_factory.mktemp("own_data")
    images, audio = image_folder(root / "images", size=(40, 30)), wav_folder(root / "audio", per_class=2)
    csv = manifest(root / "speech", text="a b")
    lines = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn", "rain on the roof"]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "train.jsonl").write_text("".join(json.dumps({"text": t, "source": t, "target": t[::-1]}) + "\n"
                                              for t in lines))
    text = [f"data.train_path={root / 'train.txt'}", f"data.val_path={root / 'train.txt'}"]
    jsonl = [f"data.train_path={root / 'train.jsonl'}", f"data.val_path={root / 'train.jsonl'}"]
    pairs = [{"image": f"images/train/{c}/{i}.jpg", "caption": f"a {c} one"} for c in ("red", "blue") for i in (0, 1)]
    (root / "captions.jsonl").write_text("".join(json.dumps(pair) + "\n" for pair in pairs))
    captions = [f"data.train_path={root / 'captions.jsonl'}", f"data.val_path={root / 'captions.jsonl'}"]
    return {"imagefolder": [f"data.root={images}"], "cifar10": ["data.source=imagefolder", f"data.root={images}"],
            "wavfolder": [f"data.root={audio}"], "manifest": [f"data.train_manifest={csv}", f"data.val_manifest={csv}"],
            "text": text, "jsonl": jsonl, "captions": captions}


@pytest.mark.parametrize("path", [p for p in own_data_configs() if p.stem.endswith("_small")],
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_every_laptop_sized_config_trains_on_real_looking_data(path, own_data, tmp_path):
    """Each laptop-sized config as shipped, on a few files of its kind, for two steps of two examples."""
    data = own_data[path.stem.removesuffix("_small")]
    assert run(path.parent.name, "--config", path.stem, *data, *QUICK, f"output_dir={tmp_path}") == 0
    assert (tmp_path / "model" / "model.safetensors").is_file()
