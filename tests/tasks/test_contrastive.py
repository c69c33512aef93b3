"""The image-text tasks: contrastive logits and losses, the zero-shot classifier, and their bad inputs."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.models.clip import FAMILY as CLIP
from zoo.models.siglip import FAMILY as SIGLIP
from zoo.tasks.contrastive import contrastive_loss

SMALL = dict(CLIP.smoke_overrides)


class FixedPrompts:
    """A stand-in tokenizer: one fixed random id row per text (ending in CLIP's eos 98), as a dict."""

    def __init__(self):
        self.rows: dict[str, torch.Tensor] = {}

    def __call__(self, texts):
        for text in texts:
            if text not in self.rows:
                row = torch.randint(1, 98, (8,))
                row[-1] = 98
                self.rows[text] = row
        ids = torch.stack([self.rows[t] for t in texts])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def clip_model():
    torch.manual_seed(0)
    return zoo.create("clip-vit-base-patch32", **SMALL).eval()


def batch(n_images=3, n_texts=3):
    ids = torch.randint(1, 98, (n_texts, 6))
    ids[:, -1] = 98
    return torch.randn(n_images, 3, 32, 32), ids


def test_logits_are_scaled_cosines_of_the_embeddings():
    model = clip_model()
    images, ids = batch(2, 4)
    with torch.no_grad():
        logits = model(images, ids)
        expected = model.head.pairs.logit_scale.exp() * model.encode_image(images) @ model.encode_text(ids).t()
    assert logits.shape == (2, 4)
    torch.testing.assert_close(logits, expected)
    assert torch.allclose(model.encode_image(images).norm(dim=-1), torch.ones(2))


def test_softmax_loss_is_the_mean_of_both_directions_and_targets_permute_captions():
    logits = torch.randn(4, 4)
    expected = (F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(logits.t(), torch.arange(4))) / 2
    torch.testing.assert_close(contrastive_loss(logits, "softmax"), expected)
    order = torch.tensor([2, 0, 3, 1])  # shuffle the captions: image i's now sits in column order[i]
    shuffled = logits[:, order.argsort()]
    torch.testing.assert_close(contrastive_loss(shuffled, "softmax", order), expected)


def test_sigmoid_loss_counts_every_pair():
    logits = torch.randn(3, 5)
    targets = torch.tensor([4, 0, 0])  # two images may share a caption under the sigmoid loss
    labels = -torch.ones(3, 5)
    labels[torch.arange(3), targets] = 1
    expected = -F.logsigmoid(labels * logits).sum(1).mean()
    torch.testing.assert_close(contrastive_loss(logits, "sigmoid", targets), expected)


def test_batch_sizes_that_differ_in_training_are_refused():
    model = clip_model()
    images, ids = batch(3, 2)
    logits = model(images, ids)
    with pytest.raises(ValueError, match="3 images and 2 captions"):
        model.loss(logits)
    with pytest.raises(ValueError, match="needs each caption to belong to exactly one image"):
        contrastive_loss(torch.randn(3, 3), "softmax", torch.tensor([0, 0, 1]))


def test_captions_longer_than_the_context_are_refused():
    model = clip_model()
    ids = torch.randint(1, 98, (1, SMALL["context_length"] + 1))
    with pytest.raises(ValueError, match="at most context_length=16"):
        model.encode_text(ids)


def test_a_caption_without_the_end_of_text_token_is_refused():
    model = clip_model()
    with pytest.raises(ValueError, match=r"rows \[1\] of input_ids have no end-of-text token \(id 98\)"):
        model.encode_text(torch.tensor([[5, 6, 98], [5, 6, 7]]))


def test_the_contrastive_task_needs_both_sides():
    model = clip_model()
    images, ids = batch()
    with pytest.raises(ValueError, match="pass images and input_ids"):
        model(images)
    with pytest.raises(ValueError, match="needs images .* input_ids .* or both"):
        model()


def test_encode_on_a_one_tower_model_says_what_is_needed():
    model = zoo.create("clip-vit-base-patch32", task="image-classification", **SMALL)
    with pytest.raises(AttributeError, match="encode_text needs an image-text model"):
        model.encode_text(torch.tensor([[1, 98]]))


def test_zero_shot_classifier_averages_normalised_prompt_embeddings():
    model, tokenizer = clip_model(), FixedPrompts()
    names, templates = ["cat", "dog", "bird"], ["a {}.", "a photo of a {}.", lambda c: f"art of {c}"]
    classifier = zoo.zero_shot_classifier(model, tokenizer, names, templates)
    prompts = [t.format(n) if isinstance(t, str) else t(n) for n in names for t in templates]
    with torch.no_grad():
        text = model.encode_text(tokenizer(prompts)["input_ids"]).reshape(3, 3, -1)
        weights = F.normalize(text.mean(1), dim=-1)  # [C, E]
        images = torch.randn(2, 3, 32, 32)
        expected = model.head.pairs.logit_scale.exp() * model.encode_image(images) @ weights.t()
        torch.testing.assert_close(classifier(images), expected)
    assert classifier.task == "zero-shot-image-classification" and classifier.spec.num_classes == 3
    assert model.task == "contrastive" and all(p.requires_grad for p in model.parameters())  # left unchanged
    assert not any(p.requires_grad for p in classifier.backbone.text.parameters())


def test_zero_shot_classifier_saves_loads_and_takes_new_classes_in_place(tmp_path):
    classifier = zoo.zero_shot_classifier(clip_model(), FixedPrompts(), ["a", "b"], ["{}"])
    zoo.save(classifier, tmp_path)
    loaded = zoo.load(tmp_path).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(images), classifier(images))
    again = zoo.zero_shot_classifier(loaded, FixedPrompts(), ["x", "y", "z"], ["{}"])
    assert again is loaded and loaded(images).shape == (2, 3) and loaded.spec.num_classes == 3


@pytest.mark.parametrize("names, templates, error, message", [
    (["cat"], ["a photo of a cat"], ValueError, "has no '{}' for the class name"),
    ("cat", ["{}"], TypeError, "classnames must be a non-empty list"),
    ([], ["{}"], TypeError, "classnames must be a non-empty list"),
    (["cat", ""], ["{}"], ValueError, "non-empty strings"),
    (["cat"], [], TypeError, "templates must be a non-empty list"),
    (["cat"], [3], TypeError, "a template is a string"),
])
def test_bad_prompts_are_clear(names, templates, error, message):
    with pytest.raises(error, match=message):
        zoo.zero_shot_classifier(clip_model(), FixedPrompts(), names, templates)


def test_zero_shot_classifier_needs_an_image_text_model():
    vit = zoo.create("vit-tiny", **{"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2})
    with pytest.raises(TypeError, match="needs an image-text model"):
        zoo.zero_shot_classifier(vit, FixedPrompts(), ["a"], ["{}"])


def test_siglip_scores_with_its_bias_and_sigmoid_loss():
    torch.manual_seed(0)
    model = zoo.create("siglip-base-patch16-224", **SIGLIP.smoke_overrides).eval()
    images, ids = torch.randn(2, 3, 32, 32), torch.randint(1, 99, (2, 16))
    with torch.no_grad():
        logits = model(images, ids)
        pairs = model.head.pairs
        expected = pairs.logit_scale.exp() * model.encode_image(images) @ model.encode_text(ids).t() + pairs.logit_bias
    torch.testing.assert_close(logits, expected)
    assert pairs.logit_bias.item() == -10.0
    torch.testing.assert_close(model.loss(logits), contrastive_loss(logits, "sigmoid"))


def test_a_tower_that_does_not_fit_the_task_is_refused():
    with pytest.raises(ValueError, match="task 'image-classification' needs modality image .* built has modality text"):
        zoo.create("clip-vit-base-patch32", task="image-classification", modality="text", **SMALL)
    with pytest.raises(ValueError, match="task 'causal-lm' needs .*Tasks that fit: contrastive, feature-extraction"):
        zoo.create("clip-vit-base-patch32", task="causal-lm", **SMALL)


def test_clip_skips_the_positions_after_the_last_end_of_text_exactly():
    """The causal text tower cannot see past its pooling point: computing only up to it changes nothing."""
    model = clip_model()
    ids = torch.zeros(3, 16, dtype=torch.long)
    for row, length in enumerate((3, 6, 4)):
        ids[row, :length] = torch.randint(1, 98, (length,))
        ids[row, length - 1] = 98
    mask = (ids != 0).long()
    backbone = model.backbone
    with torch.no_grad():
        full = backbone.text(ids, mask)  # all 16 positions
        expected = F.normalize(backbone.text_proj(full[torch.arange(3), mask.sum(1) - 1]), dim=-1)
        torch.testing.assert_close(model.encode_text(ids, mask), expected)
    with pytest.raises(ValueError, match="must have the shape of the token ids"):
        model.encode_text(ids, mask[:, :6])
