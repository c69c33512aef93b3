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


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty, offline Hugging Face hub cache; returns ``snapshot(repo_id, branch, commit)``,
    which makes that repository's snapshot folder (refs/<branch> -> snapshots/<commit>) to fill."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def snapshot(repo_id: str, branch: str = "main", commit: str = "0123456789abcdef0123456789abcdef01234567"):
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / branch).write_text(commit)
        folder = repo / "snapshots" / commit
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    return snapshot
