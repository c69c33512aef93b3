"""The ctc task: greedy decoding, the loss with padding, and a tiny model that learns to transcribe tones."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.tasks.ctc import CTCHead

SR = 16000
TONES = {"a": 500.0, "b": 2500.0}  # each character is a 120 ms tone; 60 ms of silence between characters


def synthesize(text: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    tone, gap = int(0.12 * SR), int(0.06 * SR)
    t = torch.arange(tone) / SR
    parts = [torch.zeros(int(0.05 * SR))]
    for char in text:
        parts += [0.5 * torch.sin(2 * math.pi * TONES[char] * t), torch.zeros(gap)]
    clip = torch.cat(parts + [torch.zeros(int(0.05 * SR))])
    return clip + 0.01 * torch.randn(clip.shape, generator=gen)


def padded_batch(texts, seed=0):
    clips = [synthesize(text, seed + i) for i, text in enumerate(texts)]
    longest = max(c.numel() for c in clips)
    waveform = torch.stack([F.pad(c, (0, longest - c.numel())) for c in clips])
    mask = (torch.arange(longest)[None] < torch.tensor([c.numel() for c in clips])[:, None]).long()
    return waveform, mask


def head(vocabulary="ab") -> CTCHead:
    return CTCHead(torch.nn.Identity(), 4, vocabulary)


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    ids = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0, 0, 0]])  # 0 = blank, 1 = a, 2 = b
    logits = F.one_hot(ids, 3).float()
    assert head().decode(logits) == ["aabb", ""]


def test_targets_as_text_or_padded_ids():
    ctc = head()
    ids = ctc.encode(["ab", "b"])
    assert ids.tolist() == [[1, 2], [2, -100]]
    logits = torch.randn(2, 6, 3)
    assert torch.equal(ctc.loss(logits, ["ab", "b"]), ctc.loss(logits, ids))
    with pytest.raises(ValueError, match=r"characters \['c'\] are not in the CTC vocabulary 'ab'"):
        ctc.encode(["abc"])
    with pytest.raises(ValueError, match=r"target ids must be in \[1, 2\] \(0 is the blank\)"):
        ctc.loss(logits, torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="right-padded with -100"):
        ctc.loss(logits, torch.tensor([[-100, 1], [1, 2]]))
    with pytest.raises(ValueError, match="cannot fit in 6 time steps"):
        ctc.loss(logits, ["abababa", "a"])
    with pytest.raises(ValueError, match="vocabulary='...'"):
        ctc.reset_classifier(5)


def test_padded_frames_score_like_a_shorter_clip():
    """Masked frames predict a certain blank: the loss equals F.ctc_loss over the real frames only."""
    ctc = head()
    features = torch.randn(2, 7, 4)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    logits = ctc(features, attention_mask=mask)
    targets = ctc.encode(["ab", "ba"])
    raw = F.log_softmax(ctc.fc(features), dim=-1).transpose(0, 1)
    expected = F.ctc_loss(raw, targets.clamp(min=0), torch.tensor([7, 4]), torch.tensor([2, 2]))
    assert torch.allclose(ctc.loss(logits, targets), expected, atol=1e-6)
    assert ctc.decode(logits)[1] == ctc.decode(ctc.fc(features[1:, :4]))[0]


def test_tiny_whisper_learns_to_transcribe_tones(tmp_path, one_thread):
    texts = ["ab", "ba", "aab", "bba", "abab"]
    torch.manual_seed(0)
    model = zoo.create("whisper-encoder-tiny", task="ctc", vocabulary="ab", n_mels=32, dim=64, depth=2,
                       num_heads=2, mlp_dim=128, max_positions=64)
    waveform, mask = padded_batch(texts)
    spectrogram = model.backbone.frontend(waveform, mask.sum(dim=1))  # computed once; training skips the front end
    frame_mask = model.backbone.frontend.frame_lengths(mask.sum(dim=1), waveform.shape[1])
    frame_mask = (torch.arange(spectrogram.shape[-1])[None] < frame_mask[:, None]).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = model.loss(model(spectrogram=spectrogram, attention_mask=frame_mask), texts)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(waveform, attention_mask=mask)  # now from the waveforms
    assert loss.item() < 0.1 * first
    assert model.head.decode(logits) == texts
    # new clips of the same words, one at a time (no padding)
    fresh = [synthesize(text, seed=100 + i) for i, text in enumerate(texts)]
    with torch.no_grad():
        assert [model.head.decode(model(clip[None]))[0] for clip in fresh] == texts
    # the vocabulary travels with the saved model
    zoo.save(model, tmp_path / "ctc")
    loaded = zoo.load(tmp_path / "ctc").eval()
    assert loaded.head.vocabulary == "ab"
    with torch.no_grad():
        assert loaded.head.decode(loaded(waveform, attention_mask=mask)) == texts


def test_feature_mask_is_the_input_mask_for_text_and_images():
    bert = zoo.create("bert-tiny", depth=1)
    ids, mask = torch.randint(1, 100, (2, 5)), torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])
    assert torch.equal(bert.feature_mask(ids, attention_mask=mask), mask)
    assert zoo.create("vit-tiny", img_size=32, depth=1).feature_mask(torch.randn(1, 3, 32, 32)) is None
