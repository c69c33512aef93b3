"""The built-in model cards: one TOML file per family, registered through ``zoo.cards``."""
from importlib.resources import files

BUILTIN = files(__name__)
