"""Every built-in head's example_batch, unit by unit: deterministic, labels in each task's format
(``label_format``), padding skipped. That the model takes the inputs and its loss the targets, and
``forward_head(forward_features(x)) == forward(x)``, are kit checks (forward_backward, interface) in
tests/test_models.py."""
from __future__ import annotations

import pytest
import torch

import registry
import zoo
from registry_helpers import smoke
from zoo import testing
from zoo.models.text import shift_right


# one card per distinct smoke spec and fitting task, as the kit's traced cases pick them
CASES = [(c.subject.card, c.subject.task) for c in testing.cases(distribution="transformer-zoo", checks=["export"])]
BUILTIN_TASKS = [t for t in zoo.list_tasks() if registry.get_task(t).head.startswith("zoo.tasks.")]


def example(name: str, task: str, seed: int = 0):
    """(model, inputs, extras, targets): the card's smoke model and the head's example batch, from ``seed``."""
    torch.manual_seed(seed)
    model, args, kwargs = smoke(name, task=task)
    return (model, *model.head.example_batch(args, kwargs))


def test_every_builtin_task_is_covered():
    assert sorted({task for _, task in CASES}) == sorted(BUILTIN_TASKS)


@pytest.mark.parametrize("name, task", CASES)
def test_example_batch_is_deterministic_given_the_seed(name, task):
    _, *first = example(name, task, seed=3)
    _, *second = example(name, task, seed=3)
    flat = [torch.utils._pytree.tree_flatten(batch)[0] for batch in (first, second)]
    assert len(flat[0]) == len(flat[1])
    assert all(torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b for a, b in zip(*flat))


@pytest.mark.parametrize("task", BUILTIN_TASKS)
def test_every_head_says_what_its_labels_look_like(task):
    name = zoo.list_models(task=task)[0]
    head = smoke(name, task=task)[0].head
    assert isinstance(type(head).label_format, str) and len(type(head).label_format) > 10
    assert callable(head.example_batch)


def _padding(mask: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(labels, dtype=torch.bool) if mask is None else mask == 0


@pytest.mark.parametrize("name, task", [(n, t) for n, t in CASES if t in
                                        ("token-classification", "causal-lm", "masked-lm", "seq2seq-lm")])
def test_token_labels_skip_padding(name, task):
    """Token-level labels are -100 exactly where the (decoder) mask marks padding, and real ids elsewhere
    (masked LM: at a few real positions, at least one per row)."""
    model, inputs, extras, labels = example(name, task)
    decoder = "decoder_input_ids" in extras
    ids = extras["decoder_input_ids"] if decoder else inputs[0]
    padding = _padding(extras.get("decoder_attention_mask" if decoder else "attention_mask"), labels)
    assert labels.shape == ids.shape and (labels[padding] == -100).all()
    if task == "masked-lm":
        scored = labels != -100
        assert scored.any(dim=1).all() and scored.sum() < (~padding).sum()
        assert torch.equal(labels[scored], ids[scored])
    else:
        assert (labels[~padding] >= 0).all()
    if task == "causal-lm":
        assert torch.equal(labels[~padding], ids[~padding])
    if task == "seq2seq-lm":  # teacher forcing: the decoder inputs are the labels shifted right
        assert torch.equal(shift_right(labels, int(ids[0, 0]), model.backbone.pad_token_id), ids)


@pytest.mark.parametrize("name", [n for n, t in CASES if t == "multiple-choice"])
def test_multiple_choice_examples_stack_the_family_rows(name):
    """[B, T] family inputs -> [B, 3, T]: choice c of row b is row (b + c) % B; targets in [0, 3)."""
    torch.manual_seed(0)
    model, args, kwargs = smoke(name, task="multiple-choice")
    inputs, extras, targets = model.head.example_batch(args, kwargs)
    assert inputs[0].shape == (2, 3, args[0].shape[1])
    assert torch.equal(inputs[0][1, 1], args[0][0])
    assert torch.equal(extras["attention_mask"][0, 1], kwargs["attention_mask"][1])
    assert extras.keys() == kwargs.keys() and all(v.shape[:2] == (2, 3) for v in extras.values())
    assert targets.shape == (2,) and targets.dtype == torch.long and ((targets >= 0) & (targets < 3)).all()


@pytest.mark.parametrize("name, task", [(n, t) for n, t in CASES if t == "ctc"])
def test_ctc_example_targets_fit_every_clip(name, task):
    """Two different characters per clip: no repeat needs a blank, and each clip has the time steps for them."""
    model, inputs, extras, targets = example(name, task)
    assert targets.shape == (2, 2) and (targets >= 1).all() and (targets < model.head.num_classes).all()
    assert (targets[:, 0] != targets[:, 1]).all()
    assert (model.feature_mask(*inputs, **extras).sum(dim=1) >= 2).all()
