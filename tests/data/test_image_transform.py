"""image_transform against timm's create_transform(**resolve_data_config(model=...)) on the same image."""
from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config

import zoo
from zoo.data import image_transform


def photo(width: int, height: int) -> Image.Image:
    """A smooth gradient plus noise, so resampling differences would show."""
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    rgb = torch.stack([x, y, (x + y) / 2]) * 200 + torch.randint(0, 55, (3, height, width), generator=g)
    return Image.fromarray(rgb.clamp(0, 255).byte().permute(1, 2, 0).numpy())


@pytest.mark.parametrize("card, timm_name, size", [
    ("vit-small", "vit_small_patch16_224", 224),
    ("vit-base-patch32", "vit_base_patch32_224", 224),
    ("vit-tiny", "vit_tiny_patch16_224", 384),  # an img_size override is followed (timm: input_size)
])
def test_eval_transform_equals_timms(card, timm_name, size):
    model = zoo.create(card, img_size=size, depth=1)
    reference = timm.create_model(timm_name, pretrained=False, img_size=size, depth=1)
    theirs = create_transform(**resolve_data_config({"input_size": (3, size, size)}, model=reference))
    for image in (photo(300, 217), photo(200, 640)):
        ours = image_transform(model)(image)
        assert ours.shape == (3, size, size)
        assert torch.equal(ours, theirs(image))


def test_train_transform_is_random_and_normalised():
    model = zoo.create("vit-tiny", img_size=32, depth=1)
    augment = image_transform(model, train=True)
    image = photo(64, 48)
    first, second = augment(image), augment(image)
    assert first.shape == second.shape == (3, 32, 32) and not torch.equal(first, second)
    assert -1.0 <= first.min() and first.max() <= 1.0  # mean 0.5, std 0.5: [0, 1] -> [-1, 1]


def test_non_image_models_are_refused():
    with pytest.raises(TypeError, match="needs an image model"):
        image_transform(zoo.create("gpt2", depth=1))
