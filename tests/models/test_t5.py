"""T5 against Hugging Face transformers: HF directories through our key map, same logits, loss and generations."""
from __future__ import annotations

import json

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file

import zoo
from parity_helpers import perturbed as perturbed_norms
from zoo.weights.errors import WeightsError

TOL = 1e-4
VOCAB = 32128
TINY = dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4)  # transformers' names
OURS_TINY = dict(dim=64, head_dim=16, mlp_dim=128, depth=2, num_heads=4)  # the same sizes in our spec
V1_1 = dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False)
CASES = {  # name -> (card, transformers config, our overrides)
    "t5-small": ("t5-small", {}, {}),  # full size
    "uneven": ("t5-small", {**TINY, "num_heads": 3, "num_decoder_layers": 3},  # heads * d_kv != d_model
               {**OURS_TINY, "num_heads": 3, "decoder_depth": 3}),
    "v1_1": ("t5-v1_1-small", {**TINY, **V1_1}, OURS_TINY),
    "tiny": ("t5-small", {**TINY, "num_heads": 3}, {**OURS_TINY, "num_heads": 3}),  # generate() of transformers
}  # 5.x cannot run a decoder deeper than the encoder (its cache is sized by num_layers)


def hf_config(**sizes) -> transformers.T5Config:
    return transformers.T5Config(decoder_start_token_id=0, **sizes)  # defaults: t5-small


def perturbed(model: torch.nn.Module, lively: bool = False) -> torch.nn.Module:
    """Random norm weights (`parity_helpers.perturbed`) so a wrong key map cannot hide behind ones.

    ``lively`` also strengthens the residual branches and position biases: a random T5 otherwise
    copies its input token, and greedy decoding would repeat one token forever.
    """
    model = perturbed_norms(model)
    if not lively:
        return model
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith((".o.weight", ".wo.weight", "proj.weight", "fc2.weight")):
                param.mul_(30.0)
            if "relative_attention_bias" in name or "_positions." in name:
                param.mul_(10.0)
    return model


def build(case: str, directory, *, lively: bool = False, reference_cls=transformers.T5ForConditionalGeneration,
          task: str | None = None):
    card, config, overrides = CASES[case]
    reference = perturbed(reference_cls(hf_config(**config)), lively)
    reference.save_pretrained(directory)
    return reference, zoo.create(card, task=task, weights=directory, **overrides).eval()


def batch(rows: int = 2, source: int = 20, target: int = 9):
    """Right-padded sources and targets (T5's positions are relative: either side works)."""
    ids = torch.randint(2, VOCAB, (rows, source))
    mask = torch.ones_like(ids)
    mask[1, 13:] = 0
    decoder_ids = torch.randint(2, VOCAB, (rows, target))
    decoder_ids[:, 0] = 0  # the start token
    decoder_mask = torch.ones_like(decoder_ids)
    decoder_mask[1, 6:] = 0
    return ids.masked_fill(mask == 0, 0), mask, decoder_ids.masked_fill(decoder_mask == 0, 0), decoder_mask


@pytest.fixture(scope="module", params=["t5-small", "uneven", "v1_1"])
def pair(request, tmp_path_factory):
    return request.param, *build(request.param, tmp_path_factory.mktemp(request.param))


def test_logits_match_transformers(pair):
    case, reference, ours = pair
    ids, mask, decoder_ids, decoder_mask = batch()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids,
                             decoder_attention_mask=decoder_mask).logits
        got = ours(ids, attention_mask=mask, decoder_input_ids=decoder_ids, decoder_attention_mask=decoder_mask)
    assert got.shape == expected.shape == (2, 9, VOCAB)
    assert (got - expected).abs().max().item() < TOL
    tied = ours.head.decoder.weight is ours.backbone.token_embedding.weight
    assert tied == (case != "v1_1")


def test_labels_are_shifted_into_decoder_inputs_and_loss_matches(pair):
    _, reference, ours = pair
    ids, mask, labels, _ = batch()
    labels[1, 6:] = -100  # ignored positions; they become pad in the shifted decoder inputs
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels)
        got = ours(ids, attention_mask=mask, labels=labels)
        loss = ours.loss(got, labels)
    assert (got - expected.logits).abs().max().item() < TOL
    assert abs(loss.item() - expected.loss.item()) < TOL


def test_v1_1_checkpoint_with_its_own_lm_head(tmp_path):
    """A hub v1.1 checkpoint: separate lm_head, tie_word_embeddings false, no output scaling."""
    _, config, overrides = CASES["v1_1"]
    perturbed(transformers.T5ForConditionalGeneration(hf_config(**config))).save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["lm_head.weight"] = torch.randn(VOCAB, 64)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    settings = json.loads((tmp_path / "config.json").read_text())
    settings.pop("scale_decoder_outputs", None)
    (tmp_path / "config.json").write_text(json.dumps({**settings, "tie_word_embeddings": False}))
    reference = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert not torch.equal(reference.lm_head.weight, reference.shared.weight)
    ours = zoo.create("t5-v1_1-small", weights=tmp_path, **overrides).eval()
    ids, mask, decoder_ids, decoder_mask = batch()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids,
                             decoder_attention_mask=decoder_mask).logits
        got = ours(ids, attention_mask=mask, decoder_input_ids=decoder_ids, decoder_attention_mask=decoder_mask)
    assert (got - expected).abs().max().item() < TOL


def left_padded(rows: int = 3, length: int = 14):
    ids = torch.randint(2, VOCAB, (rows, length))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    mask[2, :9] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("case", ["tiny", "v1_1"])
def test_greedy_generation_matches_transformers(case, tmp_path):
    reference, ours = build(case, tmp_path, lively=True)
    ids, mask = left_padded()
    options = dict(max_new_tokens=24, eos_token_id=1, pad_token_id=0)  # transformers' T5 defaults
    expected = reference.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=24)
    got = ours.generate(ids, attention_mask=mask, **options)
    assert got.shape == (3, 25)  # no row stopped early: all 24 steps are compared
    assert torch.equal(got, expected)
    assert len(set(got[0].tolist())) > 3  # the continuation is not one repeated token
    alone = ours.generate(ids[2:, mask[2].bool()], **options)  # the most padded prompt, unpadded
    assert torch.equal(alone, got[2:])


def test_cached_decoding_equals_recomputation():
    ours = zoo.create("t5-v1_1-small", dropout=0.0, **OURS_TINY)
    perturbed(ours, lively=True)
    ids, mask = left_padded()
    generated = ours.generate(ids, attention_mask=mask, max_new_tokens=20)
    sequence = torch.zeros(3, 1, dtype=torch.long)
    with torch.no_grad():
        for _ in range(20):  # greedy without a cache: the whole target again at every step
            logits = ours(ids, attention_mask=mask, decoder_input_ids=sequence)[:, -1]
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
        assert torch.equal(generated, sequence)
        backbone = ours.backbone  # teacher forcing in chunks: prefill 4, then 3, then one at a time
        memory = backbone.encode(ids, attention_mask=mask)
        target = torch.randint(0, VOCAB, (3, 10))
        full = backbone.decode(target, memory, memory_mask=mask)
        caches = backbone.make_caches(3, 10, context_len=memory.shape[1])
        chunks = [backbone.decode(target[:, a:b], memory, memory_mask=mask, caches=caches)
                  for a, b in [(0, 4), (4, 7), (7, 8), (8, 9), (9, 10)]]
    assert torch.allclose(torch.cat(chunks, dim=1), full, atol=1e-4)


def test_feature_extraction_matches_t5model(tmp_path):
    reference, ours = build("uneven", tmp_path, reference_cls=transformers.T5Model, task="feature-extraction")
    ids, mask, decoder_ids, decoder_mask = batch()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids,
                             decoder_attention_mask=decoder_mask).last_hidden_state
        got = ours(ids, attention_mask=mask, decoder_input_ids=decoder_ids, decoder_attention_mask=decoder_mask)
        encoded = ours.backbone.encode(ids, attention_mask=mask)
        expected_encoded = reference.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    assert got.shape == (2, 9, 64) and (got - expected).abs().max().item() < TOL
    assert (encoded - expected_encoded).abs().max().item() < TOL


def test_sequence_classification_pools_the_last_real_decoder_token():
    model = zoo.create("t5-small", task="sequence-classification", num_classes=3, **OURS_TINY).eval()
    ids, mask, decoder_ids, decoder_mask = batch()
    with torch.no_grad():
        features = model.forward_features(ids, attention_mask=mask, decoder_input_ids=decoder_ids,
                                          decoder_attention_mask=decoder_mask)
        pooled = model.forward_head(features, pre_logits=True, attention_mask=decoder_mask)
        logits = model(ids, attention_mask=mask, decoder_input_ids=decoder_ids, decoder_attention_mask=decoder_mask)
    assert torch.equal(pooled, torch.stack([features[0, 8], features[1, 5]]))
    assert logits.shape == (2, 3)


def test_save_and_load_round_trip(tmp_path):
    model = zoo.create("t5-v1_1-small", decoder_depth=3, **OURS_TINY).eval()
    zoo.save(model, tmp_path)
    loaded = zoo.load(tmp_path).eval()
    ids, mask, decoder_ids, _ = batch()
    with torch.no_grad():
        assert torch.equal(model(ids, attention_mask=mask, decoder_input_ids=decoder_ids),
                           loaded(ids, attention_mask=mask, decoder_input_ids=decoder_ids))
    assert loaded.spec == model.spec and len(loaded.backbone.decoder.blocks) == 3


def test_cards_declare_their_parameter_count():
    for name in zoo.list_models("t5-*"):
        with torch.device("meta"):  # full size, without allocating or initialising weights
            model = zoo.create(name)
        assert sum(p.numel() for p in model.parameters()) == zoo.info(name)["params"], name
    with torch.device("meta"):
        reference = transformers.T5ForConditionalGeneration(hf_config(d_model=768, d_ff=3072, num_layers=12,
                                                                      num_heads=12))
    assert sum(p.numel() for p in reference.parameters()) == zoo.info("t5-base")["params"]


def test_config_mismatch_is_clear(tmp_path):
    _, config, overrides = CASES["v1_1"]
    transformers.T5ForConditionalGeneration(hf_config(**config)).save_pretrained(tmp_path / "v1_1")
    with pytest.raises(WeightsError, match="feed_forward_proj='gated-gelu' but mlp='relu'.*Pick the matching card"):
        zoo.create("t5-small", weights=tmp_path / "v1_1", **overrides)
    transformers.T5ForConditionalGeneration(hf_config(**TINY)).save_pretrained(tmp_path / "v1_0")
    with pytest.raises(WeightsError, match="scales the decoder output .* but tie_embeddings=False"):
        zoo.create("t5-v1_1-small", weights=tmp_path / "v1_0", mlp="relu", **overrides)


def test_separate_lm_head_into_tied_model_is_an_error(tmp_path):
    state = transformers.T5ForConditionalGeneration(hf_config(**TINY)).state_dict()
    state["lm_head.weight"] = torch.randn(VOCAB, 64)
    torch.save(state, tmp_path / "t5.bin")
    with pytest.raises(WeightsError, match="has its own lm_head"):
        zoo.create("t5-small", weights=tmp_path / "t5.bin", **OURS_TINY)


@pytest.mark.parametrize("bad, message", [
    (dict(attention_mask=torch.ones(2, 5)), r"attention_mask must have the shape of the token ids \[2, 6\]"),
    (dict(decoder_attention_mask=torch.ones(2, 3)),
     r"decoder_attention_mask must be \[batch, target positions so far\] = \[2, 4\]"),
    (dict(input_ids=torch.full((2, 6), 97)), r"token ids must be in \[0, 97\)"),
    (dict(decoder_input_ids=torch.full((2, 4), -1)), r"token ids must be in \[0, 97\)"),
    (dict(decoder_input_ids=None), "T5 needs decoder_input_ids .* or labels"),
    (dict(input_ids=torch.ones(6, dtype=torch.long)), r"input_ids must be \[batch, seq_len\]"),
    (dict(decoder_input_ids=torch.ones(4, dtype=torch.long)), r"decoder_input_ids must be \[batch, seq_len\]"),
])
def test_bad_inputs_are_clear(bad, message):
    model = zoo.create("t5-small", vocab_size=97, **{**OURS_TINY, "depth": 1})
    inputs = {"input_ids": torch.ones(2, 6, dtype=torch.long), "decoder_input_ids": torch.zeros(2, 4, dtype=torch.long),
              **bad}
    with pytest.raises(ValueError, match=message):
        model(inputs.pop("input_ids"), **inputs)


def test_decode_checks_the_memory():
    backbone = zoo.create("t5-small", vocab_size=97, **OURS_TINY).backbone
    with pytest.raises(ValueError, match=r"memory must be encoder states \[batch=2, source_len, dim\]"):
        backbone.decode(torch.zeros(2, 3, dtype=torch.long), torch.randn(1, 5, 64))


def test_grad_checkpointing_gives_same_gradients():
    model = zoo.create("t5-v1_1-small", dropout=0.0, **OURS_TINY).train()
    ids, mask, labels, _ = batch()

    def gradients(enable: bool) -> dict[str, torch.Tensor]:
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        model.loss(model(ids, attention_mask=mask, labels=labels), labels).backward()
        return {name: param.grad.clone() for name, param in model.named_parameters()}

    plain, checkpointed = gradients(False), gradients(True)
    assert all(torch.allclose(plain[name], checkpointed[name], atol=1e-6) for name in plain)


@pytest.mark.parametrize("options", [dict(num_beams=4), dict(num_beams=3, num_return_sequences=2, length_penalty=2.0)])
def test_beam_search_matches_transformers(options, tmp_path):
    reference, ours = build("tiny", tmp_path, lively=True)
    ids, mask = left_padded()
    with torch.no_grad():
        expected = reference.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=16,
                                      **options)
    got = ours.generate(ids, attention_mask=mask, max_new_tokens=16, eos_token_id=1, pad_token_id=0, **options)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_token_rules_match_transformers(num_beams, tmp_path):
    """An encoder-decoder's history is its decoder sequence (start token included)."""
    reference, ours = build("tiny", tmp_path, lively=True)
    ids, mask = left_padded()
    options = dict(max_new_tokens=16, num_beams=num_beams, repetition_penalty=1.4, no_repeat_ngram_size=2,
                   min_new_tokens=6)
    with torch.no_grad():
        expected = reference.generate(input_ids=ids, attention_mask=mask, do_sample=False, **options)
    got = ours.generate(ids, attention_mask=mask, eos_token_id=1, pad_token_id=0, **options)
    assert torch.equal(got, expected)
    plain = ours.generate(ids, attention_mask=mask, eos_token_id=1, pad_token_id=0, max_new_tokens=16,
                          num_beams=num_beams)
    assert not torch.equal(got, plain)
