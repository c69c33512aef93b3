"""What several recipes share: where configs live and how a config's model section becomes a model."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.train import ConfigError, ModelConfig

CONFIGS = Path(__file__).resolve().parent / "configs"
SET_BY = {"img_size": "data.image_size", "vocabulary": "data.vocabulary"}  # spec fields a data key sets


def card_meta(name: str) -> dict[str, Any]:
    """The card's meta (mean/std, sample rate, ...), without building the model."""
    import registry

    return dict(registry.get_card(name).meta)


def check_model(model: ModelConfig, task: str) -> None:
    """``model.name`` must be a card that can carry ``task``: checked from the registry, nothing is built."""
    import registry

    card = registry.get_card(model.name)  # an unknown name suggests the near ones
    fitting = registry.list_models(task=task)
    if card.name not in fitting:
        kind = f"{card.modality} {card.architecture}"
        raise ConfigError(f"model.name={model.name!r} is {'an' if kind[0] in 'aeiou' else 'a'} {kind}, which cannot "
                          f"be trained for this recipe's task {task!r}; models that fit: {', '.join(fitting)}")


def _what_sets(key: str) -> str:
    return f"set {SET_BY[key]} instead" if key in SET_BY else "remove the override, the recipe sets it from the data"


def _saved_spec(weights: str) -> dict[str, Any]:
    """The spec of a `zoo.save` directory (its config.json, no tensors read); {} for other weights."""
    from zoo.weights.saved import is_zoo_directory, read_config

    path = Path(weights).expanduser()
    return dict(read_config(path).get("spec", {})) if path.is_dir() and is_zoo_directory(path) else {}


def _check_weights_fit(model: ModelConfig, saved: dict[str, Any], fixed: dict[str, Any]) -> None:
    """Saved zoo weights whose spec disagrees with what the data fixes (e.g. another image size) fail here,
    in one line, instead of in strict loading."""
    clash = [(k, saved[k], v) for k, v in fixed.items() if k in saved and saved[k] != v]
    if clash:
        key, was, needs = clash[0]
        fix = f"set {SET_BY[key]}={was}" if key in SET_BY else "start from weights made for this data"
        raise ConfigError(f"model.weights={model.weights!r} was saved with {key}={was!r}, but the data needs "
                          f"{needs!r}; {fix}")


def create_model(model: ModelConfig, task: str, **from_data: Any):
    """`zoo.create` with ``model.spec`` overrides plus what the data fixes (``num_classes``, ``vocab_size``,
    ``img_size``, ...).

    A spec override that contradicts the data is an error. With ``model.weights``, the
    checkpoint is loaded with its own classifier (a `zoo.save` directory's ``num_classes``),
    which is then replaced if the data has a different number of classes (fine-tuning).
    ``model.pretrained`` loads the card's published weights, whose head starts fresh where the
    data needs another one (and whose ViT position embeddings are resampled to the data's image
    size, as timm does).
    """
    import zoo

    check_model(model, task)
    clash = {k: v for k, v in from_data.items() if k in model.spec and model.spec[k] != v}
    if clash:
        overrides = ", ".join(f"model.spec.{k}={model.spec[k]!r} (the data needs {v!r})" for k, v in clash.items())
        raise ConfigError(f"{overrides}; {'; '.join(dict.fromkeys(_what_sets(k) for k in clash))}")
    if model.pretrained and model.weights:
        raise ConfigError(f"model.pretrained=true and model.weights={model.weights!r} both choose the starting "
                          "weights; set one of them")
    if not model.weights:
        return zoo.create(model.name, task=task, pretrained=model.pretrained, **{**model.spec, **from_data})
    fixed = {k: v for k, v in from_data.items() if k != "num_classes"}
    saved = _saved_spec(model.weights)
    _check_weights_fit(model, saved, fixed)
    own_head = {"num_classes": saved["num_classes"]} if "num_classes" in saved and "num_classes" in from_data else {}
    created = zoo.create(model.name, task=task, weights=model.weights, **{**model.spec, **fixed, **own_head})
    classes = from_data.get("num_classes")
    if classes is not None and created.num_classes != classes:
        created.reset_classifier(classes)
    return created
