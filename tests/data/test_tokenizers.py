"""Tokenizers: the byte tokenizer, and tokenizer files read like transformers reads them.

Tokenizer files are built in tmp_path (a byte-level BPE trained on a few sentences, a small
WordPiece vocab.txt); nothing downloads. Ids must match transformers' tokenizers exactly.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from zoo.data import ByteTokenizer, TextTokenizer, TokenizerError, load_tokenizer

TEXTS = ["hello", "héllo wörld, ça va?", "emoji 🙂👍🏽 and flags 🇫🇷", "中文字符和日本語のテキスト", "", "a\nb\t c  "]


# --- ByteTokenizer -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", TEXTS)
def test_byte_round_trip(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert ids == [tok.bos_token_id] + list(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_byte_special_tokens():
    tok = ByteTokenizer(add_eos=True)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.mask_token_id) == (256, 257, 258, 259)
    assert tok.vocab_size == len(tok) == 260 and tok.unk_token_id is None
    assert tok.encode("hi") == [257, 104, 105, 258]
    assert tok.encode("<eos>", add_special_tokens=False) == list(b"<eos>")  # never parsed from text
    assert tok.decode([257, 104, 259, 105, 258, 256]) == "hi"
    assert tok.decode([257, 104, 259, 105, 258, 256], skip_special_tokens=False) == "<bos>h<mask>i<eos><pad>"
    assert ByteTokenizer(add_bos=False).encode("hi") == [104, 105]


def test_byte_decode_invalid_utf8_and_tensors():
    tok = ByteTokenizer()
    assert tok.decode([0xFF, 104, 0xE2, 0x82]) == "\ufffdh\ufffd"
    assert tok.decode(torch.tensor([257, 104, 105])) == "hi"
    assert tok.batch_decode(torch.tensor([[104, 105], [105, 256]])) == ["hi", "i"]
    with pytest.raises(TokenizerError, match="outside the byte tokenizer's vocabulary"):
        tok.decode([104, 260])
    with pytest.raises(TokenizerError, match="batch_decode"):
        tok.decode([[104]])


@pytest.mark.parametrize("side", ["right", "left"])
def test_byte_batch_padding(side):
    tok = ByteTokenizer()
    batch = tok(["hi", "hello"], padding_side=side)
    assert batch.input_ids.dtype == torch.long and batch.input_ids.shape == (2, 6)
    short = [257, 104, 105]
    expected = short + [256] * 3 if side == "right" else [256] * 3 + short
    assert batch.input_ids[0].tolist() == expected
    assert batch.attention_mask[0].tolist() == [int(i != 256) for i in expected]
    assert batch["input_ids"][1].tolist() == [257, *b"hello"] and batch.attention_mask[1].all()
    tok.padding_side = side  # the tokenizer-wide default gives the same batch
    assert torch.equal(tok(["hi", "hello"]).input_ids, batch.input_ids)


def test_byte_truncation_and_max_length_padding():
    tok = ByteTokenizer(add_eos=True)
    batch = tok(["abcdef", "x"], max_length=4, truncation=True, padding="max_length")
    assert batch.input_ids.tolist() == [[257, 97, 98, 258], [257, 120, 258, 256]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert tok("abc", max_length=8, padding="max_length").input_ids.shape == (1, 8)
    lists = tok(["abc", "a"], padding=False, return_tensors=None)
    assert lists["input_ids"] == [[257, 97, 98, 99, 258], [257, 97, 258]]
    with pytest.raises(TokenizerError, match="truncation=True"):
        tok(["abcdef"], max_length=4)
    with pytest.raises(TokenizerError, match="no room"):
        tok(["abc"], max_length=1, truncation=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(padding="yes"), "padding must be one of"),
    (dict(padding_side="middle"), "padding_side must be one of"),
    (dict(truncation=True), "needs max_length"),
    (dict(padding="max_length"), "needs max_length"),
    (dict(max_length=0), "positive integer"),
    (dict(return_tensors="np"), "return_tensors"),
    (dict(padding=False), "different lengths"),
])
def test_byte_bad_options(kwargs, message):
    with pytest.raises(TokenizerError, match=message):
        ByteTokenizer()(["a", "abc"], **kwargs)


def test_byte_bad_inputs():
    tok = ByteTokenizer()
    with pytest.raises(TokenizerError, match="list of strings"):
        tok([1, 2])
    with pytest.raises(TokenizerError, match="one string"):
        tok.encode(["a"])


def test_import_is_light():
    code = ("import sys, zoo.data, zoo.data.text; zoo.data.ByteTokenizer().encode('x'); "
            "print('torch' in sys.modules, 'tokenizers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --- byte-level BPE (GPT-2 layout and tokenizer.json) ----------------------------------------------------

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Hello world! Hello, tokenizer.",
             "Numbers 12345 and 678 too.", "It's what they've said: we'll see, won't we?"]
BPE_STRINGS = ["Hello world!", " The lazy fox's  numbers: 42\n\nok", "héllo wörld 🙂 中文", "won't   we'll\tsee",
               "unseen Zebra QUARTZ"]


@pytest.fixture(scope="module")
def bpe_dirs(tmp_path_factory):
    """A byte-level BPE trained here, saved as vocab.json + merges.txt and as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(SENTENCES * 5, trainer)
    gpt2, fast = tmp_path_factory.mktemp("gpt2"), tmp_path_factory.mktemp("fast")
    backend.model.save(str(gpt2))
    backend.save(str(fast / "tokenizer.json"))
    return gpt2, fast


def openai_bpe_encode(text: str, directory) -> list[int]:
    """GPT-2's original pure-Python BPE (openai/gpt-2 encoder.py): an independent reference."""
    import regex
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    encoder = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    lines = (directory / "merges.txt").read_text(encoding="utf-8").split("\n")
    ranks = {tuple(line.split()): i for i, line in enumerate(l for l in lines[1:] if l)}
    byte_chars = bytes_to_unicode()
    pattern = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    ids = []
    for piece in pattern.findall(text):
        word = [byte_chars[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            best = min(zip(word, word[1:]), key=lambda pair: ranks.get(pair, math.inf))
            if best not in ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids += [encoder[token] for token in word]
    return ids


def test_bpe_matches_transformers(bpe_dirs):
    from transformers import GPT2Tokenizer, PreTrainedTokenizerFast

    gpt2_dir, fast_dir = bpe_dirs
    ours = [load_tokenizer(gpt2_dir), load_tokenizer(fast_dir), load_tokenizer(fast_dir / "tokenizer.json")]
    references = [GPT2Tokenizer.from_pretrained(str(gpt2_dir)),
                  PreTrainedTokenizerFast(tokenizer_file=str(fast_dir / "tokenizer.json"))]
    for text in BPE_STRINGS + ["a <|endoftext|> b"]:
        expected = references[0].encode(text)
        assert expected == references[1].encode(text), text
        if "<|endoftext|>" not in text:
            assert expected == openai_bpe_encode(text, gpt2_dir), text
        for tok in ours:
            assert tok.encode(text) == expected, (tok, text)
            assert tok.decode(expected) == references[0].decode(expected, skip_special_tokens=True) == \
                text.replace("<|endoftext|>", "")
            assert tok.decode(expected, skip_special_tokens=False) == text


def test_bpe_special_tokens_and_batching(bpe_dirs):
    tok = load_tokenizer(bpe_dirs[0])
    eot = tok.token_to_id("<|endoftext|>")
    assert isinstance(tok, TextTokenizer) and tok.vocab_size == len(tok) == len(tok.backend.get_vocab())
    assert tok.bos_token_id == tok.eos_token_id == eot and tok.pad_token_id == eot  # no pad: eos pads
    assert tok.unk_token_id is None and tok.mask_token_id is None
    batch = tok(["Hello world!", "Hello"], padding_side="left")
    short = tok.encode("Hello")
    width = len(tok.encode("Hello world!"))
    assert batch.input_ids[1].tolist() == [eot] * (width - len(short)) + short
    assert batch.attention_mask[1].tolist() == [0] * (width - len(short)) + [1] * len(short)
    truncated = tok(BPE_STRINGS, max_length=3, truncation=True)
    assert truncated.input_ids.shape == (len(BPE_STRINGS), 3)
    assert truncated.input_ids[1].tolist() == tok.encode(BPE_STRINGS[1])[:3]


def test_tokenizer_json_post_processor_and_truncation(bpe_dirs, tmp_path):
    """A Llama-style template (bos before every text) survives truncation, as in transformers."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(bpe_dirs[1] / "tokenizer.json"))
    eot = backend.token_to_id("<|endoftext|>")
    backend.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A",
                                                           special_tokens=[("<|endoftext|>", eot)])
    backend.enable_truncation(2)  # settings saved in the file are switched off: the call decides
    backend.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"pad_token": "<|endoftext|>"}))
    tok = load_tokenizer(tmp_path)
    reference = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), pad_token="<|endoftext|>")
    assert tok.encode(BPE_STRINGS[1]) == reference.encode(BPE_STRINGS[1]) and tok.encode("a")[0] == eot
    for side in ("right", "left"):
        reference.padding_side = side
        expected = reference(BPE_STRINGS, padding=True, truncation=True, max_length=5, return_tensors="pt")
        batch = tok(BPE_STRINGS, padding_side=side, truncation=True, max_length=5)
        assert torch.equal(batch.input_ids, expected["input_ids"])
        assert batch.input_ids[:, 0 if side == "right" else -5].eq(eot).all()
        assert torch.equal(batch.attention_mask, expected["attention_mask"])


def test_config_files_declare_special_tokens(bpe_dirs, tmp_path):
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).write_bytes((bpe_dirs[0] / name).read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": None, "pad_token": "<|endoftext|>", "padding_side": "left", "add_prefix_space": True}))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(
        {"eos_token": {"content": "<|endoftext|>", "lstrip": False}}))
    tok = load_tokenizer(tmp_path)
    assert tok.bos_token_id is None and tok.pad_token_id == tok.eos_token_id == tok.token_to_id("<|endoftext|>")
    assert tok.padding_side == "left"
    from transformers import GPT2Tokenizer
    assert tok.encode("Hello world") == GPT2Tokenizer.from_pretrained(str(tmp_path)).encode("Hello world")
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"mask_token": "<mask>"}))
    with pytest.raises(TokenizerError, match="'<mask>' is not in the tokenizer's vocabulary"):
        load_tokenizer(tmp_path)


# --- WordPiece (BERT vocab.txt) ---------------------------------------------------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump", "##s", "##ed",
         "over", "lazy", "dog", "cafe", "un", "##aff", "##able", "hello", "world", ",", ".", "!", "'", "?",
         "中", "文", "h", "##e", "##l", "##o", "a", "b", "c", "Hello", "The", "Fox"]
BERT_STRINGS = ["The quick brown fox jumped over the lazy dog.", "Hello, WORLD! unaffable café",
                "中文 words unknown?", "fox's  jumps\t\nhello", "HeLLo  Fox"]


@pytest.fixture
def bert_dir(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("lower", [True, False])
def test_wordpiece_matches_transformers(bert_dir, lower):
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy  # pure Python

    if not lower:
        (bert_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    tok = load_tokenizer(bert_dir)
    slow = BertTokenizerLegacy(str(bert_dir / "vocab.txt"), do_lower_case=lower)
    fast = BertTokenizer.from_pretrained(str(bert_dir), do_lower_case=lower)
    for text in BERT_STRINGS:
        expected = slow.encode(text)
        assert expected[0] == VOCAB.index("[CLS]") and expected[-1] == VOCAB.index("[SEP]")
        assert tok.encode(text) == fast.encode(text) == expected, text
        assert tok.encode(text, add_special_tokens=False) == expected[1:-1]
        for skip in (True, False):
            decoded = tok.decode(expected, skip_special_tokens=skip)
            assert decoded == fast.decode(expected, skip_special_tokens=skip), text
            if "'" not in text:  # the slow tokenizer's clean-up also joins " ' " across tokens; fast does not
                assert decoded == slow.decode(expected, skip_special_tokens=skip), text


def test_wordpiece_special_tokens_and_batching(bert_dir):
    from transformers import BertTokenizer

    tok = load_tokenizer(bert_dir / "vocab.txt")
    ids = (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id)
    assert ids == (0, 1, 2, 3, 4)
    assert (tok.bos_token_id, tok.eos_token_id, tok.vocab_size) == (2, 3, len(VOCAB))
    assert tok.encode("the [MASK] dog") == [2, 5, 4, 14, 3]
    reference = BertTokenizer.from_pretrained(str(bert_dir))
    for side in ("right", "left"):
        reference.padding_side = side
        expected = reference(BERT_STRINGS, padding=True, truncation=True, max_length=7, return_tensors="pt")
        batch = tok(BERT_STRINGS, padding_side=side, truncation=True, max_length=7)
        assert torch.equal(batch.input_ids, expected["input_ids"]), side
        assert torch.equal(batch.attention_mask, expected["attention_mask"]), side
    with pytest.raises(TokenizerError, match="no room"):
        tok(["the dog"], max_length=1, truncation=True)
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        tok.decode([2, len(VOCAB)])


# --- errors -----------------------------------------------------------------------------------------------

def test_missing_and_unsupported(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer at .*tokenizer.json, vocab.json \\+ merges.txt"):
        load_tokenizer(tmp_path / "absent")
    with pytest.raises(TokenizerError, match="no tokenizer files in .*looked for tokenizer.json.*found nothing"):
        load_tokenizer(tmp_path)
    (tmp_path / "spiece.model").write_bytes(b"\x00")  # read now (tests/data/test_sentencepiece.py); this is no model
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TokenizerError, match="spiece.model is not a SentencePiece model"):
        load_tokenizer(tmp_path)
    with pytest.raises(TokenizerError, match="spiece.model is not a SentencePiece model"):
        load_tokenizer(tmp_path / "spiece.model")
    (tmp_path / "vocab.json").write_text('{"a": 0}')
    with pytest.raises(TokenizerError, match="needs vocab.json and merges.txt; merges.txt is missing"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    with pytest.raises(TokenizerError, match="not a readable tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(TokenizerError, match="not a tokenizer file"):
        load_tokenizer(tmp_path / "weights.bin")


def test_bad_config_files(bert_dir):
    (bert_dir / "tokenizer_config.json").write_text("{broken")
    with pytest.raises(TokenizerError, match="could not read .*tokenizer_config.json"):
        load_tokenizer(bert_dir)
    (bert_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": "yes"}))
    with pytest.raises(TokenizerError, match="do_lower_case has the wrong type"):
        load_tokenizer(bert_dir)
    (bert_dir / "tokenizer_config.json").write_text(json.dumps({"cls_token": "<cls>"}))
    with pytest.raises(TokenizerError, match="vocab.txt lacks the cls token '<cls>'"):
        load_tokenizer(bert_dir)


def test_hub_reference_fetches_only_tokenizer_files(bpe_dirs, hub_cache):
    import shutil

    snapshot = hub_cache("someone/tiny-gpt2")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(bpe_dirs[0] / name, snapshot / name)
    tok = load_tokenizer("hf-hub:someone/tiny-gpt2")
    assert tok.encode(BPE_STRINGS[1]) == load_tokenizer(bpe_dirs[0]).encode(BPE_STRINGS[1])
    with pytest.raises(TokenizerError, match="hf-hub:nobody/nothing: not in the local Hugging Face cache"):
        load_tokenizer("hf-hub:nobody/nothing")
