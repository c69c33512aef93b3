"""What several recipes share: where configs live and how a config's model section becomes a model."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.train import ConfigError, ModelConfig

CONFIGS = Path(__file__).resolve().parent / "configs"


def card_meta(name: str) -> dict[str, Any]:
    """The card's meta (mean/std, sample rate, ...), without building the model."""
    import registry

    return dict(registry.get_card(name).meta)


def create_model(model: ModelConfig, task: str, **from_data: Any):
    """`zoo.create` with ``model.spec`` overrides plus what the data fixes (``num_classes``, ``vocab_size``).

    A spec override that contradicts the data is an error. With ``model.weights``, the
    checkpoint is loaded with its own classifier, which is then replaced if the data has a
    different number of classes (fine-tuning). ``model.pretrained`` loads the card's published
    weights, whose head starts fresh where the data needs another one.
    """
    import zoo

    clash = [f"model.spec.{k}={model.spec[k]!r} (the data needs {v!r})" for k, v in from_data.items()
             if k in model.spec and model.spec[k] != v]
    if clash:
        raise ConfigError(f"{', '.join(clash)}; remove the override, the recipe sets it from the data")
    if model.pretrained and model.weights:
        raise ConfigError(f"model.pretrained=true and model.weights={model.weights!r} both choose the starting "
                          "weights; set one of them")
    if not model.weights:
        return zoo.create(model.name, task=task, pretrained=model.pretrained, **{**model.spec, **from_data})
    fixed = {k: v for k, v in from_data.items() if k != "num_classes"}
    created = zoo.create(model.name, task=task, weights=model.weights, **{**model.spec, **fixed})
    classes = from_data.get("num_classes")
    if classes is not None and created.num_classes != classes:
        created.reset_classifier(classes)
    return created
