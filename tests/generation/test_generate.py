"""The generation loop: logit filtering, validation, KV cache against recomputation, sampling, EOS."""
from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import zoo
from zoo.factory import get_family
from zoo.generation import filter_logits, generate
from zoo.tasks.model import ZooModel

DECODERS = ["gpt2", "llama-tiny"]
NEG = float("-inf")


def tiny_decoder(name: str):
    return zoo.create(name, **get_family(zoo.info(name)["family"]).smoke_overrides).eval()  # vocab 97, 32 positions


def left_padded(vocab: int = 97) -> tuple[Tensor, Tensor]:
    ids = torch.randint(1, vocab, (3, 8))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    mask[2, :6] = 0
    return ids.masked_fill(mask == 0, 0), mask


def naive_greedy(model, ids: Tensor, mask: Tensor, steps: int) -> Tensor:
    """Re-run the full forward on the whole sequence every step: no cache at all."""
    for _ in range(steps):
        with torch.no_grad():
            next_ids = model(ids, attention_mask=mask)[:, -1].argmax(dim=-1, keepdim=True)  # [B, 1]
        ids, mask = torch.cat([ids, next_ids], dim=1), torch.cat([mask, torch.ones_like(next_ids)], dim=1)
    return ids


# --- filter_logits against hand-computed cases ------------------------------------------------

def test_top_k_keeps_the_k_largest_per_row():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [5.0, -1.0, 4.0, 6.0]])
    expected = torch.tensor([[NEG, 3.0, 2.0, NEG], [5.0, NEG, NEG, 6.0]])
    assert torch.equal(filter_logits(logits, top_k=2), expected)
    assert torch.equal(filter_logits(logits, top_k=10), logits)  # k beyond the vocabulary keeps everything


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]])
    logits = probs.log()
    # mass before each token (sorted): 0, 0.5, 0.8, 0.95 -> top_p 0.75 keeps two, 0.9 three, 0.2 one
    assert torch.isinf(filter_logits(logits, top_p=0.75)).tolist() == [[False, False, True, True],
                                                                        [True, True, False, False]]
    assert torch.isinf(filter_logits(logits, top_p=0.9)).sum(dim=-1).tolist() == [1, 1]
    assert torch.isinf(filter_logits(logits, top_p=0.2)).tolist() == [[False, True, True, True],
                                                                       [True, True, True, False]]
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)


def test_temperature_then_top_k_then_top_p():
    logits = torch.tensor([[math.log(4.0), math.log(2.0), math.log(1.0), math.log(1.0)]])
    # temperature 0.5 squares the odds to 16:4:1:1; top_k=3 keeps both tokens tied at third place
    out = filter_logits(logits, temperature=0.5, top_k=3)
    assert torch.allclose(out, logits / 0.5)  # the tied third and fourth both stay
    out = filter_logits(logits, temperature=0.5, top_k=2, top_p=0.5)  # 16/20 = 0.8 >= 0.5: only the first
    assert torch.isinf(out).tolist() == [[False, True, True, True]]
    assert math.isclose(out[0, 0].item(), 2 * math.log(4.0), rel_tol=1e-6)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (dict(max_new_tokens=0), "max_new_tokens must be >= 1"),
    (dict(do_sample=True, temperature=0.0), "temperature must be > 0"),
    (dict(do_sample=True, top_k=0), "top_k must be >= 1"),
    (dict(do_sample=True, top_p=0.0), r"top_p must be in \(0, 1\]"),
    (dict(do_sample=True, top_p=1.5), r"top_p must be in \(0, 1\]"),
    (dict(eos_token_id=[2, 97]), r"token ids must be in \[0, 97\) for this vocabulary; got eos_token_id 97$"),
    (dict(pad_token_id=-1), "got pad_token_id -1"),
    (dict(attention_mask=torch.tensor([[1, 1, 1, 0]])), "prompts must be left-padded"),
    (dict(attention_mask=torch.ones(1, 3)), r"attention_mask must have the shape of input_ids \[1, 4\]"),
])
def test_bad_options_are_clear(options, message):
    with pytest.raises(ValueError, match=message):
        tiny_decoder("gpt2").generate(torch.tensor([[1, 2, 3, 4]]), **options)


@pytest.mark.parametrize("ids", [torch.tensor([1, 2, 3]), torch.zeros(2, 0, dtype=torch.long)])
def test_prompt_shape_is_checked(ids):
    with pytest.raises(ValueError, match=r"input_ids must be \[batch, seq_len\] with seq_len >= 1"):
        tiny_decoder("gpt2").generate(ids)


def test_generate_needs_a_decoder_with_an_lm_head():
    with pytest.raises(TypeError, match="generate needs a decoder.*this is a encoder"):
        zoo.create("bert-tiny", vocab_size=97, depth=1).generate(torch.tensor([[1, 2]]))
    classifier = zoo.create("gpt2", task="sequence-classification", **get_family("gpt2").smoke_overrides)
    with pytest.raises(TypeError, match="task 'sequence-classification'"):
        classifier.generate(torch.tensor([[1, 2]]))


# --- decoders: cache, sampling, EOS ------------------------------------------------------------

@pytest.mark.parametrize("name", DECODERS)
def test_kv_cache_generation_equals_recomputation(name):
    model = tiny_decoder(name)
    ids, mask = left_padded()
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=24), naive_greedy(model, ids, mask, 24))
    prompt = ids[:1]
    expected = naive_greedy(model, prompt, torch.ones_like(prompt), 24)
    assert torch.equal(model.generate(prompt, max_new_tokens=24), expected)
    # an all-ones mask takes the no-padding path and gives the same tokens
    assert torch.equal(model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=5),
                       model.generate(prompt, max_new_tokens=5))


@pytest.mark.parametrize("name", DECODERS)
def test_incremental_decoding_equals_a_full_pass(name):
    """Features of a left-padded batch fed in chunks through the cache match one full forward."""
    backbone = tiny_decoder(name).backbone
    ids, mask = left_padded()
    ids = torch.cat([ids, torch.randint(1, 97, (3, 6))], dim=1)
    mask = torch.cat([mask, torch.ones(3, 6, dtype=mask.dtype)], dim=1)
    with torch.no_grad():
        full = backbone(ids, attention_mask=mask)  # [B, 14, D]
        caches = backbone.make_caches(3, 14)
        chunks = [backbone(ids[:, a:b], attention_mask=mask[:, :b], caches=caches)
                  for a, b in [(0, 8), (8, 9), (9, 12), (12, 13), (13, 14)]]
    stepped = torch.cat(chunks, dim=1)
    assert (stepped - full)[mask.bool()].abs().max() < 1e-5


@pytest.mark.parametrize("name", DECODERS)
def test_sampling_is_reproducible_and_top_k_1_is_greedy(name):
    model = tiny_decoder(name)
    ids, mask = left_padded()

    def sample(seed: int, **options) -> Tensor:
        return model.generate(ids, attention_mask=mask, max_new_tokens=16, do_sample=True,
                              generator=torch.Generator().manual_seed(seed), **options)

    first = sample(1, temperature=1.5, top_p=0.9)
    assert torch.equal(first, sample(1, temperature=1.5, top_p=0.9))
    assert not torch.equal(first, sample(2, temperature=1.5, top_p=0.9))
    assert torch.equal(sample(3, top_k=1), model.generate(ids, attention_mask=mask, max_new_tokens=16))


@pytest.mark.parametrize("name", DECODERS)
def test_eos_stops_each_row_and_pads_it(name):
    model = tiny_decoder(name)
    ids, mask = left_padded()
    free = model.generate(ids, attention_mask=mask, max_new_tokens=20)
    eos = int(free[0, 8 + 2])  # row 0 emits it as its third new token
    got = model.generate(ids, attention_mask=mask, max_new_tokens=20, eos_token_id=[eos, 96], pad_token_id=0)
    for row in range(3):
        new, expected = got[row, 8:], free[row, 8:]
        stops = [i for i, t in enumerate(expected[: new.shape[0]].tolist()) if t in (eos, 96)]
        end = stops[0] + 1 if stops else new.shape[0]
        assert torch.equal(new[:end], expected[:end])  # identical up to and including its EOS
        assert (new[end:] == 0).all()  # then padding
    assert got.shape[1] <= free.shape[1]
    # once every row has finished, generation ends
    alone = model.generate(ids[:1], max_new_tokens=20, eos_token_id=eos)
    first = free[0, 8:].tolist().index(eos)
    assert alone.shape == (1, 8 + first + 1) and alone[0, -1] == eos


# --- encoder-decoders: the protocol the loop expects -------------------------------------------

class CountingSeq2Seq(nn.Module):
    """A stand-in encoder-decoder backbone: each decoder step predicts (last token + 1) mod V."""

    architecture = "encoder-decoder"
    decoder_start_token_id = 3

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.seen: dict[str, object] = {}

    def encode(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        self.seen["encoder_mask"] = attention_mask
        return torch.zeros(*input_ids.shape, 4)  # [B, T_src, 4]

    def make_caches(self, batch: int, max_len: int, *, context_len: int, dtype, device) -> list:
        self.seen["caches"] = (batch, max_len, context_len, dtype)
        return []

    def decode(self, ids: Tensor, memory: Tensor, *, memory_mask: Tensor, caches: list) -> Tensor:
        return nn.functional.one_hot((ids + 1) % VOCAB, VOCAB).float()  # [B, T, V]: the logits themselves


class IdentityLMHead(nn.Module):
    vocab_size = 11

    def forward(self, features: Tensor, pre_logits: bool = False, attention_mask: Tensor | None = None) -> Tensor:
        return features


VOCAB = IdentityLMHead.vocab_size


def test_encoder_decoder_protocol():
    backbone = CountingSeq2Seq()
    model = ZooModel(backbone, IdentityLMHead(), family="counting", task="seq2seq-lm", spec=None)
    source = torch.tensor([[5, 6, 7, 0], [5, 6, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])  # right padding is fine for an encoder
    out = generate(model, source, attention_mask=mask, max_new_tokens=5)
    assert out.tolist() == [[3, 4, 5, 6, 7, 8]] * 2  # start token, then the continuation
    assert torch.equal(backbone.seen["encoder_mask"], mask)
    assert backbone.seen["caches"] == (2, 6, 4, torch.float32)
    stopped = generate(model, source, max_new_tokens=8, eos_token_id=6)
    assert stopped.tolist() == [[3, 4, 5, 6]] * 2


# --- compiled decode steps ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gpt2", "t5-small"])
def test_compiled_decode_equals_eager(name):
    """compile=True gives the eager path's tokens, with padding; a second call reuses the compiled step."""
    torch._dynamo.reset()
    model = zoo.create(name, **{**get_family(zoo.info(name)["family"]).smoke_overrides, "depth": 1}).eval()
    ids, mask = left_padded()
    if name.startswith("t5"):  # an encoder takes right padding too; make it the mirror image
        ids, mask = ids.flip(1), mask.flip(1)
    eager = model.generate(ids, attention_mask=mask, max_new_tokens=12)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=12, compile=True), eager)
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=12, compile=True), eager)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames  # nothing recompiled
    beams = model.generate(ids, attention_mask=mask, max_new_tokens=12, num_beams=3)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=12, num_beams=3, compile=True), beams)


# --- beam search (parity with transformers: tests/models/test_gpt2.py, test_t5.py) --------------

def test_beam_search_options_are_checked():
    model = tiny_decoder("gpt2")
    ids = torch.tensor([[1, 2, 3]])
    for options, message in [(dict(num_beams=0), "num_beams must be >= 1"),
                             (dict(num_beams=2, do_sample=True), "beam search is deterministic"),
                             (dict(num_beams=2, num_return_sequences=3), "num_return_sequences must be between 1 and"),
                             (dict(num_return_sequences=0), r"between 1 and num_beams \(1\)")]:
        with pytest.raises(ValueError, match=message):
            model.generate(ids, max_new_tokens=4, **options)


def test_beam_search_rows_are_independent():
    """Each left-padded row's hypotheses are the ones it gets alone, unpadded."""
    model = tiny_decoder("gpt2")
    ids, mask = left_padded()
    together = model.generate(ids, attention_mask=mask, max_new_tokens=10, num_beams=3, num_return_sequences=2)
    for row in range(ids.shape[0]):
        alone = model.generate(ids[row : row + 1, mask[row].bool()], max_new_tokens=10, num_beams=3,
                               num_return_sequences=2)
        real = mask[row].bool()
        assert torch.equal(together[2 * row : 2 * row + 2][:, torch.cat([real, torch.ones(10, dtype=torch.bool)])],
                           alone)


def test_several_samples_per_row():
    model = tiny_decoder("gpt2")
    ids, mask = left_padded()
    out = model.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=True, num_return_sequences=4,
                         generator=torch.Generator().manual_seed(0))
    assert out.shape == (12, 8 + 10)
    assert torch.equal(out[:, :8], ids.repeat_interleave(4, dim=0))  # each prompt, 4 times in a row
    assert len({tuple(r) for r in out[:4, 8:].tolist()}) > 1  # independent draws
    with pytest.raises(ValueError, match="greedy decoding returns one sequence per row"):
        model.generate(ids, max_new_tokens=4, num_return_sequences=2)


def test_token_rules_are_checked_and_do_what_they_say():
    model = tiny_decoder("gpt2")
    ids = torch.tensor([[5, 6, 7, 5, 6]])
    for options, message in [(dict(repetition_penalty=0.0), "repetition_penalty must be > 0"),
                             (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size must be >= 0"),
                             (dict(min_new_tokens=-2), "min_new_tokens must be >= 0")]:
        with pytest.raises(ValueError, match=message):
            model.generate(ids, max_new_tokens=4, **options)
    out = model.generate(ids, max_new_tokens=12, no_repeat_ngram_size=2)[0].tolist()
    pairs = list(zip(out, out[1:]))
    assert all(pairs[i] not in pairs[:i] for i in range(4, len(pairs)))  # no generated token repeats a bigram
    free = model.generate(ids, max_new_tokens=12)
    eos = int(free[0, 5])  # the first token it would generate
    late = model.generate(ids, max_new_tokens=12, eos_token_id=eos, min_new_tokens=4)
    assert eos not in late[0, 5:9].tolist()
