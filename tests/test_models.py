"""Registry-wide checks: every card, every fitting task, on its family's tiny smoke config."""
from __future__ import annotations

import pytest
import torch

import zoo
from registry_helpers import smoke, tasks_for

MODELS = zoo.list_models()


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_every_param_learns(name):
    model, args, kwargs = smoke(name)
    out = model(*args, **kwargs)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    out.float().square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"


@pytest.mark.parametrize("name", MODELS)
def test_every_fitting_task_builds_and_runs(name):
    for task in tasks_for(name):
        model, args, kwargs = smoke(name, task=task)
        with torch.no_grad():
            out = model.eval()(*args, **kwargs)
        assert out.shape[0] == 2 and torch.isfinite(out).all(), task


@pytest.mark.parametrize("name", MODELS)
def test_deterministic_and_batch_independent(name):
    torch.manual_seed(1)
    model, args, kwargs = smoke(name)
    torch.manual_seed(1)
    twin, _, _ = smoke(name)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    model.eval()
    with torch.no_grad():
        first, second = model(*args, **kwargs), model(*args, **kwargs)
        alone = model(*(a[:1] for a in args), **{k: v[:1] for k, v in kwargs.items()})
    assert torch.equal(first, second)
    assert torch.allclose(alone, first[:1], atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_default_task_output_shape(name):
    model, args, kwargs = smoke(name)
    if model.task == "image-classification":
        assert model.eval()(*args, **kwargs).shape == (2, model.spec.num_classes)
    features = model.forward_features(*args, **kwargs)
    assert features.dim() == 3 and features.shape[0] == 2 and features.shape[-1] == model.num_features


DECODERS = [n for n in MODELS if zoo.info(n)["architecture"] in ("decoder", "encoder-decoder")]


@pytest.mark.parametrize("name", DECODERS)
def test_decoders_are_causal(name):
    """Changing the last (decoder) token leaves every earlier output unchanged."""
    model, args, kwargs = smoke(name, task="feature-extraction")
    model.eval()
    key = "decoder_input_ids" if zoo.info(name)["architecture"] == "encoder-decoder" else None
    ids = kwargs[key] if key else args[0]
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % model.spec.vocab_size
    with torch.no_grad():
        before = model(*args, **kwargs)
        if key:
            after = model(*args, **{**kwargs, key: changed})
        else:
            after = model(changed, *args[1:], **kwargs)
    assert torch.allclose(before[:, :-1], after[:, :-1], atol=1e-6)
    assert not torch.allclose(before[:, -1], after[:, -1], atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_grad_checkpointing_saves_memory_and_keeps_gradients(name):
    """Checkpointed training keeps fewer activations for backward and gives the same gradients."""
    model, args, kwargs = smoke(name)
    model.train()

    def run() -> tuple[int, dict[str, torch.Tensor]]:
        """(bytes autograd saved during forward, gradients)."""
        saved = []

        def pack(tensor):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)  # the same dropout masks in both runs
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = model(*args, **kwargs).float().square().mean()
        forward_bytes = sum(saved)
        loss.backward()
        return forward_bytes, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain_bytes, plain = run()
    model.set_grad_checkpointing(True)
    checkpointed_bytes, checkpointed = run()
    assert checkpointed_bytes < 0.5 * plain_bytes, (checkpointed_bytes, plain_bytes)
    assert plain.keys() == checkpointed.keys()
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], atol=1e-6, rtol=1e-5, msg=key)


CLASSIFIERS = ("image-classification", "sequence-classification", "token-classification", "audio-classification")


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_then_save_and_load(name, tmp_path):
    """A reset classifier changes the output width, and the new width survives zoo.save / zoo.load."""
    for task in [t for t in tasks_for(name) if t in CLASSIFIERS]:
        model, args, kwargs = smoke(name, task=task)
        model.reset_classifier(7)
        model.eval()
        with torch.no_grad():
            out = model(*args, **kwargs)
        assert out.shape[-1] == 7 and model.spec.num_classes == 7, task
        zoo.save(model, tmp_path / task)
        with torch.no_grad():
            assert torch.equal(zoo.load(tmp_path / task).eval()(*args, **kwargs), out), task
