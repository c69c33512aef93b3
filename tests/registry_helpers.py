"""Registry-wide test shorthands over the conformance kit's subjects (`zoo.testing`): one source of truth."""
from __future__ import annotations

from zoo import testing


def smoke(name: str, task: str | None = None, batch_size: int = 2, **extra):
    """(model, args, kwargs): card ``name`` on its family's smoke overrides (+ ``extra``) and example inputs."""
    subject = testing.for_card(name, task, **extra)
    model = subject.build()
    args, kwargs = subject.family.example_inputs(model.spec, batch_size)
    return model, args, kwargs


def tasks_for(name: str) -> list[str]:
    """The registered tasks whose modality and architecture fit card ``name``."""
    return testing.for_card(name).tasks()
