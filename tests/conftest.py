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


@pytest.fixture
def one_thread():
    """Run on one thread: tensors this small go faster without threading overhead or contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
