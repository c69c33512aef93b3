"""skip_init: construction without torch.nn.init, restored afterwards (also after an error)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.nn.init import skip_init


def test_skip_init_leaves_tensors_alone_and_restores():
    original = nn.init.trunc_normal_
    marker = torch.full((3, 4), 7.0)
    with skip_init():
        assert nn.init.trunc_normal_(marker, std=0.02) is marker and torch.equal(marker, torch.full((3, 4), 7.0))
        nn.init.zeros_(marker)
        assert (marker == 7).all()
    assert nn.init.trunc_normal_ is original
    nn.init.zeros_(marker)
    assert (marker == 0).all()
    with pytest.raises(RuntimeError), skip_init():
        raise RuntimeError("boom")
    assert nn.init.trunc_normal_ is original


def test_weights_skip_the_backbone_init_but_not_the_head(monkeypatch, tmp_path):
    """zoo.create(weights=...) builds the backbone without init (the checkpoint fills it); a head the
    checkpoint lacks is still initialised."""
    import zoo

    source = zoo.create("vit-tiny", task="feature-extraction", img_size=32, depth=2)
    zoo.save(source, tmp_path)
    calls = []
    real = nn.init.trunc_normal_
    monkeypatch.setattr(nn.init, "trunc_normal_", lambda t, *a, **k: calls.append(tuple(t.shape)) or real(t, *a, **k))
    with pytest.warns(UserWarning, match="no weights for 2 tensors of the image-classification head"):
        model = zoo.create("vit-tiny", weights=tmp_path, num_classes=5, img_size=32, depth=2)
    assert calls == [(5, 192)]  # the fresh classifier only
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
