"""open_clip checkpoints into the clip family: open_clip's ``CLIP`` with random weights, saved as open_clip
saves it (a state dict file, an ``epoch_*.pt`` training checkpoint, a hub-style directory with
``open_clip_config.json``), equal to open_clip through our key map; the zero-shot classifier equal to
open_clip's ``build_zero_shot_classifier``; clear errors for what the family does not read."""
from __future__ import annotations

import copy
import json
import shutil
from fnmatch import fnmatch
from pathlib import Path

import open_clip
import pytest
import torch
import transformers
from open_clip.zero_shot_classifier import build_zero_shot_classifier
from safetensors.torch import save_file

import zoo
from parity_helpers import perturbed
from zoo.weights import WeightsError

TOL = 1e-4
CARD = "clip-vit-base-patch32"
TINY = {"vision_depth": 2, "text_depth": 2}  # full widths, two layers per tower
TEXTS = ["a photo of a cat", "a diagram of a transformer", "x " * 100]  # the last is truncated to 77 tokens


def reference(name: str, layers: int | None = None, **cfg_overrides) -> tuple[open_clip.CLIP, dict]:
    """open_clip's ``CLIP`` of model config ``name`` (``layers`` per tower), perturbed random weights."""
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    if layers is not None:
        cfg["vision_cfg"]["layers"] = cfg["text_cfg"]["layers"] = layers
    cfg.update(cfg_overrides)
    torch.manual_seed(0)
    model = perturbed(open_clip.CLIP(**cfg))
    with torch.no_grad():
        model.logit_scale.fill_(2.0)
    return model, cfg


def write_directory(model: torch.nn.Module, cfg: dict, path, weights: str = "open_clip_model.safetensors"):
    """The files open_clip's push_to_hf_hub writes: open_clip_config.json and the weights."""
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if weights.endswith(".safetensors"):
        save_file(state, path / weights)
    else:
        torch.save(state, path / weights)
    config = {"model_cfg": cfg, "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                                                   "std": [0.26862954, 0.26130258, 0.27577711]}}
    (path / "open_clip_config.json").write_text(json.dumps(config))
    return path


def differences(ref: open_clip.CLIP, ours: torch.nn.Module) -> dict[str, float]:
    """Max |ours - open_clip| of normalised image and text embeddings (text with and without our padding
    mask) and of the image-text logits."""
    size = ours.spec.img_size
    images = torch.randn(2, 3, size, size)
    ids = open_clip.tokenize(TEXTS)  # [3, 77], padded with 0 after the end-of-text token
    mask = (ids != 0).long()
    with torch.no_grad():
        image_ref, text_ref = ref.encode_image(images, normalize=True), ref.encode_text(ids, normalize=True)
        logits_ref = ref.logit_scale.exp() * image_ref @ text_ref.t()  # open_clip's get_logits
        return {"image": (ours.encode_image(images) - image_ref).abs().max().item(),
                "text": (ours.encode_text(ids) - text_ref).abs().max().item(),
                "text_masked": (ours.encode_text(ids, mask) - text_ref).abs().max().item(),
                "logits": (ours(images, ids, attention_mask=mask) - logits_ref).abs().max().item()}


def assert_equal(ref: open_clip.CLIP, ours: torch.nn.Module) -> None:
    diffs = differences(ref, ours.eval())
    logits = diffs.pop("logits")
    assert max(diffs.values()) < TOL, diffs
    assert logits < TOL * 10, logits  # scaled by exp(2)


@pytest.fixture(scope="module")
def two_layer(tmp_path_factory):
    """ViT-B-32-quickgelu with two layers per tower: (open_clip model, its model_cfg, its state dict in a .bin file)."""
    ref, cfg = reference("ViT-B-32-quickgelu", layers=2)
    path = tmp_path_factory.mktemp("open_clip") / "open_clip_pytorch_model.bin"
    torch.save(ref.state_dict(), path)
    return ref, cfg, path


def test_full_size_state_dict_file_equals_open_clip(tmp_path):
    """open_clip's ViT-B-32-quickgelu (OpenAI's shape) at full size, its state dict in a .bin file."""
    ref = perturbed(open_clip.create_model("ViT-B-32-quickgelu", pretrained=None))
    with torch.no_grad():
        ref.logit_scale.fill_(2.0)
    torch.save(ref.state_dict(), tmp_path / "open_clip_pytorch_model.bin")
    assert_equal(ref, zoo.create(CARD, weights=tmp_path / "open_clip_pytorch_model.bin"))


def test_training_checkpoint_with_module_prefixes(two_layer, tmp_path):
    ref = two_layer[0]
    optimizer = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())  # its state: tensors, numbers, tuples
    optimizer.zero_grad()
    sum(p.sum() for g in optimizer.param_groups for p in g["params"]).backward()
    optimizer.step()
    checkpoint = {"epoch": 3, "name": "run", "state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()},
                  "optimizer": optimizer.state_dict()}
    torch.save(checkpoint, tmp_path / "epoch_3.pt")
    assert_equal(ref, zoo.create(CARD, weights=tmp_path / "epoch_3.pt", **TINY))


def test_plain_gelu_weights_load_with_activation_gelu(tmp_path):
    """open_clip's ViT-B-32 uses nn.GELU (OpenAI's weights QuickGELU: ViT-B-32-quickgelu): the config says so."""
    ref, cfg = reference("ViT-B-32", layers=2)
    write_directory(ref, cfg, tmp_path, "open_clip_pytorch_model.bin")
    assert_equal(ref, zoo.create(CARD, weights=tmp_path, activation="gelu", **TINY))
    with pytest.raises(WeightsError, match=r"quick_gelu=False \(activation 'gelu'\) but activation='quick_gelu'"):
        zoo.create(CARD, weights=tmp_path, **TINY)


def test_large_patch14_336_directory_at_two_layers(tmp_path):
    ref, cfg = reference("ViT-L-14-336-quickgelu", layers=2)
    write_directory(ref, cfg, tmp_path)
    assert_equal(ref, zoo.create("clip-vit-large-patch14-336", weights=tmp_path, **TINY))


@pytest.mark.parametrize("overrides, message", [
    ({"text_heads": 16}, r"text_cfg.heads=8 but text_heads=16"),  # invisible in the weights' shapes
    ({"vision_heads": 6}, r"vision_cfg.head_width=64 \(12 heads of width 768\) but vision_heads=6"),
    ({"vision_depth": 3}, r"vision_cfg.layers=2 but vision_depth=3"),
    ({"img_size": 256}, r"vision_cfg.image_size=224 but img_size=256"),
    ({"text_mlp_dim": 1024}, r"text_cfg.mlp_ratio=4.0 \(2048 hidden units\) but text_mlp_dim=1024"),
])
def test_a_config_for_another_model_names_the_field(overrides, message, two_layer, tmp_path):
    write_directory(two_layer[0], two_layer[1], tmp_path)
    with pytest.raises(WeightsError, match=message):
        zoo.create(CARD, weights=tmp_path, **{**TINY, **overrides})


@pytest.mark.parametrize("change, message", [
    ({"vision_cfg": {"attentional_pool": True}}, r"vision_cfg.attentional_pool=True"),
    ({"text_cfg": {"no_causal_mask": True}}, r"text_cfg.no_causal_mask=True"),
    ({"text_cfg": {"pool_type": "last"}}, r"text_cfg.pool_type='last'"),
    ({"custom_text": True}, r"features the clip family does not build: custom_text=True"),
    ({"vision_cfg": {"new_thing": 1}}, r"fields it does not know: vision_cfg.new_thing"),
])
def test_a_config_with_features_the_family_does_not_build_is_refused(change, message, two_layer, tmp_path):
    ref, cfg = two_layer[0], copy.deepcopy(two_layer[1])
    for key, value in change.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    write_directory(ref, cfg, tmp_path)
    with pytest.raises(WeightsError, match=message):
        zoo.create(CARD, weights=tmp_path, **TINY)


def test_hugging_face_files_win_over_open_clip_files(two_layer, tmp_path):
    """A laion/ hub repository holds both layouts; the transformers one is read, as before."""
    ref, cfg, _ = two_layer
    write_directory(ref, cfg, tmp_path)
    hf = transformers.CLIPModel(transformers.CLIPConfig(
        projection_dim=512, vision_config=dict(num_hidden_layers=2, patch_size=32, hidden_act="quick_gelu"),
        text_config=dict(num_hidden_layers=2, hidden_act="quick_gelu")))
    hf.save_pretrained(tmp_path)
    ours = zoo.create(CARD, weights=tmp_path, **TINY)
    assert torch.equal(ours.backbone.text.token_embedding.weight, hf.text_model.embeddings.token_embedding.weight)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "config.json").unlink()
    ours = zoo.create(CARD, weights=tmp_path, **TINY)
    assert torch.equal(ours.backbone.text.token_embedding.weight, ref.token_embedding.weight)


def test_directory_without_weights_is_an_error(tmp_path):
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip.get_model_config("ViT-B-32")}))
    with pytest.raises(WeightsError, match="open_clip open_clip_config.json but no weights"):
        zoo.create(CARD, weights=tmp_path, **TINY)


# --- the zero-shot classifier against open_clip's ----------------------------------------------
CLASSNAMES = ["cat", "dog", "airplane", "automobile", "bird", "deer", "frog", "horse", "ship", "truck",
              "a very long class name " * 20, "Crème brûlée"]  # 12 classes: two batches of 10
TEMPLATES = ["a photo of a {}.", lambda c: f"a blurry photo of the {c}.", "{}"]


def tokenizer():
    """Our CLIP tokenizer from the vocabulary file open_clip ships (ids padded with 0, as open_clip's)."""
    return zoo.data.load_tokenizer(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz")


@pytest.fixture(scope="module")
def open_clip_classifier(two_layer):
    """open_clip's zero-shot weights [E, C] (its templates all strings or all callables: ours as callables)."""
    templates = [t if callable(t) else t.format for t in TEMPLATES]
    return build_zero_shot_classifier(two_layer[0], tokenizer=open_clip.get_tokenizer("ViT-B-32"),
                                      classnames=CLASSNAMES, templates=templates)


def test_zero_shot_embeddings_equal_open_clip(two_layer, open_clip_classifier):
    model = zoo.create(CARD, weights=two_layer[2], **TINY)
    ours = zoo.zero_shot_embeddings(model, tokenizer(), CLASSNAMES, TEMPLATES)  # [C, E]
    assert ours.shape == (12, 512)
    assert (ours - open_clip_classifier.t()).abs().max() < 1e-5


def test_zero_shot_classifier_logits_equal_open_clip(two_layer, open_clip_classifier):
    ref, weights = two_layer[0], open_clip_classifier
    classifier = zoo.zero_shot_classifier(zoo.create(CARD, weights=two_layer[2], **TINY), tokenizer(), CLASSNAMES,
                                          TEMPLATES)
    images = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        expected = ref.logit_scale.exp() * ref.encode_image(images, normalize=True) @ weights  # [B, C]
        got = classifier.eval()(images)
    assert got.shape == (3, 12)
    assert (got - expected).abs().max() < 1e-4


# --- what the clip family does not read, and one tower alone ----------------------------------
def small_cfg(**vision) -> dict:
    return {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16,
                                            "head_width": 32, **vision},
            "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}


@pytest.mark.parametrize("build, message", [
    (lambda: open_clip.CustomTextCLIP(**small_cfg()), r"a custom text tower \(CustomTextCLIP: text\.\*\)"),
    (lambda: open_clip.CLIP(**small_cfg(attentional_pool=True)), r"attentional pooling \(visual\.attn_pool\*\)"),
    (lambda: open_clip.CLIP(**small_cfg(ls_init_value=0.1)), r"layer scale"),
    (lambda: open_clip.CLIP(**small_cfg(qk_norm=True)), r"custom attention blocks"),
    (lambda: open_clip.CLIP(**small_cfg(no_ln_pre=True)), r"no LayerNorm before its blocks \(no_ln_pre"),
    (lambda: open_clip.CLIP(**{**small_cfg(), "vision_cfg": {"image_size": 64, "layers": (1, 1, 1, 1), "width": 16}}),
     r"a ModifiedResNet image tower"),
])
def test_other_open_clip_models_are_refused_by_name(build, message, tmp_path):
    torch.save(build().state_dict(), tmp_path / "w.pt")
    with pytest.raises(WeightsError, match=message + r".*the clip family .* reads open_clip's CLIP class"):
        zoo.create(CARD, weights=tmp_path / "w.pt", **TINY)


def test_a_checkpoint_of_another_depth_is_refused(two_layer):
    path = two_layer[2]
    with pytest.raises(WeightsError, match=r"image tower has 2 layers .* but vision_depth=3; .* vision_depth=2"):
        zoo.create(CARD, weights=path, vision_depth=3, text_depth=2)
    with pytest.raises(WeightsError, match=r"text tower has 2 layers .* but text_depth=12"):
        zoo.create(CARD, weights=path, vision_depth=2)


def test_each_tower_alone_loads_from_the_two_tower_checkpoint(two_layer):
    ref, _, path = two_layer
    with pytest.warns(UserWarning, match="no weights for 2 tensors of the image-classification head"):
        classifier = zoo.create(CARD, task="image-classification", num_classes=10, weights=path, **TINY)
    assert classifier.backbone.modality == "image"  # visual.proj, the text tower and logit_scale dropped
    image = zoo.create(CARD, task="feature-extraction", weights=path, **TINY).eval()
    text = zoo.create(CARD, task="feature-extraction", modality="text", weights=path, **TINY).eval()
    images, ids = torch.randn(2, 3, 224, 224), open_clip.tokenize(TEXTS)
    visual = copy.deepcopy(ref.visual)
    visual.output_tokens = True
    with torch.no_grad():
        pooled, tokens = visual(images)
        features = image(images)  # [B, 50, 768] after CLIP's post-LayerNorm
        text_features = text(ids)  # [B, 77, 512] after ln_final
        text_pooled = text_features[torch.arange(3), ids.argmax(dim=1)] @ ref.text_projection
    assert torch.equal(classifier.backbone.cls_token, image.backbone.cls_token)
    assert (features[:, 1:] - tokens).abs().max() < TOL
    assert (features[:, 0] @ ref.visual.proj - pooled).abs().max() < TOL
    assert (text_pooled - ref.encode_text(ids)).abs().max() < TOL


def test_an_image_tower_checkpoint_is_refused_for_both_towers(two_layer, tmp_path):
    ref = two_layer[0]
    torch.save({k: v for k, v in ref.state_dict().items() if k.startswith("visual.")}, tmp_path / "visual.pt")
    torch.save(ref.visual.state_dict(), tmp_path / "bare_visual.pt")  # model.visual saved alone: no visual. prefix
    for name in ("visual.pt", "bare_visual.pt"):
        with pytest.raises(WeightsError, match="only the image tower .* needs both"):
            zoo.create(CARD, weights=tmp_path / name, **TINY)
        tower = zoo.create(CARD, task="feature-extraction", weights=tmp_path / name, **TINY)
        assert torch.equal(tower.backbone.patch_embed.proj.weight, ref.visual.conv1.weight)


def test_logit_bias_and_openai_sizes(tmp_path):
    """A sigmoid-trained CLIP's logit_bias has no place in CLIP's softmax head (a warning; the embeddings load);
    OpenAI's checkpoints carry input_resolution, context_length and vocab_size, checked and dropped."""
    ref, _ = reference("ViT-B-32-quickgelu", layers=2, init_logit_bias=-10.0, nonscalar_logit_scale=True)
    state = {**ref.state_dict(), "input_resolution": torch.tensor(224), "context_length": torch.tensor(77),
             "vocab_size": torch.tensor(49408), "attn_mask": ref.attn_mask}
    torch.save(state, tmp_path / "w.pt")
    with pytest.warns(UserWarning, match=r"not used by the contrastive head .*head\.pairs\.logit_bias"):
        ours = zoo.create(CARD, weights=tmp_path / "w.pt", **TINY)
    images, ids = torch.randn(2, 3, 224, 224), open_clip.tokenize(TEXTS)
    with torch.no_grad():
        assert (ours.encode_image(images) - ref.encode_image(images, normalize=True)).abs().max() < TOL
        assert (ours.encode_text(ids) - ref.encode_text(ids, normalize=True)).abs().max() < TOL
    torch.save({**state, "input_resolution": torch.tensor(336)}, tmp_path / "w336.pt")
    with pytest.raises(WeightsError, match="input_resolution is 336 but img_size=224"):
        zoo.create(CARD, weights=tmp_path / "w336.pt", **TINY)


# --- hub references --------------------------------------------------------------------------
def test_hub_reference_to_an_open_clip_repository(two_layer, hub_cache):
    ref, cfg, _ = two_layer
    write_directory(ref, cfg, hub_cache("laion/tiny-open-clip"))
    ours = zoo.create(CARD, weights="hf-hub:laion/tiny-open-clip", **TINY)
    assert_equal(ref, ours)


@pytest.mark.parametrize("files, fetched", [
    (["config.json", "model.safetensors", "open_clip_config.json", "open_clip_model.safetensors",
      "open_clip_pytorch_model.bin"], ["config.json", "model.safetensors"]),
    (["open_clip_config.json", "open_clip_model.safetensors", "open_clip_pytorch_model.bin"],
     ["open_clip_config.json", "open_clip_model.safetensors"]),
    (["open_clip_config.json", "open_clip_pytorch_model.bin"],
     ["open_clip_config.json", "open_clip_pytorch_model.bin"]),
])
def test_hub_fetches_open_clip_files_only_for_repositories_without_others(files, fetched, tmp_path, monkeypatch):
    """Online (simulated): each download takes the files matching its patterns from the repository."""
    import huggingface_hub

    repo, snapshot = tmp_path / "repo", tmp_path / "snapshot"
    repo.mkdir(), snapshot.mkdir()
    for name in files:
        (repo / name).write_text("x")

    def snapshot_download(repo_id, revision=None, allow_patterns=()):
        for file in repo.iterdir():
            if any(fnmatch(file.name, pattern) for pattern in allow_patterns):
                shutil.copy(file, snapshot / file.name)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    from zoo.weights.hub import resolve_hub_reference

    assert sorted(p.name for p in resolve_hub_reference("hf-hub:laion/some-clip").iterdir()) == sorted(fetched)
