"""Images with captions: the generated shapes (deterministic, held-out combinations never seen, the caption is in
the pixels) and a user's JSONL/CSV files (relative paths, shared images, every mistake named by file and line)."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from zoo.data import ByteTokenizer, CaptionedShapes, ImageCaptions
from zoo.data.files import DataFileError
from zoo.data.synthetic.captions import COLOURS, COMBINATIONS, HELD_OUT, POSITIONS, SHAPES, TEMPLATES, describe


# --- generated -------------------------------------------------------------------------------------------
def test_items_are_deterministic_per_seed_split_and_index():
    a, b = CaptionedShapes(16, seed=0), CaptionedShapes(16, seed=0)
    image, caption, combination = a[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    assert torch.equal(image, b[3][0]) and (caption, combination) == b[3][1:]
    assert a[-1][1:] == a[15][1:] and a[torch.tensor(2)][1:] == a[2][1:]
    assert not torch.equal(image, CaptionedShapes(16, seed=1)[3][0])
    assert not torch.equal(image, CaptionedShapes(16, seed=0, split="held-out")[3][0])
    with pytest.raises(IndexError, match="out of range"):
        a[16]


def test_captions_name_the_combination_in_one_of_the_templates():
    data = CaptionedShapes(400, image_size=24, seed=2)
    templates = Counter()
    for i in range(len(data)):
        _, caption, combination = data[i]
        phrase = describe(*COMBINATIONS[combination])
        matching = [t for t in TEMPLATES if t.format(phrase) == caption]
        assert len(matching) == 1, caption
        templates.update(matching)
    assert set(templates) == set(TEMPLATES) and min(templates.values()) > 60


def test_held_out_combinations_never_appear_in_the_seen_split_and_every_pair_still_does():
    assert len(COMBINATIONS) == len(COLOURS) * len(SHAPES) * len(POSITIONS) == 144 and len(HELD_OUT) == 16
    seen = CaptionedShapes(3000, seed=0)
    drawn = Counter(seen[i][2] for i in range(len(seen)))
    assert not {COMBINATIONS[c] for c in drawn} & HELD_OUT
    assert len(drawn) == 128 and min(drawn.values()) > 5  # every seen combination, roughly uniform
    held = CaptionedShapes(200, seed=0, split="held-out")
    assert {COMBINATIONS[held[i][2]] for i in range(len(held))} == HELD_OUT
    assert held.combinations == sorted(COMBINATIONS.index(c) for c in HELD_OUT)
    training = {COMBINATIONS[c] for c in drawn}
    for colour, shape, position in HELD_OUT:  # each part of an unseen combination was seen with the others
        assert any((colour, shape, p) in training for p in POSITIONS)
        assert any((colour, s, position) in training for s in SHAPES)
        assert any((c, shape, position) in training for c in COLOURS)
    assert len({describe(*c) for c in COMBINATIONS}) == 144 == len(CaptionedShapes.classnames)


def test_colour_and_position_are_in_the_pixels():
    """The bright pixels are in the caption's grid cell and their strongest channel is the caption's colour."""
    data = CaptionedShapes(80, image_size=48, seed=4)
    for i in range(len(data)):
        image, caption, combination = data[i]
        colour, _, position = COMBINATIONS[combination]
        bright = image.amax(0) > 0.62  # [H, W] shape pixels (the background is at most ~0.6 with noise)
        rows, columns = bright.nonzero(as_tuple=True)
        assert len(rows) > 8, caption
        (row, column), _ = POSITIONS[position]
        assert int(rows.float().mean() * 3 / 48) == row and int(columns.float().mean() * 3 / 48) == column, caption
        rgb = image[:, bright].mean(1)
        assert rgb.argmax().item() == torch.tensor(COLOURS[colour]).argmax().item() or colour == "yellow", caption
        if colour == "yellow":
            assert rgb[0] > 0.5 and rgb[1] > 0.5 and rgb[2] < 0.5, caption


def test_every_generated_caption_fits_the_default_context():
    tok = ByteTokenizer(add_bos=True, add_eos=True)
    longest = max(len(tok.encode(t.format(name))) for t in TEMPLATES for name in CaptionedShapes.classnames)
    assert longest <= 56  # recipes/configs/contrastive/default.toml's context_length


def test_bad_options():
    with pytest.raises(ValueError, match="split must be one of 'seen', 'held-out'"):
        CaptionedShapes(4, split="test")
    with pytest.raises(ValueError, match="image_size must be an int >= 16"):
        CaptionedShapes(4, image_size=8)
    with pytest.raises(ValueError, match="size must be a non-negative int"):
        CaptionedShapes(-1)


# --- files -----------------------------------------------------------------------------------------------
def images(folder, *names, size=(12, 10)):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", size, (40 * i, 0, 255 - 40 * i)).save(folder / name)


def test_jsonl_paths_relative_to_the_file_and_shared_images(tmp_path):
    images(tmp_path / "data" / "img", "a.png", "b.jpg")
    lines = [{"image": "img/a.png", "caption": "a blue square"}, {"image": "img/b.jpg", "caption": "a dark one"},
             {"image": "img/a.png", "caption": "the same image again", "extra": 1}]
    path = tmp_path / "data" / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines[:2]) + "\n\n" + json.dumps(lines[2]) + "\n")
    data = ImageCaptions(path)
    assert len(data) == 3 and data.captions == [r["caption"] for r in lines]
    assert data.lines == [1, 2, 4] and data.image_ids == [0, 1, 0]
    image, caption = data[1]
    assert image.size == (12, 10) and image.mode == "RGB" and caption == "a dark one"
    with_tensor = ImageCaptions(path, transform=lambda im: torch.zeros(3, im.size[1], im.size[0]))
    assert with_tensor[0][0].shape == (3, 10, 12)
    assert "3 pairs, 2 images" in repr(data)


def test_csv_with_quoted_captions_and_other_columns(tmp_path):
    images(tmp_path / "img", "a.png", "b.png")
    path = tmp_path / "pairs.csv"
    path.write_text('id,caption,image\n1,"red, round\nand small",img/a.png\n\n2,plain,img/b.png\n')
    data = ImageCaptions(path)
    assert data.captions == ["red, round\nand small", "plain"] and data.lines == [2, 5]
    assert [p.name for p in data.paths] == ["a.png", "b.png"]
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("file,text\nimg/a.png,hello\n")
    assert ImageCaptions(renamed, image_field="file", caption_field="text").captions == ["hello"]


@pytest.mark.parametrize("name, content, message", [
    ("e.jsonl", "", "lists no image-caption pairs (the file is empty)"),
    ("e.jsonl", "\n \n", "lists no image-caption pairs"),
    ("e.csv", "", "lists no image-caption pairs"),
    ("e.csv", "image,caption\n", "lists no image-caption pairs (the file is empty but for its header)"),
    ("b.jsonl", '{"image": "a.png", "caption": "x"}\n{"image": "a.png"\n', "b.jsonl, line 2: invalid JSON"),
    ("b.jsonl", '["a.png", "x"]\n', "line 1: expected a JSON object with the fields 'image' and 'caption', found list"),
    ("b.jsonl", '{"image": "a.png", "text": "x"}\n', "line 1: no field 'caption' (the object has ['image', 'text'])"),
    ("b.jsonl", '{"image": "a.png", "caption": ["x", "y"]}\n',
     "line 1: field 'caption' must be a string, found list; one caption a row: list the image again"),
    ("b.jsonl", '{"image": 3, "caption": "x"}\n', "line 1: field 'image' must be a string (a path), found int"),
    ("b.jsonl", '{"image": "a.png", "caption": "  "}\n', "line 1: empty caption (image a.png)"),
    ("b.jsonl", '{"image": "", "caption": "x"}\n', "line 1: empty image path"),
    ("b.jsonl", '{"image": "a.png", "caption": "x"}\n{"image": "gone.png", "caption": "y"}\n',
     "b.jsonl, line 2: image file {tmp}/gone.png does not exist"),
    ("b.csv", "path,caption\na.png,x\n", "line 1: the header must name the columns 'image' and 'caption'; found"),
    ("b.csv", "image,caption\na.png,x\na.png,x,y\n", "b.csv, line 3: 3 fields, expected 2 (image,caption); quote"),
    ("b.txt", "a.png x\n", "must be a .jsonl file"),
])
def test_bad_files_are_named_by_file_and_line(tmp_path, name, content, message):
    images(tmp_path, "a.png")
    (tmp_path / name).write_text(content)
    with pytest.raises(DataFileError) as error:
        ImageCaptions(tmp_path / name)
    assert message.format(tmp=tmp_path) in str(error.value)


def test_missing_and_damaged_images(tmp_path):
    with pytest.raises(DataFileError, match="nowhere.jsonl does not exist"):
        ImageCaptions(tmp_path / "nowhere.jsonl")
    images(tmp_path, "a.png", "b.png")
    rows = "".join(json.dumps({"image": f"{n}.png", "caption": n}) + "\n" for n in ("a", "x", "b", "y"))
    (tmp_path / "pairs.jsonl").write_text(rows)
    with pytest.raises(DataFileError, match=r"line 2: image file .*x.png does not exist \(and 1 more bad files"):
        ImageCaptions(tmp_path / "pairs.jsonl")
    (tmp_path / "pairs.jsonl").write_text(rows.replace("x", "a").replace("y", "b"))
    (tmp_path / "b.png").write_bytes((tmp_path / "b.png").read_bytes()[:40])  # truncated
    with pytest.raises(DataFileError, match="b.png"):
        ImageCaptions(tmp_path / "pairs.jsonl")
    unchecked = ImageCaptions(tmp_path / "pairs.jsonl", check_images=False)  # named when it is read instead
    with pytest.raises(DataFileError, match="b.png: cannot read the image"):
        unchecked[2]


def test_captions_longer_than_the_context_are_named(tmp_path):
    images(tmp_path, "a.png")
    captions = ["short", "x" * 40, "fine", "y" * 50]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"image": "a.png", "caption": c}) + "\n" for c in captions))
    data = ImageCaptions(tmp_path / "p.jsonl")
    tok = ByteTokenizer(add_bos=True, add_eos=True)

    def count(texts):
        return [len(tok.encode(t)) for t in texts]

    data.check_caption_lengths(count, 52, "fix it")
    with pytest.raises(DataFileError) as error:
        data.check_caption_lengths(count, 32, "fix it")
    assert str(error.value) == (f"{tmp_path / 'p.jsonl'}, line 2: the caption '{'x' * 40}' is 42 tokens, more than "
                                "the model's context_length=32 (and 1 more: line 4); fix it")
