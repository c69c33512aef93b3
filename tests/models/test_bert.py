"""BERT against Hugging Face transformers: HF directories through our key map, same outputs."""
from __future__ import annotations

import pytest
import torch
import transformers

import zoo
from parity_helpers import masked_max_diff, perturbed
from zoo.weights.errors import WeightsError

TOL = 1e-4


def hf_config(**sizes) -> transformers.BertConfig:
    return transformers.BertConfig(**{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
                                      "num_attention_heads": 12, "intermediate_size": 3072, **sizes})


def batch(vocab: int, rows: int = 2, length: int = 16):
    ids = torch.randint(1, vocab, (rows, length))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    types = torch.zeros_like(ids)
    types[:, 8:] = 1
    return ids, mask, types


TINY = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)


@pytest.mark.parametrize("card, sizes", [("bert-base", {}), ("bert-tiny", TINY)])
def test_masked_lm_matches_transformers(card, sizes, tmp_path):
    reference = perturbed(transformers.BertForMaskedLM(hf_config(**sizes)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create(card, weights=tmp_path).eval()
    ids, mask, types = batch(30522)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, attention_mask=mask, token_type_ids=types)
    assert got.shape == expected.shape == (2, 16, 30522)
    assert masked_max_diff(got, expected, mask) < TOL
    assert ours.head.decoder.weight is ours.backbone.token_embedding.weight  # tied


def test_base_model_features_match(tmp_path):
    reference = perturbed(transformers.BertModel(hf_config(**TINY)))
    reference.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="head.pool.dense.weight"):  # the pooler is a classification head here
        ours = zoo.create("bert-tiny", task="feature-extraction", weights=tmp_path).eval()
    ids, mask, types = batch(30522)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        got = ours(ids, attention_mask=mask, token_type_ids=types)
    assert masked_max_diff(got, expected, mask) < TOL


def test_sequence_classification_matches(tmp_path):
    reference = perturbed(transformers.BertForSequenceClassification(hf_config(**TINY, num_labels=3)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("bert-tiny", task="sequence-classification", num_classes=3, weights=tmp_path).eval()
    ids, mask, types = batch(30522)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, attention_mask=mask, token_type_ids=types)
    assert got.shape == (2, 3) and (got - expected).abs().max() < TOL


def test_token_classification_matches(tmp_path):
    reference = perturbed(transformers.BertForTokenClassification(hf_config(**TINY, num_labels=5)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("bert-tiny", task="token-classification", num_classes=5, weights=tmp_path).eval()
    ids, mask, types = batch(30522)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, attention_mask=mask, token_type_ids=types)
    assert masked_max_diff(got, expected, mask) < TOL


def test_fine_tuning_from_base_checkpoint_keeps_pooler(tmp_path):
    reference = perturbed(transformers.BertModel(hf_config(**TINY)))
    reference.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="no weights for 2 tensors of the sequence-classification head"):
        ours = zoo.create("bert-tiny", task="sequence-classification", num_classes=4, weights=tmp_path)
    assert torch.equal(ours.head.pool.dense.weight, reference.pooler.dense.weight)


def test_losses_follow_transformers(tmp_path):
    reference = perturbed(transformers.BertForMaskedLM(hf_config(**TINY)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("bert-tiny", weights=tmp_path).eval()
    ids, mask, _ = batch(30522)
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    labels[0, 7] = ids[0, 7]
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels).loss
        got = ours.loss(ours(ids, attention_mask=mask), labels)
    assert abs(got.item() - expected.item()) < 1e-4


def test_config_mismatch_is_clear(tmp_path):
    transformers.BertForMaskedLM(hf_config(**TINY)).save_pretrained(tmp_path)
    with pytest.raises(WeightsError, match="hidden_size=128 but dim=256.*Pick the matching card"):
        zoo.create("bert-mini", weights=tmp_path)


@pytest.mark.parametrize("bad, message", [
    (dict(input_ids=torch.randint(0, 97, (1, 40))), "sequence of 40 positions is longer than the 32"),
    (dict(input_ids=torch.tensor([[1, 2, 97]])), r"token ids must be in \[0, 97\)"),
    (dict(input_ids=torch.tensor([[1, 2, 3]]), attention_mask=torch.ones(1, 4)),
     r"attention_mask must have the shape of the token ids \[1, 3\]"),
    (dict(input_ids=torch.tensor([1, 2, 3])), r"input_ids must be \[batch, seq_len\]"),
])
def test_bad_inputs_are_clear(bad, message):
    model = zoo.create("bert-tiny", vocab_size=97, max_positions=32, depth=1)
    ids = bad.pop("input_ids")
    with pytest.raises(ValueError, match=message):
        model(ids, **bad)
