"""Shared fixtures: deterministic seeds and a clean catalogue for every test."""
from __future__ import annotations

import pytest
import torch

import registry


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def fresh_catalog():
    """Rediscover plugins before and after a test that changes sys.path or registers in code."""
    registry.CATALOG.refresh()
    yield registry.CATALOG
    registry.CATALOG.refresh()
