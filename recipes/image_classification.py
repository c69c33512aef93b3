"""Image classification: a ViT (or any image backbone) on shapes, CIFAR-10 or an ImageFolder.

    python -m recipes.image_classification                          # offline shapes, about a minute
    python -m recipes.image_classification --config cifar10 data.download=true
    python -m recipes.image_classification --config imagefolder data.root=path/to/images

Metrics: validation loss and accuracy.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from zoo.train import Batch, ConfigError, Job, RunConfig, main as run_main
from zoo.train.metrics import accuracy, mean_loss

from ._common import CONFIGS, card_meta, check_model, create_model

TASK = "image-classification"


@dataclass
class ImageData:
    source: Literal["shapes", "cifar10", "imagefolder"] = "shapes"
    root: str = ""  # cifar10: where the data set is (or is downloaded to); imagefolder: a folder with train/ and val/
    download: bool = False  # cifar10 only: fetch it if it is not in root
    image_size: int = 32  # the model's img_size; shapes are drawn at it, other images resized and centre-cropped
    train_size: int = 4000  # shapes only
    val_size: int = 500  # shapes only

    def __post_init__(self) -> None:
        if self.image_size <= 0 or self.train_size <= 0 or self.val_size <= 0:
            raise ValueError("image_size, train_size and val_size must be positive")


@dataclass
class Config(RunConfig):
    data: ImageData = field(default_factory=ImageData)


def datasets(data: ImageData) -> tuple[Any, Any, list[str]]:
    """(train, val, class names); items are (image [3, H, W] in [0, 1], label)."""
    if data.source == "shapes":
        from zoo.data.synthetic import ShapesDataset

        train = ShapesDataset(data.train_size, image_size=data.image_size, seed=0)
        return train, ShapesDataset(data.val_size, image_size=data.image_size, seed=1), list(train.classes)
    import torchvision
    from torchvision import transforms

    if not data.root:
        raise ConfigError(f"data.source={data.source!r} needs data.root (a folder)")
    root = Path(data.root)
    size = data.image_size
    resize = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    if data.source == "cifar10":
        to_tensor = transforms.ToTensor() if size == 32 else resize  # CIFAR-10 images are 32 x 32
        try:
            train = torchvision.datasets.CIFAR10(str(root), train=True, download=data.download, transform=to_tensor)
            val = torchvision.datasets.CIFAR10(str(root), train=False, download=data.download, transform=to_tensor)
        except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
            raise FileNotFoundError(f"CIFAR-10 is not in {root} ({exc}); pass data.download=true to fetch it") \
                from None
        return train, val, list(train.classes)
    from zoo.data.files import DataFileError, image_folder

    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"data.root={root} needs {split}/ with one sub-folder of images per class "
                                    f"(the ImageFolder layout); {root / split} is missing")
    train, val = image_folder(root / "train", transform=resize), image_folder(root / "val", transform=resize)
    if val.classes != train.classes:
        raise DataFileError(f"{root}: train/ and val/ must have the same class folders; train has "
                            f"{', '.join(train.classes)}, val has {', '.join(val.classes)}")
    return train, val, list(train.classes)


def build(cfg: Config, env: Any) -> Job:
    check_model(cfg.model, TASK)
    train, val, classes = datasets(cfg.data)
    model_meta = card_meta(cfg.model.name)
    mean = torch.tensor(model_meta.get("mean", [0.5, 0.5, 0.5])).view(3, 1, 1)
    std = torch.tensor(model_meta.get("std", [0.5, 0.5, 0.5])).view(3, 1, 1)

    def collate(items: list) -> Batch:
        images = torch.stack([(image - mean) / std for image, _ in items])  # [B, 3, H, W]
        labels = torch.tensor([label for _, label in items])  # [B]
        return Batch((images,), {}, labels)

    def evaluate(model, batch: Batch) -> dict:
        logits = model(*batch.inputs)  # [B, num_classes]
        labels = batch.targets
        return {"loss": mean_loss(model.loss(logits.float(), labels), len(labels)),
                "accuracy": accuracy(logits, labels)}

    def make_model():
        return create_model(cfg.model, TASK, num_classes=len(classes), img_size=cfg.data.image_size)

    return Job(make_model=make_model,
               train_set=train, val_set=val, collate=collate, evaluate=evaluate, name="image_classification")


def main(argv: list[str] | None = None) -> int:
    return run_main("image_classification", Config, build, CONFIGS / "image_classification", argv)


if __name__ == "__main__":
    sys.exit(main())
