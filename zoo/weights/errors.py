"""Errors raised while reading or loading weights."""


class WeightsError(ValueError):
    """Weights that cannot be read, are in an unknown layout, or do not fit the model."""
