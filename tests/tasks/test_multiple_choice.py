"""The multiple-choice task: parity with transformers, the [batch, choices, seq_len] layout, masks, the loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import transformers
from torch.export import Dim

import zoo
from parity_helpers import perturbed

BERT_TINY = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
GPT2_TINY = dict(n_embd=64, n_layer=2, n_head=4, n_positions=64, vocab_size=1000)
OURS_GPT2_TINY = dict(dim=64, depth=2, num_heads=4, max_positions=64, vocab_size=1000)
SMOKE = dict(vocab_size=97, dim=32, depth=2, num_heads=2, max_positions=32)


def choices(vocab: int, rows: int = 2, num_choices: int = 4, length: int = 16):
    """(ids, mask, token types), each [rows, choices, length]; some choices right-padded (pad id 0)."""
    ids = torch.randint(1, vocab, (rows, num_choices, length))
    mask = torch.ones_like(ids)
    mask[-1, 1, 10:] = 0
    mask[0, -1, 5:] = 0
    types = torch.zeros_like(ids)
    types[..., 8:] = 1
    return ids.masked_fill(mask == 0, 0), mask, types


def bert_pair(tmp_path, sizes: dict):
    """(BertForMultipleChoice with random weights, ours loaded from its directory)."""
    config = transformers.BertConfig(**{"vocab_size": 30522, **sizes})
    reference = perturbed(transformers.BertForMultipleChoice(config))
    reference.save_pretrained(tmp_path)
    card = "bert-base" if not sizes else "bert-tiny"
    return reference, zoo.create(card, task="multiple-choice", weights=tmp_path).eval()


@pytest.mark.parametrize("sizes, rows", [(BERT_TINY, 2), ({}, 1)], ids=["bert-tiny", "bert-base"])
def test_matches_bert_for_multiple_choice(sizes, rows, tmp_path):
    torch.manual_seed(0)
    reference, ours = bert_pair(tmp_path, sizes)
    ids, mask, types = choices(30522, rows=rows, num_choices=3 if rows == 1 else 4)
    labels = torch.arange(rows) % ids.shape[1]
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
        got = ours(ids, attention_mask=mask, token_type_ids=types)
        loss = ours.loss(got, labels)
    assert got.shape == expected.logits.shape == ids.shape[:2]
    assert (got - expected.logits).abs().max() < 1e-5
    assert abs(loss.item() - expected.loss.item()) < 1e-4


def test_decoder_scores_the_last_real_token_of_each_choice(tmp_path):
    """gpt2: each choice scores as GPT2ForSequenceClassification (num_labels=1) scores it alone: its last real token."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(bos_token_id=None, eos_token_id=None, pad_token_id=0, num_labels=1, **GPT2_TINY)
    reference = perturbed(transformers.GPT2ForSequenceClassification(config))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("gpt2", task="multiple-choice", weights=tmp_path, **OURS_GPT2_TINY).eval()
    ids, mask, _ = choices(1000, rows=2, num_choices=3)
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        expected = reference(input_ids=ids.flatten(0, 1), attention_mask=mask.flatten(0, 1)).logits.view(2, 3)
        got = ours(ids, attention_mask=mask)
        unmasked = ours(ids)  # without the mask the padded choices score their last (padding) token
    assert got.shape == (2, 3) and (got - expected).abs().max() < 1e-5
    assert abs(ours.loss(got, labels).item() - F.cross_entropy(expected, labels).item()) < 1e-5
    padded = mask.sum(dim=-1) < mask.shape[-1]  # [2, 3]
    assert torch.equal(got[~padded], unmasked[~padded]) and not torch.allclose(got[padded], unmasked[padded])


def test_features_and_mask_keep_the_choices():
    """forward_features -> [B, C, T, D], feature_mask -> [B, C, T]; forward_head of them equals forward."""
    model = zoo.create("bert-tiny", task="multiple-choice", **SMOKE).eval()
    ids, mask, types = choices(97, rows=2, num_choices=3, length=10)
    with torch.no_grad():
        scores = model(ids, attention_mask=mask, token_type_ids=types)
        features = model.forward_features(ids, attention_mask=mask, token_type_ids=types)
        feature_mask = model.feature_mask(ids, attention_mask=mask, token_type_ids=types)
        pooled = model.forward_head(features, pre_logits=True, attention_mask=feature_mask)
        again = model.forward_head(features, attention_mask=feature_mask)
    assert scores.shape == (2, 3) and features.shape == (2, 3, 10, 32) and pooled.shape == (2, 3, 32)
    assert torch.equal(feature_mask, mask)
    assert torch.equal(again, scores)
    assert torch.equal(model.head.fc(pooled).squeeze(-1), scores)


def test_each_choice_is_scored_on_its_own():
    """A question's scores do not depend on the other questions, nor the order of its choices."""
    model = zoo.create("gpt2", task="multiple-choice", **SMOKE).eval()
    ids, mask, _ = choices(97, rows=2, num_choices=3, length=10)
    order = torch.tensor([2, 0, 1])
    with torch.no_grad():
        scores = model(ids, attention_mask=mask)
        first = model(ids[:1], attention_mask=mask[:1])
        shuffled = model(ids[:, order], attention_mask=mask[:, order])
    torch.testing.assert_close(first, scores[:1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(shuffled, scores[:, order], atol=1e-5, rtol=1e-4)


def test_an_all_padding_choice_is_absent():
    """Questions with fewer choices pad whole choices (mask 0): they score the minimum and take no probability."""
    model = zoo.create("gpt2", task="multiple-choice", **SMOKE).eval()
    ids, mask, _ = choices(97, rows=2, num_choices=3, length=10)
    mask[1, 2] = 0  # question 1 has two choices
    labels = torch.tensor([0, 1])
    with torch.no_grad():
        scores = model(ids, attention_mask=mask)
        two = model(ids[1:, :2], attention_mask=mask[1:, :2])
        loss = model.loss(scores, labels)
    assert scores[1, 2] == torch.finfo(scores.dtype).min and scores[:, :2].gt(-1e4).all()
    assert torch.equal(scores[1:, :2], two)
    assert scores.softmax(-1)[1, 2] == 0 and torch.isfinite(loss)
    expected = (F.cross_entropy(scores[:1], labels[:1]) + F.cross_entropy(two, labels[1:])) / 2
    torch.testing.assert_close(loss, expected)


def test_loss_is_cross_entropy_over_the_choices():
    model = zoo.create("bert-tiny", task="multiple-choice", **SMOKE)
    scores = torch.randn(2, 4)
    targets = torch.tensor([3, 1])
    assert torch.equal(model.loss(scores, targets), F.cross_entropy(scores, targets))
    soft = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    assert torch.equal(model.loss(scores, soft), F.cross_entropy(scores, soft))
    with pytest.raises(ValueError, match=r"targets must be in \[0, 3\] or -100 \(ignored\); got \[4\]"):
        model.loss(scores, torch.tensor([4, 0]))
    with pytest.raises(ValueError, match=r"targets must be choice ids \[batch=2\] or choice probabilities \[2, 4\]"):
        model.loss(scores, torch.tensor([[1], [0]]))
    with pytest.raises(ValueError, match=r"scores must be \[batch, choices\] \(the model's output\), got shape \[8\]"):
        model.loss(scores.flatten(), targets)


@pytest.mark.parametrize("call, message", [
    (lambda m, ids, mask: m(ids[:, 0], attention_mask=mask[:, 0]),
     r"multiple-choice input_ids must be \[batch, choices, seq_len\] \(one sequence per choice.*got shape \[2, 10\]"),
    (lambda m, ids, mask: m(ids, attention_mask=mask[:, :2]),
     r"multiple-choice attention_mask must be \[batch, choices, seq_len\] with \[batch, choices\] = \[2, 3\]"),
    (lambda m, ids, mask: m(ids.float(), attention_mask=mask), r"input_ids must be an integer tensor"),
    (lambda m, ids, mask: m(ids.tolist()), r"input_ids must be a torch.Tensor \[batch, choices, seq_len\]"),
    (lambda m, ids, mask: m.forward_head(m.forward_features(ids), attention_mask=mask[:, :2]),
     r"the multiple-choice mask must be \[2, 3, 10\]"),
])
def test_bad_inputs_are_clear(call, message):
    model = zoo.create("bert-tiny", task="multiple-choice", **SMOKE)
    ids, mask, _ = choices(97, rows=2, num_choices=3, length=10)
    with pytest.raises((ValueError, TypeError), match=message):
        call(model, ids, mask)


def test_no_classes_to_reset_and_save_load(tmp_path):
    model = zoo.create("bert-tiny", task="multiple-choice", **SMOKE).eval()
    assert model.num_classes == 0
    with pytest.raises(ValueError, match=r"no classes to reset \(the number of choices comes from the inputs"):
        model.reset_classifier(4)
    zoo.save(model, tmp_path)
    ids, mask, types = choices(97, rows=2, num_choices=3, length=10)
    with torch.no_grad():
        assert torch.equal(zoo.load(tmp_path).eval()(ids, attention_mask=mask), model(ids, attention_mask=mask))


@pytest.mark.parametrize("name", ["bert-tiny", "gpt2"])
def test_compiles_and_exports_with_dynamic_batch_choices_and_length(name):
    """One fullgraph compile; one export (strict) serves other batch sizes, numbers of choices and lengths."""
    torch._dynamo.reset()
    model = zoo.create(name, task="multiple-choice", **SMOKE).eval()
    ids, mask, _ = choices(97, rows=3, num_choices=4, length=12)
    with torch.no_grad():
        eager = model(ids, attention_mask=mask)
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(ids, attention_mask=mask), eager)
    dims = {0: Dim("batch", min=1, max=16), 1: Dim("choices", min=1, max=8), 2: Dim("seq", min=1, max=32)}
    exported = torch.export.export(model, (ids,), {"attention_mask": mask}, strict=True,
                                   dynamic_shapes={"inputs": (dims,), "extras": {"attention_mask": dims}})
    for rows, num_choices, length in ((3, 4, 12), (1, 2, 5), (2, 3, 9)):
        small_ids, small_mask = ids[:rows, :num_choices, :length], mask[:rows, :num_choices, :length]
        with torch.no_grad():
            torch.testing.assert_close(exported.module()(small_ids, attention_mask=small_mask),
                                       model(small_ids, attention_mask=small_mask), atol=1e-5, rtol=1e-4)
