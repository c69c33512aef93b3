"""Padding batches of token ids and waveforms, with attention masks."""
from __future__ import annotations

import pytest
import torch

from zoo.data.collate import pad_token_ids, pad_waveforms


def test_pad_token_ids_right_and_left():
    ids, mask = pad_token_ids([[5, 6, 7], [8], torch.tensor([9, 10])], pad_id=0)
    assert ids.dtype == mask.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    ids, mask = pad_token_ids([[5, 6, 7], [8]], pad_id=256, side="left")
    assert ids.tolist() == [[5, 6, 7], [256, 256, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_pad_token_ids_empty_sequence_and_errors():
    ids, mask = pad_token_ids([[], [1]], pad_id=3)
    assert ids.tolist() == [[3], [1]] and mask.tolist() == [[0], [1]]
    with pytest.raises(ValueError, match="empty list"):
        pad_token_ids([], pad_id=0)
    with pytest.raises(ValueError, match="side must be 'right' or 'left'"):
        pad_token_ids([[1]], pad_id=0, side="middle")
    with pytest.raises(ValueError, match="item 1 must be 1-D"):
        pad_token_ids([[1], [[1, 2]]], pad_id=0)
    with pytest.raises(ValueError, match="item 0 has dtype torch.float32"):
        pad_token_ids([torch.tensor([1.5])], pad_id=0)


def test_pad_waveforms():
    waves, mask = pad_waveforms([torch.ones(4), torch.full((2,), 0.5)])
    assert waves.dtype == torch.float32 and mask.dtype == torch.long
    assert waves.tolist() == [[1, 1, 1, 1], [0.5, 0.5, 0, 0]] and mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    waves, _ = pad_waveforms([torch.ones(1, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bfloat16)])
    assert waves.dtype == torch.bfloat16
    waves, mask = pad_waveforms([torch.ones(1), torch.ones(3, dtype=torch.float64)], side="left")
    assert waves.dtype == torch.float64 and mask.tolist() == [[0, 0, 1], [1, 1, 1]]
    with pytest.raises(ValueError, match="waveforms must be floating point"):
        pad_waveforms([torch.ones(2, dtype=torch.int16)])
    with pytest.raises(ValueError, match="item 0 must be 1-D"):
        pad_waveforms([torch.ones(1, 2)])
    with pytest.raises(ValueError, match="empty list"):
        pad_waveforms([])
