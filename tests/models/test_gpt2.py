"""GPT-2 against Hugging Face transformers: HF directories through our key map, same logits and generations."""
from __future__ import annotations

import pytest
import torch
import transformers
from safetensors.torch import save_file

import zoo
from parity_helpers import masked_max_diff, perturbed
from zoo.weights.errors import WeightsError

TOL = 1e-4
TINY = dict(n_embd=64, n_layer=2, n_head=4, n_positions=128, vocab_size=1000)
OURS_TINY = dict(dim=64, depth=2, num_heads=4, max_positions=128, vocab_size=1000)


def hf_config(**sizes) -> transformers.GPT2Config:
    # no bos/eos: the reference must not stop early unless a test sets an EOS in both
    return transformers.GPT2Config(**{"bos_token_id": None, "eos_token_id": None, "pad_token_id": 0, **sizes})


def right_padded(vocab: int, rows: int = 2, length: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, vocab, (rows, length))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    return ids.masked_fill(mask == 0, 0), mask


def left_padded(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, vocab, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    mask[2, :9] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(reference GPT2LMHeadModel, ours) sharing random weights, tiny."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gpt2-tiny")
    reference = perturbed(transformers.GPT2LMHeadModel(hf_config(**TINY)))
    reference.save_pretrained(path)
    return reference, zoo.create("gpt2", weights=path, **OURS_TINY).eval()


@pytest.mark.parametrize("full_size", [True, False], ids=["gpt2", "tiny"])
def test_lm_logits_match_transformers(full_size, tmp_path):
    reference = perturbed(transformers.GPT2LMHeadModel(hf_config(**({} if full_size else TINY))))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("gpt2", weights=tmp_path, **({} if full_size else OURS_TINY)).eval()
    vocab = reference.config.vocab_size
    ids, mask = right_padded(vocab)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, attention_mask=mask)
    assert got.shape == expected.shape == (2, 16, vocab)
    assert masked_max_diff(got, expected, mask) < TOL
    assert ours.head.decoder.weight is ours.backbone.token_embedding.weight  # tied


@pytest.mark.parametrize("name", ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"])
def test_cards_declare_their_parameter_count(name):
    with torch.device("meta"):  # full size, without allocating or initialising weights
        model = zoo.create(name)
    assert sum(p.numel() for p in model.parameters()) == zoo.info(name)["params"]  # the tied head counted once


def test_greedy_generation_matches_transformers(tiny):
    reference, ours = tiny
    prompt = torch.randint(1, 1000, (1, 7))
    ids, mask = left_padded(1000)
    with torch.no_grad():
        single = reference.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=32, do_sample=False)
        batch = reference.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=False)
    assert single.shape == (1, 7 + 32) and batch.shape == (3, 12 + 32)
    assert torch.equal(ours.generate(prompt, max_new_tokens=32), single)
    assert torch.equal(ours.generate(ids, attention_mask=mask, max_new_tokens=32), batch)


def test_eos_stopping_matches_transformers(tiny):
    reference, ours = tiny
    ids, mask = left_padded(1000)
    free = ours.generate(ids, attention_mask=mask, max_new_tokens=24)
    eos = int(free[1, 12 + 3])  # row 1 emits it at its 4th new token
    with torch.no_grad():
        expected = reference.generate(ids, attention_mask=mask, max_new_tokens=24, do_sample=False,
                                      eos_token_id=eos, pad_token_id=5)
    got = ours.generate(ids, attention_mask=mask, max_new_tokens=24, eos_token_id=eos, pad_token_id=5)
    assert torch.equal(got, expected)
    assert (got[1, 12 + 4:] == 5).all()


def test_causal_lm_loss_matches_transformers(tiny):
    reference, ours = tiny
    ids, mask = right_padded(1000)
    labels = ids.masked_fill(mask == 0, -100)
    labels[0, 3] = -100
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels).loss
        got = ours.loss(ours(ids, attention_mask=mask), labels)
    assert abs(got.item() - expected.item()) < 1e-5


def test_base_model_features_match(tmp_path):
    reference = perturbed(transformers.GPT2Model(hf_config(**TINY)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("gpt2", task="feature-extraction", weights=tmp_path, **OURS_TINY).eval()
    ids, mask = right_padded(1000)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(ids, attention_mask=mask)
    assert masked_max_diff(got, expected, mask) < TOL


def test_sequence_classification_pools_the_last_real_token(tmp_path):
    reference = perturbed(transformers.GPT2ForSequenceClassification(hf_config(**TINY, num_labels=3)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("gpt2", task="sequence-classification", num_classes=3, weights=tmp_path, **OURS_TINY).eval()
    ids, mask = right_padded(1000)  # HF finds the last token that is not pad_token_id (0)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, attention_mask=mask)
    assert got.shape == (2, 3) and (got - expected).abs().max() < TOL
    assert torch.equal(ours.head.fc.bias, torch.zeros(3))  # HF's score has no bias


def test_token_classification_matches(tmp_path):
    reference = perturbed(transformers.GPT2ForTokenClassification(hf_config(**TINY, num_labels=5)))
    reference.save_pretrained(tmp_path)
    ours = zoo.create("gpt2", task="token-classification", num_classes=5, weights=tmp_path, **OURS_TINY).eval()
    ids, mask = right_padded(1000)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, attention_mask=mask)
    assert masked_max_diff(got, expected, mask) < TOL


def test_original_checkpoint_layout(tiny, tmp_path):
    """OpenAI-converted files: GPT2Model keys without the ``transformer.`` prefix, plus mask buffers."""
    reference, _ = tiny
    state = {k: v.contiguous() for k, v in reference.transformer.state_dict().items()}
    for i in range(TINY["n_layer"]):
        state[f"h.{i}.attn.bias"] = torch.ones(1, 1, 128, 128).tril()
        state[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(state, tmp_path / "model.safetensors")
    ours = zoo.create("gpt2", weights=tmp_path / "model.safetensors", **OURS_TINY).eval()
    ids, mask = right_padded(1000)
    with torch.no_grad():
        assert masked_max_diff(ours(ids, attention_mask=mask), reference(ids, attention_mask=mask).logits, mask) < TOL


@pytest.mark.parametrize("sizes, message", [
    (dict(n_layer=3), "n_layer=3 but depth=2"),
    (dict(n_inner=96), "n_inner=96 but mlp_dim=256"),
    (dict(activation_function="relu"), "activation_function='relu', the gpt2 family needs 'gelu_new'"),
])
def test_config_mismatch_is_clear(sizes, message, tmp_path):
    transformers.GPT2LMHeadModel(hf_config(**{**TINY, **sizes})).save_pretrained(tmp_path)
    with pytest.raises(WeightsError, match=message):
        zoo.create("gpt2", weights=tmp_path, **OURS_TINY)


def test_explicit_n_inner_matches_default_mlp(tmp_path):
    transformers.GPT2LMHeadModel(hf_config(**TINY, n_inner=256)).save_pretrained(tmp_path)
    assert zoo.create("gpt2", weights=tmp_path, **OURS_TINY).spec.mlp_dim is None  # 4 * 64 either way


@pytest.mark.parametrize("call, message", [
    (lambda m: m.generate(torch.randint(0, 97, (1, 30)), max_new_tokens=3),
     r"33 tokens is longer than this model's max_positions \(32\)"),
    (lambda m: m(torch.randint(0, 97, (1, 40))), "40 positions is longer than the 32"),
    (lambda m: m(torch.randint(0, 97, (1, 40)), attention_mask=torch.ones(1, 40)), r"max_positions \(32\)"),
    (lambda m: m(torch.tensor([[1, 2, 97]])), r"token ids must be in \[0, 97\)"),
    (lambda m: m.generate(torch.tensor([[1, 2, 97]])), r"token ids must be in \[0, 97\)"),
    (lambda m: m(torch.tensor([[1, 2, 3]]), attention_mask=torch.ones(1, 4)),
     r"attention_mask must have the shape of the token ids \[1, 3\]"),
    (lambda m: m.generate(torch.tensor([[1, 2, 3]]), attention_mask=torch.ones(1, 4)),
     r"attention_mask must have the shape of input_ids \[1, 3\]"),
    (lambda m: m(torch.tensor([1, 2, 3])), r"input_ids must be \[batch, seq_len\]"),
])
def test_bad_inputs_are_clear(call, message):
    model = zoo.create("gpt2", vocab_size=97, max_positions=32, depth=1, dim=32, num_heads=2).eval()
    with pytest.raises(ValueError, match=message):
        call(model)


def test_cached_mask_of_wrong_shape_is_clear():
    backbone = zoo.create("gpt2", vocab_size=97, max_positions=32, depth=1, dim=32, num_heads=2).backbone.eval()
    caches = backbone.make_caches(1, 16)
    backbone(torch.tensor([[1, 2, 3]]), caches=caches)
    with pytest.raises(ValueError, match=r"cover the 3 cached and 1 new tokens: shape \[1, 4\], got \[1, 1\]"):
        backbone(torch.tensor([[4]]), attention_mask=torch.ones(1, 1), caches=caches)


@pytest.fixture(scope="module")
def lively(tmp_path_factory):
    """Like `tiny`, but its continuations vary: a random tied GPT-2 otherwise copies one token forever
    (positions scaled up, the final norm's bias zeroed), so beams really diverge and some reach an EOS."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gpt2-lively")
    reference = perturbed(transformers.GPT2LMHeadModel(hf_config(**TINY)))
    with torch.no_grad():
        reference.transformer.ln_f.bias.zero_()
        reference.transformer.wpe.weight.mul_(20.0)
    reference.save_pretrained(path)
    return reference, zoo.create("gpt2", weights=path, **OURS_TINY).eval()


@pytest.mark.parametrize("options", [
    dict(num_beams=4, length_penalty=0.0),  # short hypotheses win
    dict(num_beams=4),  # length_penalty=1.0: a longer one wins row 0
    dict(num_beams=3, num_return_sequences=3, length_penalty=0.6),
    dict(num_beams=4, early_stopping=True, length_penalty=1.4),
])
def test_beam_search_matches_transformers(lively, options):
    """Beam search, left-padded batch: the same hypotheses as transformers' generate(num_beams=...). The EOS is
    a token the search produces early, so hypotheses finish at different lengths, the length penalty decides
    between them, and the search stops before max_new_tokens once no running beam can win."""
    reference, ours = lively
    ids, mask = left_padded(1000)
    free = ours.generate(ids, attention_mask=mask, max_new_tokens=30, num_beams=4)
    assert not torch.equal(free, ours.generate(ids, attention_mask=mask, max_new_tokens=30))  # not greedy's
    eos = int(free[0, 12 + 2])
    with torch.no_grad():
        expected = reference.generate(ids, attention_mask=mask, max_new_tokens=30, do_sample=False, eos_token_id=eos,
                                      pad_token_id=7, **options)
    got = ours.generate(ids, attention_mask=mask, max_new_tokens=30, eos_token_id=eos, pad_token_id=7, **options)
    assert got.shape == expected.shape and got.shape[0] == 3 * options.get("num_return_sequences", 1)
    assert torch.equal(got, expected)
    assert got.shape[1] < 12 + 30 and (got[:, 12:] == eos).any(dim=1).all()  # stopped early; all ended at EOS


def test_beam_search_early_stopping_rows_finish_separately(lively):
    """early_stopping=True: a row whose beams have all finished takes no new hypotheses while other rows run on."""
    reference, ours = lively
    ids, mask = left_padded(1000)
    eos = int(ours.generate(ids, attention_mask=mask, max_new_tokens=30, num_beams=4)[1, 12])
    options = dict(max_new_tokens=30, eos_token_id=eos, pad_token_id=7, num_beams=4, length_penalty=2.0,
                   early_stopping=True)
    with torch.no_grad():
        expected = reference.generate(ids, attention_mask=mask, do_sample=False, **options)
    assert torch.equal(ours.generate(ids, attention_mask=mask, **options), expected)


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("options, with_eos", [
    (dict(repetition_penalty=1.5), True),
    (dict(min_new_tokens=8), True),
    (dict(no_repeat_ngram_size=2), False),
    (dict(repetition_penalty=1.3, no_repeat_ngram_size=3, min_new_tokens=5), True),
])
def test_token_rules_match_transformers(lively, options, with_eos, num_beams):
    """repetition_penalty, no_repeat_ngram_size and min_new_tokens give transformers' tokens (greedy and beam
    search, left-padded prompts), and each changes the result in at least one of the two searches."""
    reference, ours = lively
    ids, mask = left_padded(1000)
    common = dict(max_new_tokens=24, pad_token_id=7, num_beams=num_beams)
    if with_eos:
        common["eos_token_id"] = int(ours.generate(ids, attention_mask=mask, max_new_tokens=30, num_beams=4)[0, 12 + 2])
    with torch.no_grad():
        expected = reference.generate(ids, attention_mask=mask, do_sample=False, **common, **options)
    got = ours.generate(ids, attention_mask=mask, **common, **options)
    assert got.shape == expected.shape and torch.equal(got, expected)
    plain = ours.generate(ids, attention_mask=mask, **common)
    if num_beams == 1 or "repetition_penalty" in options or "min_new_tokens" in options:
        assert got.shape != plain.shape or not torch.equal(got, plain)  # the rule mattered here
