"""AST against transformers' ASTForAudioClassification, and its ImageNet-ViT initialisation."""
from __future__ import annotations

import re
import warnings

import pytest
import timm
import torch

import zoo
from zoo.models.ast import crop_or_interpolate, vit_to_ast
from zoo.weights.errors import WeightsError

TOL = 1e-4


def hf_reference(**config):
    from transformers import ASTConfig, ASTForAudioClassification

    model = ASTForAudioClassification(ASTConfig(num_labels=527, **config)).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:  # biases and norms away from 0 / 1
                param.add_(torch.randn_like(param) * 0.2)
    return model


def test_ast_base_matches_transformers(tmp_path):
    reference = hf_reference()
    reference.save_pretrained(tmp_path)
    ours = zoo.create("ast-base", weights=tmp_path).eval()
    values = torch.randn(2, 1024, 128)  # HF: [B, frames, mels]
    with torch.no_grad():
        expected = reference(values).logits
        got = ours(spectrogram=values.transpose(1, 2))  # ours: [B, mels, frames]
    assert got.shape == (2, 527)
    assert (got - expected).abs().max().item() < TOL


def _legacy_names(state):
    """transformers-5 names -> the ViT-style names of the checkpoints on the hub."""
    rules = [(r"\.layers\.(\d+)\.attention\.([qkv])_proj\.",
              lambda m: f".encoder.layer.{m.group(1)}.attention.attention."
                        f"{dict(q='query', k='key', v='value')[m.group(2)]}."),
             (r"\.layers\.(\d+)\.attention\.o_proj\.", r".encoder.layer.\1.attention.output.dense."),
             (r"\.layers\.(\d+)\.mlp\.fc1\.", r".encoder.layer.\1.intermediate.dense."),
             (r"\.layers\.(\d+)\.mlp\.fc2\.", r".encoder.layer.\1.output.dense."),
             (r"\.layers\.(\d+)\.layernorm_", r".encoder.layer.\1.layernorm_")]
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def test_hub_layout_and_headless_model_load(tmp_path):
    reference = hf_reference(num_hidden_layers=2, max_length=128)
    legacy = _legacy_names(reference.state_dict())
    assert "audio_spectrogram_transformer.encoder.layer.1.attention.attention.query.weight" in legacy
    torch.save(legacy, tmp_path / "hub.pth")
    ours = zoo.create("ast-base", depth=2, num_frames=128, weights=tmp_path / "hub.pth").eval()
    values = torch.randn(1, 128, 128)
    with torch.no_grad():
        assert (ours(spectrogram=values.transpose(1, 2)) - reference(values).logits).abs().max() < TOL
        features = reference.audio_spectrogram_transformer(values).last_hidden_state
    with pytest.warns(UserWarning, match="not used by the feature-extraction head"):
        headless = zoo.create("ast-base", task="feature-extraction", depth=2, num_frames=128,
                              weights=tmp_path / "hub.pth").eval()
    with torch.no_grad():
        assert (headless(spectrogram=values.transpose(1, 2)) - features).abs().max() < TOL
    reference.save_pretrained(tmp_path / "hf")
    with pytest.raises(WeightsError, match="max_length=128 but num_frames=1024"):
        zoo.create("ast-base", depth=2, weights=tmp_path / "hf")


def test_waveform_path_masks_and_errors():
    model = zoo.create("ast-base", depth=1, num_frames=100, num_classes=5).eval()
    clip = 0.1 * torch.randn(8000)  # 48 frames
    batch = torch.stack([torch.nn.functional.pad(clip, (0, 4000), value=0.5), 0.1 * torch.randn(12000)])
    mask = torch.ones(2, 12000, dtype=torch.long)
    mask[0, 8000:] = 0
    with torch.no_grad():
        via = model(spectrogram=model.backbone.frontend(clip[None]))
        assert torch.equal(model(clip[None]), via)
        padded = model(batch, attention_mask=mask)
        garbage = batch.clone()
        garbage[0, 8000:] = -0.9
        assert torch.allclose(model(garbage, attention_mask=mask)[0], padded[0], atol=1e-6)
    # 48 and 73 real frames -> the time columns of patches starting on a real frame: ceil(n / 10) of 9
    assert model.feature_mask(batch, attention_mask=mask).sum(dim=1).tolist() == [5, 8]
    with pytest.raises(ValueError, match=r"spectrogram must have 100 frames"):
        model(spectrogram=torch.randn(1, 128, 90))
    with pytest.raises(ValueError, match=r"torchaudio.functional.resample\(waveform, 8000, 16000\)"):
        model(clip[None], sample_rate=8000)
    with pytest.raises(ValueError, match=r"longer than this model takes: at most 16399 samples"):
        model(torch.zeros(1, 16400))


def test_ctc_on_ast_reads_time_columns():
    model = zoo.create("ast-base", task="ctc", depth=1, dim=64, num_heads=2, mlp_dim=128, num_frames=100).eval()
    logits = model(spectrogram=torch.randn(2, 128, 100))
    assert logits.shape == (2, 9, 1 + len(model.spec.vocabulary))  # one step per time column of patches


def timm_vit(name: str, **kwargs) -> torch.nn.Module:
    model = timm.create_model(name, pretrained=False, **kwargs)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
    return model.eval()


@pytest.mark.parametrize("timm_name", ["vit_base_patch16_224", "deit_base_distilled_patch16_224"])
def test_imagenet_vit_initialises_ast(timm_name, tmp_path):
    vit = timm_vit(timm_name, depth=2)
    torch.save(vit.state_dict(), tmp_path / "vit.pth")
    with pytest.warns(UserWarning, match="keep their fresh initialisation"), \
            pytest.warns(UserWarning, match="ImageNet ViT checkpoint: its classifier"):  # timm's norms: eps 1e-6
        model = zoo.create("ast-base", depth=2, layer_norm_eps=1e-6, weights=tmp_path / "vit.pth").eval()
    backbone = model.backbone
    assert torch.allclose(backbone.patch_embed.proj.weight, vit.patch_embed.proj.weight.sum(dim=1, keepdim=True))
    assert torch.equal(backbone.cls_token, vit.cls_token)
    distilled = getattr(vit, "dist_token", None)
    assert torch.equal(backbone.dist_token, distilled if distilled is not None else vit.cls_token)
    # positions: 14 x 14 grid -> 12 x 101: frequency centre-cropped (rows 1..12), time interpolated
    prefix = 2 if distilled is not None else 1
    grid = vit.pos_embed[0, prefix:].T.reshape(768, 14, 14)
    expected = torch.nn.functional.interpolate(grid[None], size=(14, 101), mode="bilinear")[0][:, 1:13]
    assert torch.allclose(backbone.pos_embed.weight[2:].T.reshape(768, 12, 101), expected, atol=1e-6)
    # the blocks are the ViT's: run timm's blocks and norm on our tokens
    spectrogram = torch.randn(1, 128, 1024)
    with torch.no_grad():
        tokens = backbone.patch_embed(spectrogram[:, None])
        tokens = torch.cat([backbone.cls_token, backbone.dist_token, tokens], dim=1) + backbone.pos_embed.weight
        expected_features = vit.norm(vit.blocks(tokens))
        assert (model.forward_features(spectrogram=spectrogram) - expected_features).abs().max() < TOL


def test_crop_or_interpolate_and_mean_channels():
    grid = torch.arange(24.0).reshape(1, 4, 6)
    assert torch.equal(crop_or_interpolate(grid, (2, 4)), grid[:, 1:3, 1:5])
    assert crop_or_interpolate(grid, (8, 10)).shape == (1, 8, 10)
    vit = timm_vit("vit_base_patch16_224", depth=1).state_dict()
    spec = zoo.create("ast-base", depth=1, num_frames=64).spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = vit_to_ast(vit, spec, channels="mean")
    assert torch.allclose(mean["backbone.patch_embed.proj.weight"], vit["patch_embed.proj.weight"].mean(1, keepdim=True))
    with pytest.raises(ValueError, match="'sum' or 'mean'"):
        vit_to_ast(vit, spec, channels="max")


def test_card_params_match_model_and_transformers():
    from transformers import ASTConfig, ASTForAudioClassification

    with torch.device("meta"):
        ours = zoo.create("ast-base")
        reference = ASTForAudioClassification(ASTConfig(num_labels=527))
    count = sum(p.numel() for p in ours.parameters())
    assert count == zoo.info("ast-base")["params"] == sum(p.numel() for p in reference.parameters())
    assert zoo.info("ast-base")["meta"]["sample_rate"] == ours.spec.sample_rate == 16000
