"""What the registry-wide tests share: a card on its family's tiny smoke config, and the tasks that fit it."""
from __future__ import annotations

import registry
import zoo
from zoo.factory import get_family


def smoke(name: str, task: str | None = None, batch_size: int = 2, **extra):
    """(model, args, kwargs): card ``name`` with its family's smoke overrides (+ ``extra``) and example inputs."""
    family = get_family(zoo.info(name)["family"])
    model = zoo.create(name, task=task, **{**family.smoke_overrides, **extra})
    args, kwargs = family.example_inputs(model.spec, batch_size)
    return model, args, kwargs


def tasks_for(name: str) -> list[str]:
    """The registered tasks whose modality and architecture fit card ``name``."""
    card = zoo.info(name)
    return [t for t in zoo.list_tasks() if registry.get_task(t).fits(card["modality"], card["architecture"])]
