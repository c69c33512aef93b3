"""Contrastive image-text training: a CLIP-shaped (or SigLIP-shaped) dual encoder on images with captions.

    python -m recipes.contrastive                                  # offline captioned shapes, a few minutes
    python -m recipes.contrastive --config captions data.train_path=train.jsonl data.val_path=val.jsonl

Own data is a ``.jsonl`` file (``{"image": path, "caption": text}`` a line) or a ``.csv`` file
(header ``image,caption``) per split, image paths relative to the file. Captions are byte tokens
(`zoo.data.ByteTokenizer`, with begin- and end-of-text tokens, padded to the model's context length).
The training loss is the family's own (CLIP: softmax cross-entropy both ways; SigLIP: sigmoid) over
each process's batch.

Metrics, on validation galleries of ``data.gallery_size`` image-caption pairs: the loss, recall@1
and recall@5 from image to text (``i2t_``) and from text to image (``t2i_``): the share of images
whose matching caption is among the 1 (5) best-scored of the gallery's captions. A caption matches
an image when it was written for it, for the same image file, or (generated data) for the same
colour, shape and position. On the generated data, also zero-shot accuracy on images of the 16
held-out (colour, shape, position) combinations, which training never shows:
``zeroshot_accuracy`` classifies among all 144 combinations (chance 1/144),
``zeroshot_unseen_accuracy`` among the 16 held-out ones (chance 1/16).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from math import comb
from typing import Any, Literal, Sequence

import torch
from torch import Tensor

from zoo.train import Batch, ConfigError, Job, RunConfig, main as run_main

from ._common import CONFIGS, card_meta, check_model, create_model

TASK = "contrastive"


@dataclass
class CaptionData:
    source: Literal["shapes", "captions"] = "shapes"
    train_path: str = ""  # captions: a .jsonl ({"image": ..., "caption": ...} a line) or .csv (image,caption) file
    val_path: str = ""
    image_field: str = "image"  # captions: the JSON field or CSV column of the image path (relative to the file)
    caption_field: str = "caption"
    image_size: int = 32  # the model's img_size; shapes are drawn at it, other images resized and centre-cropped
    truncate: bool = False  # cut captions longer than the model's context_length (else that is an error)
    gallery_size: int = 100  # validation pairs ranked together for recall@k
    train_size: int = 153600  # shapes only
    val_size: int = 1000  # shapes only
    heldout_size: int = 500  # shapes only: images of held-out combinations, for zero-shot accuracy

    def __post_init__(self) -> None:
        for name in ("image_size", "gallery_size", "train_size", "val_size", "heldout_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.gallery_size < 5:
            raise ValueError(f"gallery_size must be at least 5 (recall@5 ranks 5 captions), got {self.gallery_size}")


@dataclass
class Config(RunConfig):
    data: CaptionData = field(default_factory=CaptionData)


class Keyed(torch.utils.data.Dataset):
    """Items ``(image, caption, key)`` of an `ImageCaptions`: rows with the same image file share a key."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, str, int]:
        image, caption = self.data[index]
        return image, caption, self.data.image_ids[index]


@dataclass(frozen=True)
class Gallery:
    """Validation pairs ``start..stop-1`` ranked together; the rows from ``first`` on are scored (the
    last gallery reaches back so that it is full, without scoring pairs twice)."""

    start: int
    first: int
    stop: int


@dataclass(frozen=True)
class HeldOut:
    """Held-out images ``start..stop-1`` for zero-shot accuracy."""

    start: int
    stop: int


def galleries(count: int, size: int) -> list[Gallery]:
    """``count`` validation pairs in galleries of ``size`` (all of them in one if fewer), each pair scored once."""
    if count <= size:
        return [Gallery(0, 0, count)]
    out = [Gallery(start, start, start + size) for start in range(0, count - size + 1, size)]
    if out[-1].stop < count:
        out.append(Gallery(count - size, out[-1].stop, count))
    return out


def datasets(data: CaptionData) -> tuple[Any, Any, Any]:
    """(train, val, held-out or None); items are (image [3, H, W] in [0, 1], caption, key)."""
    if data.source == "shapes":
        from zoo.data.synthetic import CaptionedShapes

        size = data.image_size
        return (CaptionedShapes(data.train_size, image_size=size, seed=0),
                CaptionedShapes(data.val_size, image_size=size, seed=1),
                CaptionedShapes(data.heldout_size, image_size=size, seed=2, split="held-out"))
    if not data.train_path or not data.val_path:
        raise ConfigError("data.source='captions' needs data.train_path and data.val_path (.jsonl or .csv files)")
    from torchvision import transforms

    from zoo.data.captions import ImageCaptions

    size = data.image_size
    resize = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    fields = {"image_field": data.image_field, "caption_field": data.caption_field, "transform": resize}
    return Keyed(ImageCaptions(data.train_path, **fields)), Keyed(ImageCaptions(data.val_path, **fields)), None


def check_captions_fit(model: Any, tokenizer: Any, train: Any, val: Any, truncate: bool) -> Any:
    """``model``, once every caption fits its ``context_length`` (or ``truncate`` cuts the longer ones)."""
    if truncate:
        return model
    limit = model.spec.context_length
    fix = "set data.truncate=true to cut long captions, or raise model.spec.context_length"

    def count(texts: Sequence[str]) -> list[int]:  # tokens per text, a chunk at a time (only the lengths are kept)
        return [len(ids) for start in range(0, len(texts), 1024)
                for ids in tokenizer(list(texts[start:start + 1024]), padding=False, return_tensors=None)["input_ids"]]

    if isinstance(train, Keyed):  # own files: name the file, line and caption
        train.data.check_caption_lengths(count, limit, fix)
        val.data.check_caption_lengths(count, limit, fix)
        return model
    generated = [t.format(name) for t in train.templates for name in train.classnames]  # every caption it writes
    longest = max(zip(count(generated), generated))
    if longest[0] > limit:
        raise ConfigError(f"the generated caption {longest[1]!r} is {longest[0]} tokens, more than the model's "
                          f"context_length={limit}; {fix}")
    return model


def pair_batch(images: Sequence[Tensor], captions: Sequence[str]) -> Tensor:
    """``images`` stacked ``[B, 3, H, W]``, once there is exactly one caption per image."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions: contrastive training pairs image i "
                         "with caption i, so the two batches must be the same size")
    return torch.stack(list(images))


def recall_at(scores: Tensor, match: Tensor, k: int) -> float:
    """Rows of ``scores [N, G]`` with a match (``match [N, G]``, bool) among their ``k`` best columns."""
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices  # [N, k]
    return float(match.gather(1, top).any(dim=1).sum())


def chance_recall(match: Tensor, k: int) -> float:
    """Expected ``recall_at`` of random scores: per row, 1 - C(G - m, k) / C(G, k) for m matching columns of G."""
    size = match.shape[1]
    k = min(k, size)
    return float(sum(1 - comb(size - m, k) / comb(size, k) for m in match.sum(dim=1).tolist()))


def matches(keys: Sequence[int], captions: Sequence[str]) -> Tensor:
    """``[G, G]`` bool: caption j matches image i (same key, or the very same caption text)."""
    key = torch.tensor(list(keys))
    ids = {text: i for i, text in enumerate(captions)}
    text = torch.tensor([ids[c] for c in captions])
    return (key[:, None] == key[None, :]) | (text[:, None] == text[None, :])


def token_fields(name: str, tokenizer: Any) -> dict[str, int]:
    """The spec fields the tokenizer fixes: ``vocab_size``, and ``eos_token_id`` where the family's text tower
    pools at that token (CLIP; SigLIP pools at the last position and has no such field)."""
    import registry
    from zoo.factory import get_family
    from zoo.models.spec import spec_fields

    fields = {"vocab_size": tokenizer.vocab_size}
    if "eos_token_id" in spec_fields(get_family(registry.get_card(name).family).spec):
        fields["eos_token_id"] = tokenizer.eos_token_id
    return fields


def build(cfg: Config, env: Any) -> Job:
    import zoo
    from zoo.data import ByteTokenizer

    check_model(cfg.model, TASK)
    if env.distributed and cfg.train.distributed == "fsdp":
        raise ConfigError("train.distributed='fsdp' cannot shard the image-text models yet (their logit_scale is a "
                          "0-dim parameter, which FSDP2's fully_shard refuses); use train.distributed=ddp")
    train, val, held_out = datasets(cfg.data)
    tokenizer = ByteTokenizer(add_bos=True, add_eos=True)  # the text tower pools at the end-of-text token
    meta = card_meta(cfg.model.name)
    mean = torch.tensor(meta.get("mean", [0.5, 0.5, 0.5])).view(3, 1, 1)
    std = torch.tensor(meta.get("std", [0.5, 0.5, 0.5])).view(3, 1, 1)
    context = {}  # the model's context_length, once it is built

    def padded(captions: list[str]) -> Any:
        """Token ids and mask [B, T], padded to T = context_length (SigLIP pools at the last position)."""
        return tokenizer(captions, max_length=context["length"], truncation=cfg.data.truncate, padding="max_length")

    def tokens(captions: list[str]) -> tuple[Tensor, Tensor]:
        batch = padded(captions)
        return batch["input_ids"], batch["attention_mask"]  # [B, T] each

    def pairs(items: list) -> tuple[Tensor, Tensor, Tensor]:
        images = pair_batch([(image - mean) / std for image, _, _ in items], [c for _, c, _ in items])
        return (images, *tokens([caption for _, caption, _ in items]))  # [B, 3, H, W], [B, T], [B, T]

    def collate(items: list) -> Batch:
        images, ids, mask = pairs(items)
        return Batch((images, ids), {"attention_mask": mask}, None)  # the pairs are the diagonal: no targets

    def eval_collate(parts: list) -> Batch:
        return Batch((), {}, list(parts))  # galleries and held-out chunks, read one at a time in evaluate

    def score_gallery(model, part: Gallery) -> dict:
        items = [val[i] for i in range(part.start, part.stop)]
        images, ids, mask = (t.to(env.device) for t in pairs(items))
        logits = model(images, ids, attention_mask=mask).float()  # [G, G] image to text
        match = matches([key for _, _, key in items], [caption for _, caption, _ in items]).to(env.device)
        rows = slice(part.first - part.start, None)  # the pairs this gallery scores
        scored = part.stop - part.first
        out = {"loss": (float(model.loss(logits)) * scored, scored)}
        for k in (1, 5):
            out[f"i2t_recall@{k}"] = (recall_at(logits[rows], match[rows], k), scored)
            out[f"t2i_recall@{k}"] = (recall_at(logits.T[rows], match.T[rows], k), scored)
        return out

    def zero_shot(model, parts: list[HeldOut]) -> dict:
        classifier = zoo.zero_shot_classifier(model, padded, list(train.classnames), list(train.templates))
        unseen = torch.tensor(held_out.combinations, device=env.device)  # the held-out classes
        correct = correct_unseen = count = 0
        for part in parts:
            items = [held_out[i] for i in range(part.start, part.stop)]
            images = torch.stack([(image - mean) / std for image, _, _ in items]).to(env.device)
            labels = torch.tensor([label for _, _, label in items], device=env.device)  # [n] combinations
            logits = classifier(images).float()  # [n, 144]
            correct += int((logits.argmax(dim=1) == labels).sum())
            correct_unseen += int((unseen[logits[:, unseen].argmax(dim=1)] == labels).sum())
            count += len(items)
        return {"zeroshot_accuracy": (correct, count), "zeroshot_unseen_accuracy": (correct_unseen, count)}

    def evaluate(model, batch: Batch) -> dict:
        totals: dict[str, list[float]] = {}
        results = [score_gallery(model, part) for part in batch.targets if isinstance(part, Gallery)]
        held = [part for part in batch.targets if isinstance(part, HeldOut)]
        if held:
            results.append(zero_shot(model, held))
        for result in results:
            for name, (value, n) in result.items():
                acc = totals.setdefault(name, [0.0, 0.0])
                acc[0] += value
                acc[1] += n
        return {name: (value, n) for name, (value, n) in totals.items()}

    parts: list = galleries(len(val), cfg.data.gallery_size)
    if held_out is not None:
        step = cfg.data.gallery_size
        parts += [HeldOut(start, min(start + step, len(held_out))) for start in range(0, len(held_out), step)]

    def make_model():
        model = create_model(cfg.model, TASK, img_size=cfg.data.image_size, **token_fields(cfg.model.name, tokenizer))
        context["length"] = model.spec.context_length
        return check_captions_fit(model, tokenizer, train, val, cfg.data.truncate)

    return Job(make_model=make_model, train_set=train, val_set=parts, collate=collate, evaluate=evaluate,
               eval_collate=eval_collate, name="contrastive")


def main(argv: list[str] | None = None) -> int:
    return run_main("contrastive", Config, build, CONFIGS / "contrastive", argv)


if __name__ == "__main__":
    sys.exit(main())
