"""The original Transformer against torch.nn.Transformer: the same weights in both, the same outputs."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import zoo
from zoo.nn import padding_bias

TOL = 1e-4
TINY = dict(vocab_size=100, dim=64, num_heads=4, depth=2, mlp_dim=128, max_len=64, dropout=0.0)


def torch_reference(dim: int, heads: int, layers: int, ffn: int) -> nn.Transformer:
    """nn.Transformer in the paper's layout, with random biases and norms."""
    model = nn.Transformer(dim, heads, layers, layers, ffn, dropout=0.0, batch_first=True, norm_first=False)
    model.encoder.norm = model.decoder.norm = None  # torch adds a final LayerNorm per stack; the paper has none
    model.encoder.enable_nested_tensor = model.encoder.use_nested_tensor = False  # keep padded rows comparable
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:
                param.add_(torch.randn_like(param) * 0.2)
    return model.eval()


def _copy_attention(ours: nn.Module, theirs: nn.MultiheadAttention, dim: int) -> None:
    weight, bias = theirs.in_proj_weight, theirs.in_proj_bias  # fused q, k, v: [3D, D]
    if ours.cross:  # queries from the decoder, keys and values from the memory
        ours.q.load_state_dict({"weight": weight[:dim], "bias": bias[:dim]})
        ours.kv.load_state_dict({"weight": weight[dim:], "bias": bias[dim:]})
    else:
        ours.qkv.load_state_dict({"weight": weight, "bias": bias})
    ours.proj.load_state_dict(theirs.out_proj.state_dict())


@torch.no_grad()
def copy_weights(backbone: nn.Module, reference: nn.Transformer) -> None:
    dim = reference.d_model
    encoder = zip(backbone.encoder.blocks, reference.encoder.layers)
    decoder = zip(backbone.decoder.blocks, reference.decoder.layers)
    for ours, theirs in [*encoder, *decoder]:
        _copy_attention(ours.attn, theirs.self_attn, dim)
        ours.mlp.fc1.load_state_dict(theirs.linear1.state_dict())
        ours.mlp.fc2.load_state_dict(theirs.linear2.state_dict())
        ours.norm_attn.load_state_dict(theirs.norm1.state_dict())
        if ours.cross_attn is None:
            ours.norm_mlp.load_state_dict(theirs.norm2.state_dict())
        else:
            _copy_attention(ours.cross_attn, theirs.multihead_attn, dim)
            ours.norm_cross.load_state_dict(theirs.norm2.state_dict())
            ours.norm_mlp.load_state_dict(theirs.norm3.state_dict())


def masks(rows: int = 2, source: int = 16, target: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    source_mask = torch.ones(rows, source, dtype=torch.long)
    source_mask[1, 12:] = 0
    target_mask = torch.ones(rows, target, dtype=torch.long)
    target_mask[1, 7:] = 0
    return source_mask, target_mask


def run_reference(reference: nn.Transformer, src: torch.Tensor, tgt: torch.Tensor, source_mask: torch.Tensor,
                  target_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    causal = torch.ones(tgt.shape[1], tgt.shape[1], dtype=torch.bool).triu(1)  # True = blocked
    memory = reference.encoder(src, src_key_padding_mask=source_mask == 0)
    out = reference.decoder(tgt, memory, tgt_mask=causal, tgt_key_padding_mask=target_mask == 0,
                            memory_key_padding_mask=source_mask == 0)
    return memory, out


def test_base_stacks_match_torch_transformer():
    """transformer-base at full size: identical embedded inputs through both encoder and decoder stacks."""
    reference = torch_reference(512, 8, 6, 2048)
    ours = zoo.create("transformer-base", dropout=0.0).eval()
    copy_weights(ours.backbone, reference)
    source_mask, target_mask = masks()
    src, tgt = torch.randn(2, 16, 512), torch.randn(2, 11, 512)
    with torch.no_grad():
        expected_memory, expected = run_reference(reference, src, tgt, source_mask, target_mask)
        memory = ours.backbone.encoder(src, attn_bias=padding_bias(source_mask, src.dtype))
        got = ours.backbone.decoder(tgt, attn_bias=padding_bias(target_mask, tgt.dtype), is_causal=True,
                                    context=memory, context_bias=padding_bias(source_mask, src.dtype))
    assert (memory - expected_memory).abs().max().item() < TOL
    assert got.shape == (2, 11, 512) and (got - expected).abs().max().item() < TOL


def vaswani_positions(length: int, dim: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), written out."""
    table = torch.zeros(length, dim)
    for pos in range(length):
        for i in range(0, dim, 2):
            angle = pos / 10000 ** (i / dim)
            table[pos, i], table[pos, i + 1] = math.sin(angle), math.cos(angle)
    return table


def test_model_matches_paper_embedding_around_torch_transformer():
    """Whole model: shared embedding * sqrt(d) + sinusoids in, tied projection out."""
    ours = zoo.create("transformer-base", **TINY).eval()
    reference = torch_reference(64, 4, 2, 128)
    copy_weights(ours.backbone, reference)
    embedding = ours.backbone.token_embedding.weight
    source_mask, target_mask = masks()
    ids, decoder_ids = torch.randint(2, 100, (2, 16)), torch.randint(2, 100, (2, 11))
    positions, scale = vaswani_positions(16, 64), math.sqrt(64)
    with torch.no_grad():
        src, tgt = embedding[ids] * scale + positions, embedding[decoder_ids] * scale + positions[:11]
        _, hidden = run_reference(reference, src, tgt, source_mask, target_mask)
        expected = hidden @ embedding.T  # the tied output projection
        got = ours(ids, attention_mask=source_mask, decoder_input_ids=decoder_ids, decoder_attention_mask=target_mask)
    assert ours.head.decoder.weight is embedding  # source, target and output share one matrix
    assert got.shape == (2, 11, 100) and (got - expected).abs().max().item() < TOL


def test_labels_are_shifted_into_decoder_inputs():
    model = zoo.create("transformer-base", **TINY).eval()
    ids = torch.randint(2, 100, (2, 9))
    labels = torch.randint(2, 100, (2, 6))
    labels[1, 4:] = -100
    shifted = torch.cat([torch.ones(2, 1, dtype=torch.long), labels[:, :-1]], dim=1).clamp(min=0)  # -100 -> pad 0
    with torch.no_grad():
        logits = model(ids, labels=labels)
        assert torch.equal(logits, model(ids, decoder_input_ids=shifted))
        expected = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        assert torch.allclose(model.loss(logits, labels), expected)


def test_left_padded_source_reads_like_the_unpadded_one():
    backbone = zoo.create("transformer-base", **TINY).eval().backbone
    ids = torch.randint(2, 100, (1, 9))
    padded = torch.cat([torch.zeros(1, 4, dtype=torch.long), ids], dim=1)
    mask = (padded != 0).long()
    with torch.no_grad():
        assert torch.allclose(backbone.encode(padded, mask)[:, 4:], backbone.encode(ids), atol=1e-5)


def test_generation_with_cache_equals_recomputation():
    torch.manual_seed(3)
    model = zoo.create("transformer-base", **TINY).eval()
    ids = torch.randint(2, 100, (3, 10))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left-padded prompts
    mask[2, :6] = 0
    ids = ids.masked_fill(mask == 0, 0)
    generated = model.generate(ids, attention_mask=mask, max_new_tokens=16)
    sequence = torch.ones(3, 1, dtype=torch.long)  # the start token
    with torch.no_grad():
        for _ in range(16):  # greedy without a cache: the whole target again at every step
            logits = model(ids, attention_mask=mask, decoder_input_ids=sequence)[:, -1]
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
    assert generated.shape == (3, 17) and torch.equal(generated, sequence)
    alone = model.generate(ids[2:, 6:], max_new_tokens=16)
    assert torch.equal(alone, generated[2:])


def test_cached_decoding_in_chunks_equals_full_decoding():
    """Teacher-forced states (a random model's greedy output tends to repeat one token, so check states too)."""
    backbone = zoo.create("transformer-base", **TINY).eval().backbone
    ids = torch.randint(2, 100, (2, 10))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    target = torch.randint(2, 100, (2, 10))
    with torch.no_grad():
        memory = backbone.encode(ids, attention_mask=mask)
        full = backbone.decode(target, memory, memory_mask=mask)
        caches = backbone.make_caches(2, 10, context_len=10)
        chunks = [backbone.decode(target[:, a:b], memory, memory_mask=mask, caches=caches)
                  for a, b in [(0, 4), (4, 7), (7, 8), (8, 9), (9, 10)]]
    assert torch.allclose(torch.cat(chunks, dim=1), full, atol=1e-5)


def test_card_declares_its_parameter_count():
    with torch.device("meta"):
        model = zoo.create("transformer-base")
        reference = nn.Transformer(batch_first=True)  # 512, 8 heads, 6 + 6 layers, 2048: the paper's base
    count = sum(p.numel() for p in model.parameters())
    assert count == zoo.info("transformer-base")["params"]
    final_norms = 2 * 2 * 512  # torch's extra LayerNorm per stack
    assert count == sum(p.numel() for p in reference.parameters()) - final_norms + 37000 * 512


@pytest.mark.parametrize("bad, message", [
    (dict(input_ids=torch.ones(2, 70, dtype=torch.long)), "sequence of 70 positions is longer than the 64"),
    (dict(decoder_input_ids=torch.ones(2, 65, dtype=torch.long)), "sequence of 65 positions is longer than the 64"),
    (dict(attention_mask=torch.ones(2, 5)), r"attention_mask must have the shape of the token ids \[2, 6\]"),
    (dict(decoder_attention_mask=torch.ones(2, 5)), r"decoder_attention_mask must be .* = \[2, 4\]"),
    (dict(decoder_input_ids=torch.full((2, 4), 100)), r"token ids must be in \[0, 100\)"),
    (dict(decoder_input_ids=None), "needs decoder_input_ids .* or labels"),
])
def test_bad_inputs_are_clear(bad, message):
    model = zoo.create("transformer-base", **{**TINY, "depth": 1})
    inputs = {"input_ids": torch.ones(2, 6, dtype=torch.long), "decoder_input_ids": torch.ones(2, 4, dtype=torch.long),
              **bad}
    with pytest.raises(ValueError, match=message):
        model(inputs.pop("input_ids"), **inputs)
