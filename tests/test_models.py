"""Registry-wide: every built-in card passes the conformance kit (`zoo.testing`) for every task that fits.

These are the same cases a plugin runs over its own cards (docs/plugins.md); each check is
shown to fail on a family broken for it in tests/testing/test_kit_catches.py. Cards whose smoke
specs are the same build the same model: each check runs once per distinct smoke spec and task.
"""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo import testing
from zoo.factory import get_family
from zoo.testing.cases import _smoke_key

CASES = testing.cases(distribution="transformer-zoo")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conformance(case):
    case.run()


def test_every_card_and_every_fitting_task_is_covered():
    """Each card's every fitting task runs every check, on that card or one whose smoke spec is the same."""
    for check in testing.CHECKS:
        covered = {(_smoke_key(c.subject), c.subject.task) for c in CASES if c.check is check}
        for name in zoo.list_models():
            subject = testing.for_card(name)
            tasks = subject.tasks() if check.per_task else [subject.task]
            for task in tasks:
                one = subject.with_task(task) if check.per_task else subject
                if check.applies(one):
                    assert (_smoke_key(one), task) in covered, (name, task, check.name)


def test_waveform_models_compile_with_graph_breaks():
    """``torch.compile(model)`` on waveforms: the front end breaks the graph, the result is unchanged
    (the kit traces audio models on spectrograms)."""
    torch._dynamo.reset()
    family = get_family("whisper")
    model = zoo.create("whisper-encoder-tiny", **family.smoke_spec({})).eval()
    args, kwargs = family.example_inputs(model.spec, 2)
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(*args, **kwargs), model(*args, **kwargs), atol=1e-5, rtol=1e-4)
