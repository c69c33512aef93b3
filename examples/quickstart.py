"""A first run of transformer-zoo, offline: pick a model by name, use it, save it, load it back.

    python examples/quickstart.py
"""
from __future__ import annotations

import tempfile

import torch

import zoo


def main() -> None:
    print("image models:", ", ".join(zoo.list_models(modality="image")))
    card = zoo.info("vit-small")
    print(f"vit-small: {card['params'] / 1e6:.1f}M parameters, reference {card['meta']['reference']}")

    torch.manual_seed(0)
    model = zoo.create("vit-small", num_classes=10).eval()  # random weights; pass weights=... for trained ones
    images = torch.randn(4, 3, 224, 224)  # [B, 3, H, W], normalised with the card's mean/std
    with torch.inference_mode():
        logits = model(images)  # [4, 10]
        features = model.forward_features(images)  # [4, 197, 384]: class token + 14x14 patches
    print(f"logits {tuple(logits.shape)}, features {tuple(features.shape)}, "
          f"predicted classes {logits.argmax(-1).tolist()}")

    with tempfile.TemporaryDirectory() as directory:
        zoo.save(model, directory)
        reloaded = zoo.load(directory).eval()
        with torch.inference_mode():
            same = torch.equal(reloaded(images), logits)
    print(f"saved and reloaded: outputs identical = {same}")


if __name__ == "__main__":
    main()
