"""image_transform for the image-text cards against transformers' CLIP / SigLIP image processors
and open_clip's ``image_transform``, on generated images of several sizes and modes.

Stand-in models carry what the cards' ``[meta]`` holds: CLIP bicubic, ``crop_pct = 1``, OpenAI's
mean/std; SigLIP the same with mean = std = 0.5 and ``crop_mode = "squash"``.

Measured max |ours - theirs| on the normalised output (transformers 5.24, open_clip 3.3.0,
torchvision 0.29, Pillow 13; 1 uint8 level is 0.0150 after CLIP's normalisation, 0.0078 after
SigLIP's):

- open_clip (CLIP "shortest", SigLIP "squash"), PIL input: 0, exact.
- transformers' PIL-backed ``CLIPImageProcessorPil`` / ``SiglipImageProcessorPil``: 0, exact,
  except the centre-crop offset below.
- transformers' torchvision-backed ``CLIPImageProcessor`` / ``SiglipImageProcessor`` (the default,
  what ``AutoImageProcessor`` gives), PIL input: it resizes a uint8 tensor with torch's bicubic,
  we resize with PIL's; at most 2 uint8 levels apart (CLIP 0.0150, SigLIP 0.0157), under 0.3
  levels on average. With a uint8 tensor input we resize by torch too: 4.8e-7 (its fused
  rescale-and-normalise arithmetic).
- Centre crop: when the resized long side exceeds 224 by 3 (mod 4), transformers floors the
  half-margin and torchvision (timm, open_clip, OpenAI's CLIP) rounds it; the crops are one pixel
  apart (0.87 on these images). We follow torchvision; the test pins the offset.

Non-RGB input: transformers converts any PIL mode to RGB before resizing, compositing
transparency onto white; open_clip resizes first (a palette image by nearest neighbour, PIL's
rule for mode P; RGBA with alpha premultiplied, so fully transparent pixels come out black) and
then calls ``convert("RGB")``, which drops alpha. We convert first, as transformers (grayscale
equals both references, palette and CMYK equal transformers), and refuse transparency, where the
references disagree. open_clip takes no uint8 tensor (its Normalize needs floats); transformers
takes uint8 and float tensors, channels first or last; we take uint8 ``[3, H, W]`` only and say so.
"""
from __future__ import annotations

import json
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers
from open_clip.transform import image_transform as open_clip_transform
from PIL import Image
from timm.data.transforms_factory import transforms_imagenet_eval

from zoo.data import image_transform

if not hasattr(transformers, "CLIPImageProcessorPil"):
    pytest.skip("needs transformers >= 5 (PIL- and torchvision-backed processors as separate classes)",
                allow_module_level=True)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
META = {"clip": {"interpolation": "bicubic", "crop_pct": 1.0, "mean": CLIP_MEAN, "std": CLIP_STD},
        "siglip": {"interpolation": "bicubic", "crop_pct": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3,
                   "crop_mode": "squash"}}
PROCESSOR = {"clip": "CLIP", "siglip": "Siglip"}
# (width, height): landscape, portrait, smaller than 224, odd, square 224, long and thin
SIZES = [(300, 217), (200, 640), (150, 100), (97, 403), (513, 511), (231, 300), (224, 224), (1000, 230)]
ODD_CROP = [(227, 224), (225, 333)]  # the resized long side exceeds 224 by 3 (mod 4)


def stand_in(family: str, img_size: int = 224, **meta: object) -> SimpleNamespace:
    """What image_transform reads from a model: spec.img_size and the card's meta."""
    return SimpleNamespace(spec=SimpleNamespace(img_size=img_size), meta={**META[family], **meta})


@lru_cache(maxsize=None)
def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth gradient plus noise, so resampling differences would show (cached: do not modify)."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    rgb = torch.stack([x, y, (x + y) / 2]) * 200 + torch.randint(0, 55, (3, height, width), generator=g)
    return Image.fromarray(rgb.clamp(0, 255).byte().permute(1, 2, 0).numpy())


def as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()


@lru_cache(maxsize=None)
def hf_processor(family: str, backend: str) -> transformers.BaseImageProcessor:
    """transformers' processor for ``family`` with its "pil" or "torchvision" backend, defaults as published."""
    return getattr(transformers, PROCESSOR[family] + ("ImageProcessorPil" if backend == "pil" else "ImageProcessor"))()


def hf(family: str, backend: str, image: object, **kwargs: object) -> torch.Tensor:
    return hf_processor(family, backend)(image, return_tensors="pt", **kwargs)["pixel_values"][0]


@lru_cache(maxsize=None)
def open_clip_ref(family: str):
    mode = "squash" if family == "siglip" else "shortest"
    return open_clip_transform(224, is_train=False, mean=META[family]["mean"], std=META[family]["std"],
                               resize_mode=mode)


def levels(family: str, difference: torch.Tensor) -> torch.Tensor:
    """A difference of normalised outputs in uint8 levels (0-255 before normalisation)."""
    return difference.abs() * torch.tensor(META[family]["std"])[:, None, None] * 255


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_the_default_processor_is_torchvision_backed(family, tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_processor_type": PROCESSOR[family] + "ImageProcessor"}))
    auto = transformers.AutoImageProcessor.from_pretrained(tmp_path)
    assert type(auto) is getattr(transformers, PROCESSOR[family] + "ImageProcessor")
    assert auto.backend == "torchvision"


@pytest.mark.parametrize("family", ["clip", "siglip"])
@pytest.mark.parametrize("size", SIZES + ODD_CROP)
def test_eval_equals_open_clip(family, size):
    image = photo(*size)
    ours = image_transform(stand_in(family))(image)
    assert ours.shape == (3, 224, 224)
    assert torch.equal(ours, open_clip_ref(family)(image))


@pytest.mark.parametrize("family, size", [("clip", size) for size in SIZES]  # ODD_CROP: see the crop offset test
                         + [("siglip", size) for size in SIZES + ODD_CROP])
def test_eval_equals_transformers_pil_backend(family, size):
    image = photo(*size)
    assert torch.equal(image_transform(stand_in(family))(image), hf(family, "pil", image))


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_eval_is_within_two_levels_of_the_default_transformers_processor(family):
    for size in SIZES if family == "clip" else SIZES + ODD_CROP:
        image = photo(*size)
        gap = levels(family, image_transform(stand_in(family))(image) - hf(family, "torchvision", image))
        assert gap.max() <= 2 + 1e-3 and gap.mean() < 0.3, (size, gap.max(), gap.mean())


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_uint8_tensors_match_the_default_transformers_processor(family):
    for size in SIZES if family == "clip" else SIZES + ODD_CROP:
        image = as_tensor(photo(*size))
        ours = image_transform(stand_in(family))(image)
        assert ours.shape == (3, 224, 224) and ours.dtype == torch.float32
        torch.testing.assert_close(ours, hf(family, "torchvision", image), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", ODD_CROP)
def test_centre_crop_offset_is_torchvisions(size):
    """transformers crops at floor(margin / 2), torchvision at round(margin / 2): one pixel apart."""
    image = photo(*size)
    ours = image_transform(stand_in("clip"))(image)
    resized = hf("clip", "pil", image, do_center_crop=False)  # the short side at 224, not cropped
    (top, left), theirs = [round((n - 224) / 2) for n in resized.shape[1:]], hf("clip", "pil", image)
    assert torch.equal(ours, resized[:, top:top + 224, left:left + 224])
    assert not torch.equal(ours, theirs)
    floor = [(n - 224) // 2 for n in resized.shape[1:]]
    assert torch.equal(theirs, resized[:, floor[0]:floor[0] + 224, floor[1]:floor[1] + 224])


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_grayscale_palette_and_cmyk_are_converted_as_transformers_does(family):
    preprocess = image_transform(stand_in(family))
    rgb = photo(300, 217)
    gray = rgb.convert("L")
    assert torch.equal(preprocess(gray), hf(family, "pil", gray))
    assert torch.equal(preprocess(gray), open_clip_ref(family)(gray))
    for image in (rgb.convert("P", palette=Image.Palette.ADAPTIVE), rgb.convert("CMYK")):
        assert torch.equal(preprocess(image), hf(family, "pil", image)), image.mode


def test_transparency_is_refused_and_either_remedy_matches_its_reference():
    preprocess = image_transform(stand_in("clip"))
    rgb = photo(300, 217)
    keyed = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    keyed.info["transparency"] = 0
    for image in (rgb.convert("RGBA"), rgb.convert("LA"), keyed):
        with pytest.raises(ValueError, match=r"transparency.*convert\('RGB'\).*composite onto white"):
            preprocess(image)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))  # transparent at the top, opaque at the bottom
    on_white = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    assert torch.equal(preprocess(on_white), hf("clip", "pil", rgba))
    opaque = rgb.convert("RGBA")
    assert torch.equal(preprocess(opaque.convert("RGB")), open_clip_ref("clip")(opaque))
    # open_clip resizes with the alpha (PIL premultiplies it) before dropping it: transparent pixels come out black
    assert not torch.equal(preprocess(rgba.convert("RGB")), open_clip_ref("clip")(rgba))


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((50, 60, 3), np.uint8), TypeError, r"PIL image or a uint8 tensor.*ndarray.*fromarray"),
    (torch.zeros(50, 60, 3, dtype=torch.uint8), ValueError, r"uint8 tensor \[3, H, W\]; got torch.uint8 \[50, 60, 3\]"),
    (torch.rand(3, 50, 60), ValueError, r"uint8 tensor \[3, H, W\]; got torch.float32"),
    (torch.zeros(2, 3, 50, 60, dtype=torch.uint8), ValueError, r"uint8 tensor \[3, H, W\]; got .*\[2, 3, 50, 60\]"),
])
def test_other_inputs_are_refused_clearly(bad, error, message):
    with pytest.raises(error, match=message):
        image_transform(stand_in("clip"))(bad)


@pytest.mark.parametrize("crop_pct", [1.0, 0.9])
def test_squash_equals_timms_squash(crop_pct):
    model = stand_in("siglip", img_size=160, crop_pct=crop_pct)
    theirs = transforms_imagenet_eval(160, crop_pct=crop_pct, crop_mode="squash", interpolation="bicubic",
                                      mean=(0.5,) * 3, std=(0.5,) * 3)
    for size in SIZES:
        assert torch.equal(image_transform(model)(photo(*size)), theirs(photo(*size)))


def test_center_is_the_default_and_unknown_modes_are_refused():
    image = photo(300, 217)
    assert torch.equal(image_transform(stand_in("clip", crop_mode="center"))(image),
                       image_transform(stand_in("clip"))(image))
    with pytest.raises(ValueError, match=r"crop_mode 'border' is not one of center, squash"):
        image_transform(stand_in("clip", crop_mode="border"))


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_train_is_a_random_resized_crop_in_either_mode(family):
    """Training ignores crop_mode: a random resized crop + flip, as timm's (and open_clip's) train transform."""
    augment = image_transform(stand_in(family, img_size=32), train=True)
    steps = [type(step).__name__ for step in augment.transforms]
    assert "RandomResizedCrop" in steps and "RandomHorizontalFlip" in steps and "Resize" not in steps
    for image in (photo(64, 48), as_tensor(photo(48, 64)), photo(64, 48).convert("L")):
        first, second = augment(image), augment(image)
        assert first.shape == second.shape == (3, 32, 32) and not torch.equal(first, second)
