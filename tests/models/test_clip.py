"""CLIP and SigLIP against transformers' CLIPModel / SiglipModel: random weights through our key maps,
the same image embeddings, text embeddings (padded texts too) and logits."""
from __future__ import annotations

import pytest
import torch
import transformers

import zoo
from parity_helpers import perturbed
from zoo.weights import WeightsError

TOL = 1e-4


def clip_config(spec: dict) -> transformers.CLIPConfig:
    """transformers' config for our spec values (card spec + overrides)."""
    return transformers.CLIPConfig(
        projection_dim=spec["embed_dim"],
        vision_config=dict(hidden_size=spec["vision_width"], num_hidden_layers=spec["vision_depth"],
                           num_attention_heads=spec["vision_heads"], intermediate_size=spec["vision_mlp_dim"],
                           image_size=spec["img_size"], patch_size=spec["patch_size"], hidden_act="quick_gelu"),
        text_config=dict(hidden_size=spec["text_width"], num_hidden_layers=spec["text_depth"],
                         num_attention_heads=spec["text_heads"], intermediate_size=spec["text_mlp_dim"],
                         vocab_size=spec["vocab_size"], max_position_embeddings=spec["context_length"],
                         hidden_act="quick_gelu", eos_token_id=spec["eos_token_id"]))


def siglip_config(spec: dict) -> transformers.SiglipConfig:
    return transformers.SiglipConfig(
        vision_config=dict(hidden_size=spec["vision_width"], num_hidden_layers=spec["vision_depth"],
                           num_attention_heads=spec["vision_heads"], intermediate_size=spec["vision_mlp_dim"],
                           image_size=spec["img_size"], patch_size=spec["patch_size"]),
        text_config=dict(hidden_size=spec["text_width"], num_hidden_layers=spec["text_depth"],
                         num_attention_heads=spec["text_heads"], intermediate_size=spec["text_mlp_dim"],
                         vocab_size=spec["vocab_size"], max_position_embeddings=spec["context_length"],
                         projection_size=spec["embed_dim"]))


REFERENCES = {"clip": (transformers.CLIPModel, clip_config), "siglip": (transformers.SiglipModel, siglip_config)}
TINY = {"vision_depth": 2, "text_depth": 2}  # full widths, two layers per tower


def spec_values(card: str, **overrides) -> dict:
    info = zoo.info(card)
    defaults = zoo.create.__globals__["get_family"](info["family"]).spec()
    values = {**{k: getattr(defaults, k) for k in defaults.__dataclass_fields__}, **info["spec"], **overrides}
    return values


def reference_dir(card: str, tmp_path, **overrides):
    """A transformers model of ``card``'s shape with perturbed random weights, saved as a hub directory."""
    family = zoo.info(card)["family"]
    model_cls, config = REFERENCES[family]
    torch.manual_seed(0)
    reference = perturbed(model_cls(config(spec_values(card, **overrides))))
    with torch.no_grad():
        reference.logit_scale.fill_(2.0)
        if family == "siglip":
            reference.logit_bias.fill_(-3.0)
    reference.save_pretrained(tmp_path)
    return reference


def texts(card: str, batch: int, length: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids [batch, length] ending in CLIP's end-of-text token (the max id), the last row right-padded."""
    ids = torch.randint(1, vocab - 2, (batch, length))
    mask = torch.ones_like(ids)
    mask[-1, length // 2:] = 0
    ids[torch.arange(batch), mask.sum(1) - 1] = vocab - 1  # CLIP's eos is its last id
    return ids * mask + (vocab - 1) * (1 - mask), mask  # padded with the eos id, as transformers' tokenizer pads


def compare(card: str, tmp_path, **overrides) -> None:
    reference = reference_dir(card, tmp_path, **overrides)
    ours = zoo.create(card, weights=tmp_path, **overrides).eval()
    spec = ours.spec
    images = torch.randn(2, 3, spec.img_size, spec.img_size)
    ids, mask = texts(card, 3, min(spec.context_length, 20), spec.vocab_size)
    with torch.no_grad():
        out = reference(input_ids=ids, attention_mask=mask, pixel_values=images)
        logits = ours(images, ids, attention_mask=mask)
        image_embeds, text_embeds = ours.encode_image(images), ours.encode_text(ids, mask)
    assert logits.shape == (2, 3)
    assert (image_embeds - out.image_embeds).abs().max() < TOL
    assert (text_embeds - out.text_embeds).abs().max() < TOL
    assert (logits - out.logits_per_image).abs().max() < TOL * 10  # logits are scaled by exp(2)


@pytest.mark.parametrize("card", ["clip-vit-base-patch32", "siglip-base-patch16-224"])
def test_full_size_matches_transformers(card, tmp_path):
    compare(card, tmp_path)


@pytest.mark.parametrize("card", [c for c in zoo.list_models(modality="image-text")
                                  if c not in ("clip-vit-base-patch32", "siglip-base-patch16-224")])
def test_every_card_matches_transformers_at_two_layers(card, tmp_path):
    overrides = dict(TINY, vocab_size=1000) if zoo.info(card)["family"] == "siglip" else dict(TINY)
    compare(card, tmp_path, **overrides)


def test_siglip_text_padded_to_its_length_pools_the_last_position(tmp_path):
    """SigLIP pads to 64 tokens and pools there: equal to transformers without a mask, as SigLIP is used."""
    reference = reference_dir("siglip-base-patch16-224", tmp_path, **TINY)
    ours = zoo.create("siglip-base-patch16-224", weights=tmp_path, **TINY).eval()
    ids = torch.randint(2, 32000, (3, 64))
    ids[:, 10:] = 1  # padding
    with torch.no_grad():
        expected = reference.get_text_features(input_ids=ids)
        expected = getattr(expected, "pooler_output", expected)
        got = ours.encode_text(ids, normalize=False)
    assert (got - expected).abs().max() < TOL


@pytest.mark.parametrize("card", ["clip-vit-base-patch16", "siglip-base-patch16-224"])
def test_each_tower_alone_loads_from_the_full_checkpoint(card, tmp_path):
    reference = reference_dir(card, tmp_path, **TINY)
    image_model = zoo.create(card, task="feature-extraction", weights=tmp_path, **TINY).eval()
    text_model = zoo.create(card, task="feature-extraction", modality="text", weights=tmp_path, **TINY).eval()
    assert image_model.backbone.modality == "image" and text_model.backbone.modality == "text"
    images = torch.randn(2, 3, 224, 224)
    ids, mask = texts(card, 2, 12, image_model.spec.vocab_size)
    with torch.no_grad():
        vision = reference.vision_model(pixel_values=images).last_hidden_state
        text = reference.text_model(input_ids=ids, attention_mask=mask).last_hidden_state
        got_vision, got_text = image_model(images), text_model(ids, attention_mask=mask)
    if zoo.info(card)["family"] == "clip":  # CLIP's post-LayerNorm is the image tower's final norm
        vision = reference.vision_model.post_layernorm(vision)
    assert (got_vision - vision).abs().max() < TOL
    keep = mask.bool()
    assert (got_text[keep] - text[keep]).abs().max() < TOL


def test_image_classification_fine_tunes_the_image_tower_alone(tmp_path):
    reference_dir("clip-vit-base-patch32", tmp_path, **TINY)
    model = zoo.create("clip-vit-base-patch32", task="image-classification", num_classes=10, pretrained=False, **TINY)
    assert model.backbone.modality == "image" and model.num_classes == 10
    assert not any(name.startswith("backbone.text") for name, _ in model.named_parameters())
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)


def test_an_image_only_checkpoint_is_refused_for_both_towers(tmp_path):
    config = clip_config(spec_values("clip-vit-base-patch32", **TINY)).vision_config
    transformers.CLIPVisionModel(config).save_pretrained(tmp_path)
    with pytest.raises(WeightsError, match="only the image tower .* needs both"):
        zoo.create("clip-vit-base-patch32", weights=tmp_path, **TINY)
    tower = zoo.create("clip-vit-base-patch32", task="feature-extraction", weights=tmp_path, **TINY)
    assert tower.backbone.modality == "image"


def test_a_config_for_another_shape_is_refused(tmp_path):
    reference_dir("clip-vit-base-patch32", tmp_path, **TINY)
    with pytest.raises(WeightsError, match="num_hidden_layers=2 but vision_depth=3"):
        zoo.create("clip-vit-base-patch32", weights=tmp_path, vision_depth=3, text_depth=2)


def test_contrastive_losses_equal_transformers(tmp_path):
    for card in ("clip-vit-base-patch32", "siglip-base-patch16-224"):
        reference = reference_dir(card, tmp_path / card, **TINY)
        ours = zoo.create(card, weights=tmp_path / card, **TINY).eval()
        images = torch.randn(3, 3, 224, 224)
        ids, mask = texts(card, 3, 12, ours.spec.vocab_size)
        with torch.no_grad():
            expected = reference(input_ids=ids, attention_mask=mask, pixel_values=images, return_loss=True).loss
            got = ours.loss(ours(images, ids, attention_mask=mask))
        assert abs(got.item() - expected.item()) < 1e-4, card
