"""transformer-zoo's conformance kit over this plugin: the guarantees every built-in model keeps.

    pip install -e ".[dev]" && python -m pytest
"""
import pytest

from zoo import testing


@pytest.mark.parametrize("case", testing.cases(distribution="zoo-plugin-example"), ids=str)
def test_every_card(case):
    """simple-vit-tiny and -small, every task that fits an image encoder (image-regression included)."""
    case.run()


def test_the_task_serves_a_built_in_family_too():
    testing.check_task("image-regression", card="vit-tiny")
