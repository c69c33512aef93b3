"""LLaMA-shaped decoder against Hugging Face's LlamaForCausalLM: key map, logits, GQA, rotary and generation."""
from __future__ import annotations

import pytest
import torch
import transformers

import zoo
from parity_helpers import masked_max_diff, perturbed
from zoo.factory import get_family
from zoo.weights.errors import WeightsError

TOL = 1e-4
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=96, vocab_size=1000, max_position_embeddings=128)
OURS_TINY = dict(dim=64, depth=2, num_heads=4, num_kv_heads=2, mlp_dim=96, vocab_size=1000, max_positions=128)


def hf_config(**sizes) -> transformers.LlamaConfig:
    # no bos/eos: the reference must not stop early unless a test sets an EOS in both
    return transformers.LlamaConfig(**{"bos_token_id": None, "eos_token_id": None, "pad_token_id": 0, **sizes})


def right_padded(vocab: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, vocab, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(reference LlamaForCausalLM, ours) sharing random weights, tiny, grouped-query attention."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("llama-tiny")
    reference = perturbed(transformers.LlamaForCausalLM(hf_config(**TINY)))
    reference.save_pretrained(path)
    return reference, zoo.create("llama-tiny", weights=path, **OURS_TINY).eval()


def test_lm_logits_match_transformers(tiny):
    reference, ours = tiny
    ids, mask = right_padded()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, attention_mask=mask)
    assert got.shape == expected.shape == (2, 16, 1000)
    assert masked_max_diff(got, expected, mask) < TOL
    assert ours.head.decoder.weight is not ours.backbone.token_embedding.weight  # untied


def test_card_shape_matches_transformers(tmp_path):
    """The llama-tiny card at its own size, through the key map."""
    sizes = dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                 intermediate_size=1376, vocab_size=32000, max_position_embeddings=2048)
    reference = perturbed(transformers.LlamaForCausalLM(hf_config(**sizes)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("llama-tiny", weights=tmp_path).eval()
    ids, mask = right_padded(32000)
    with torch.no_grad():
        assert masked_max_diff(ours(ids, attention_mask=mask), reference(ids, attention_mask=mask).logits, mask) < TOL


def test_card_declares_its_parameter_count():
    with torch.device("meta"):
        model = zoo.create("llama-tiny")
    assert sum(p.numel() for p in model.parameters()) == zoo.info("llama-tiny")["params"]


def test_greedy_generation_matches_transformers(tiny):
    reference, ours = tiny
    prompt = torch.randint(1, 1000, (1, 7))
    ids = torch.randint(1, 1000, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    mask[2, :9] = 0
    ids = ids.masked_fill(mask == 0, 0)
    with torch.no_grad():
        single = reference.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=32, do_sample=False)
        batch = reference.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=False)
    assert single.shape == (1, 7 + 32) and batch.shape == (3, 12 + 32)
    assert torch.equal(ours.generate(prompt, max_new_tokens=32), single)
    assert torch.equal(ours.generate(ids, attention_mask=mask, max_new_tokens=32), batch)


def test_causal_lm_loss_matches_transformers(tiny):
    reference, ours = tiny
    ids, mask = right_padded()
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels).loss
        got = ours.loss(ours(ids, attention_mask=mask), labels)
    assert abs(got.item() - expected.item()) < 1e-5


def test_tied_multi_head_variant_matches(tmp_path):
    sizes = {**TINY, "num_key_value_heads": 4, "tie_word_embeddings": True}
    reference = perturbed(transformers.LlamaForCausalLM(hf_config(**sizes)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("llama-tiny", weights=tmp_path, **{**OURS_TINY, "num_kv_heads": None,
                                                         "tie_embeddings": True}).eval()
    assert ours.head.decoder.weight is ours.backbone.token_embedding.weight
    ids, mask = right_padded()
    with torch.no_grad():
        assert masked_max_diff(ours(ids, attention_mask=mask), reference(ids, attention_mask=mask).logits, mask) < TOL


def test_sequence_classification_matches(tmp_path):
    reference = perturbed(transformers.LlamaForSequenceClassification(hf_config(**TINY, num_labels=3)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("llama-tiny", task="sequence-classification", num_classes=3, weights=tmp_path,
                      **OURS_TINY).eval()
    ids, mask = right_padded()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, attention_mask=mask)
    assert (got - expected).abs().max() < TOL


@pytest.mark.parametrize("changes, message", [
    (dict(num_key_value_heads=1), "num_key_value_heads=1 but kv_heads=2"),
    (dict(rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}),
     "rope_type='linear', the llama family needs 'default'"),
    (dict(rope_parameters={"rope_type": "default", "rope_theta": 500000.0}),
     "rope_theta=500000.0 but rope_base=10000.0"),
    (dict(attention_bias=True), "attention_bias=True, the llama family needs False"),
])
def test_config_mismatch_is_clear(changes, message, tmp_path):
    transformers.LlamaForCausalLM(hf_config(**{**TINY, **changes})).save_pretrained(tmp_path)
    with pytest.raises(WeightsError, match=message):
        zoo.create("llama-tiny", weights=tmp_path, **OURS_TINY)


def test_transformers_4_config_layout_is_checked():
    """Older configs keep rope_theta at the top level and rope_scaling null."""
    check = get_family("llama").key_maps[0].check_config
    spec = zoo.create("llama-tiny", **OURS_TINY).spec
    config = {"model_type": "llama", "hidden_size": 64, "num_key_value_heads": 2, "rope_theta": 10000.0,
              "rope_scaling": None, "hidden_act": "silu"}
    check(config, spec)
    with pytest.raises(WeightsError, match="rope_theta=500000.0 but rope_base=10000.0"):
        check({**config, "rope_theta": 500000.0}, spec)
    with pytest.raises(WeightsError, match="rope_type='llama3'"):
        check({**config, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, spec)


def test_spec_errors_are_clear():
    with pytest.raises(ValueError, match=r"num_heads \(4\) must be a multiple of num_kv_heads \(3\)"):
        zoo.create("llama-tiny", **{**OURS_TINY, "num_kv_heads": 3})
    with pytest.raises(ValueError, match="num_kv_heads must be positive"):
        zoo.create("llama-tiny", **{**OURS_TINY, "num_kv_heads": 0})
