"""CLIP's tokenizer against open_clip's ``SimpleTokenizer`` (OpenAI's code) on its real vocabulary.

The reference vocabulary is the one open_clip ships (``bpe_simple_vocab_16e6.txt.gz``, read from the
installed package: nothing downloads). A Hugging Face CLIP directory is written from it offline (the
vocab.json + merges.txt that HF CLIP repositories hold, plus what transformers' CLIPTokenizer saves).
"""
from __future__ import annotations

import gzip
import json
import random
import unicodedata

import pytest
import torch

from zoo.data import TokenizerError, load_tokenizer
from zoo.data.text.clip import OPENAI_TOKENS, ClipTokenizer, bytes_to_unicode, clean

open_clip_tokenizer = pytest.importorskip("open_clip.tokenizer")

SOT, EOT = 49406, 49407

WORDS = ["a", "photo", "of", "the", "cat", "dog", "sitting", "on", "grass", "red", "car", "beautiful", "sunset",
         "over", "mountains", "painting", "portrait", "woman", "man", "city", "night", "Tokyo", "New York",
         "unbelievably", "antidisestablishmentarianism", "jpeg", "HDR", "iPhone", "McDonald", "x-ray"]
ACCENTED = ["café", "naïve", "résumé", "Zürich", "São Paulo", "Ångström", "jalapeño", "Dvořák", "Việt Nam",
            "crème brûlée", "İstanbul", "straße", "ΣΊΣΥΦΟΣ", "Ελλάδα", "Москва"]
ACCENTED = ACCENTED + [unicodedata.normalize("NFD", w) for w in ACCENTED]  # NFD: combining marks split off
PUNCTUATION = [".", ",", "!", "?", "...", ":", ";", "-", "—", "–", "(", ")", "[", "]", '"', "'", "/", "#", "@",
               "&", "*", "%", "$", "€", "£", "¥", "…", "«", "»", "·", "•", "~", "^", "|", "\\", "_", "+", "=",
               "<", ">", "{", "}", "?!", "!!!", "--", "'.'", "`"]
CONTRACTIONS = ["it's", "don't", "we're", "I've", "I'm", "they'll", "he'd", "IT'S", "Don'T", "rock'n'roll",
                "'s", "'t", "'re", "o'clock", "cats'", "'''", "y'all'd've", "'ſ"]
NUMBERS = ["0", "7", "42", "2024", "3.14", "1,000,000", "10%", "1st", "4K", "24/7", "½", "²", "Ⅻ", "٣", "१२",
           "1e-9", "#1", "007"]
QUOTES = ["“quoted”", "‘single’", "it’s", "don’t", "„German“", "«French»", "‹›", "″", "‛"]
HTML = ["&amp;", "&lt;b&gt;bold&lt;/b&gt;", "&quot;hi&quot;", "&#39;", "&#x27;", "&nbsp;", "&amp;amp;",
        "&amp;lt;", "&copy; 2024", "AT&T", "&unknown;", "&", "&#128512;", "Tom &amp; Jerry"]
SCRIPTS = ["中文字符", "日本語のテキスト", "カタカナ", "한국어 문장", "ＦＵＬＬＷＩＤＴＨ", "ｶﾀｶﾅ", "नमस्ते दुनिया",
           "مرحبا بالعالم", "שלום עולם", "ภาษาไทย", "ქართული", "Հայերեն", "ᚠᛇᚻ", "𝐁𝐨𝐥𝐝", "Ⓐⓑⓒ", "ﬁne ﬂower"]
EMOJI = ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "❤️", "🐱‍👤", "✨", "☕", "🏳️‍🌈", "🙂🙂🙂", ":-)", "¯\\_(ツ)_/¯"]
WHITESPACE = [" ", "  ", "\n", "\t", "\r\n", "\n\n\n", "\u00a0", "\u3000", "\u2009", "\u200b", "\x0b", "\x0c",
              "\x1c", "\u2028", "\u0085", " \t \n "]
SPECIAL = ["<start_of_text>", "<end_of_text>", "<|startoftext|>", "<|endoftext|>", "<START_OF_TEXT>",
           "&lt;end_of_text&gt;", "<ſtart_of_text>", ".<end_of_text>", "x<end_of_text>y",
           "<end_of_text><start_of_text>"]
ODD = ["\x00", "\x1b[31mred\x1b[0m", "\ufeffBOM", "e\u0301", "a\u20dd", "\ufffd", "Ã©", "â€™", "Ã¼ber",
       "ÃƒÂ©", "\U000e0041", "\u202eRTL", "ǅ", "ŉ", "K", "Å", "Ω"]
MOJIBAKE_SOURCES = ["café", "it’s", "naïve", "“quoted”", "Zürich", "😀", "日本", "—"]
POOLS = [WORDS * 4, ACCENTED, PUNCTUATION, CONTRACTIONS, NUMBERS, QUOTES, HTML, SCRIPTS, EMOJI, ODD]
SEPARATORS = ["", " ", " ", " ", "  ", "\n", "\t", " \n "]


def mojibake(text: str, rng: random.Random) -> str:
    """UTF-8 read as Windows-1252 or Latin-1, once or twice: what ftfy repairs."""
    for _ in range(rng.choice([1, 1, 2])):
        text = text.encode("utf-8").decode(rng.choice(["cp1252", "latin-1"]), errors="ignore")
    return text


def caption_strings() -> list[str]:
    """1,200+ varied strings, the same on every run: every named case alone, then random mixtures."""
    rng = random.Random(12)
    texts = ["", " ", "\n\t ", "a", "A photo of a cat.", "a photo of a cat"]
    texts += [x for pool in POOLS[1:] + [WHITESPACE, SPECIAL] for x in pool]
    texts += [mojibake(source, rng) for source in MOJIBAKE_SOURCES for _ in range(3)]
    for _ in range(950):
        pieces = [rng.choice(rng.choice(POOLS)) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.15:
            pieces.append(mojibake(rng.choice(MOJIBAKE_SOURCES + WORDS), rng))
        if rng.random() < 0.05:
            pieces.insert(rng.randrange(len(pieces)), rng.choice(SPECIAL))
        text = "".join(piece + rng.choice(SEPARATORS) for piece in pieces)
        case = rng.random()
        texts.append(text.upper() if case < 0.1 else text.title() if case < 0.2 else text)
    for n in range(40):  # long captions: cut to 75 tokens + end-of-text
        texts.append(" ".join(rng.choice(WORDS + ACCENTED + SCRIPTS + EMOJI) for _ in range(30 + 5 * n)))
    texts += ["x" * 500, "ab " * 200, "😀" * 100, "1" * 90, "<end_of_text>" * 80]
    return texts


TEXTS = caption_strings()


@pytest.fixture(scope="module")
def bpe_file():
    return open_clip_tokenizer.default_bpe()


@pytest.fixture(scope="module")
def ours(bpe_file):
    return ClipTokenizer.from_bpe_file(bpe_file)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, bpe_file):
    """A Hugging Face CLIP directory: vocab.json + merges.txt (OpenAI's special-token names), and the
    tokenizer.json + tokenizer_config.json that transformers' CLIPTokenizer saves."""
    from transformers import CLIPTokenizer

    vocab, merges = openai_vocab(bpe_file)
    directory = tmp_path_factory.mktemp("hf-clip")
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n",
                                          encoding="utf-8")
    CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77).save_pretrained(str(directory))
    return directory


def openai_vocab(bpe_file) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The encoder and merges as OpenAI's simple_tokenizer builds them (Hugging Face's vocab.json)."""
    lines = gzip.open(bpe_file).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + list(OPENAI_TOKENS)
    return {t: i for i, t in enumerate(tokens)}, merges


def test_generated_strings_cover_the_cases(ours):
    """The comparison below is only as good as its strings: check they hold what they are meant to."""
    encoded = [ours.encode(t) for t in TEXTS]
    cleaned = [clean(t) for t in TEXTS]
    assert len(set(TEXTS)) >= 1000
    assert sum(len(ids) > 77 for ids in encoded) >= 40  # truncated
    assert sum(c != " ".join(t.split()).lower() for t, c in zip(TEXTS, cleaned)) >= 100  # ftfy / HTML changed them
    assert sum(SOT in ids[1:] or EOT in ids[:-1] for ids in encoded) >= 20  # special tokens inside
    assert sum(c == "" for c in cleaned) >= 5  # empty after cleaning


def test_matches_open_clip_tokenize(ours):
    """Every id of open_clip.tokenize's [N, 77] tensor, on 1,200+ strings, with open_clip's padding (0)."""
    expected = open_clip_tokenizer.tokenize(TEXTS)
    batch = ours(TEXTS)
    assert batch.input_ids.shape == expected.shape == (len(TEXTS), 77)
    mismatched = [TEXTS[i] for i in (batch.input_ids != expected).any(dim=1).nonzero().flatten().tolist()]
    assert not mismatched, f"{len(mismatched)} of {len(TEXTS)} differ, e.g. {mismatched[:5]!r}"
    lengths = torch.tensor([min(len(ours.encode(t)), 77) for t in TEXTS])
    assert torch.equal(batch.attention_mask, (torch.arange(77) < lengths[:, None]).long())
    assert batch.input_ids.gather(1, lengths[:, None] - 1).eq(EOT).all()  # end-of-text stays last when cut


def test_matches_simple_tokenizer_encode(ours):
    """Unpadded, untruncated ids: SimpleTokenizer.encode between start and end of text."""
    reference = open_clip_tokenizer.SimpleTokenizer()
    for text in TEXTS:
        assert ours.encode(text) == [SOT, *reference.encode(text), EOT], text
        assert ours.encode(text, add_special_tokens=False) == reference.encode(text), text


def spells_special(text: str) -> bool:
    """Spells a special token, ſ (long s) counting as s, as the split's case-insensitive match does."""
    return any(s in clean(text).replace("ſ", "s") for s in (*OPENAI_TOKENS, "<start_of_text>", "<end_of_text>"))


def test_hf_directory_matches_open_clip(hf_dir, ours):
    """A Hugging Face CLIP directory loads as CLIP (not as GPT-2 BPE) and gives open_clip's ids;
    its pad token is end-of-text (49407), as the directory says, where open_clip pads with 0.
    Its special tokens are spelled as OpenAI's, <|startoftext|> and <|endoftext|> (open_clip renamed
    them <start_of_text> and <end_of_text>): texts spelling either are compared separately."""
    tok = load_tokenizer(hf_dir)
    assert isinstance(tok, ClipTokenizer) and tok.pad_token_id == EOT and tok.model_max_length == 77
    texts = [t for t in TEXTS if not spells_special(t)]
    assert len(texts) >= 1000
    expected = open_clip_tokenizer.tokenize(texts)
    batch = tok(texts)
    padding = batch.attention_mask == 0
    assert torch.equal(batch.input_ids.masked_fill(padding, 0), expected)
    assert batch.input_ids[padding].eq(EOT).all()
    assert torch.equal(batch.attention_mask, ours(texts).attention_mask)
    a, b, dot = tok.encode("a", add_special_tokens=False), tok.encode("b", add_special_tokens=False), [269]
    assert tok.encode("a<|endoftext|>B") == [SOT, *a, EOT, *b, EOT]  # a whole word of the split: special
    assert tok.encode("<|STARTOFTEXT|>b") == [SOT, SOT, *b, EOT]  # lowercased first, as OpenAI
    assert EOT not in tok.encode("a.<|endoftext|>")[:-1]  # ".<|" is one run of punctuation: not special
    assert EOT not in tok.encode("a<end_of_text>")[:-1] and dot == tok.encode(".", add_special_tokens=False)
    layouts = {"class + tokenizer.json": ["tokenizer_config.json", "tokenizer.json"],
               "tokenizer.json alone": ["tokenizer.json"], "vocab.json + merges.txt alone": ["vocab.json", "merges.txt"]}
    for n, (layout, files) in enumerate(layouts.items()):  # found by the config's class, or by the vocabulary
        other_dir = hf_dir.parent / f"{hf_dir.name}-{n}"
        other_dir.mkdir(exist_ok=True)
        for file in files:
            (other_dir / file).write_bytes((hf_dir / file).read_bytes())
        other = load_tokenizer(other_dir)
        assert isinstance(other, ClipTokenizer), layout
        assert torch.equal(other(texts[:300]).input_ids, batch.input_ids[:300]), layout


def test_hf_directory_matches_transformers_after_cleaning(hf_dir):
    """transformers' CLIPTokenizer (tokenizers backend) skips ftfy and HTML unescaping; given text
    already cleaned as OpenAI cleans it, its ids and masks equal ours. Texts holding special-token
    spellings are left out: transformers matches those anywhere, OpenAI only as whole words."""
    from transformers import CLIPTokenizer

    reference = CLIPTokenizer.from_pretrained(str(hf_dir))
    tok = load_tokenizer(hf_dir)
    texts = [t for t in TEXTS if not any(s in clean(t) for s in OPENAI_TOKENS) and "ſ" not in clean(t)]
    assert len(texts) >= 1000
    expected = reference([clean(t) for t in texts], padding="max_length", max_length=77, truncation=True,
                         return_tensors="pt")
    batch = tok(texts, padding="max_length", max_length=77, truncation=True)
    assert torch.equal(batch.input_ids, expected["input_ids"])
    assert torch.equal(batch.attention_mask, expected["attention_mask"])
    # Where the cleaning matters, transformers differs from OpenAI (and so from us):
    for text in ["Tom &amp; Jerry", "itâ€™s a cafÃ©"]:
        assert tok.encode(text) != reference.encode(text) and tok.encode(text) == tok.encode(clean(text))


def test_defaults_padding_truncation_and_decode(ours):
    long = "a photo of " * 40
    batch = ours(["a photo of a cat", long])
    assert batch.input_ids.shape == (2, 77)
    assert batch.input_ids[0, :7].tolist() == [SOT, 320, 1125, 539, 320, 2368, EOT]
    assert batch.input_ids[0, 7:].eq(0).all() and batch.attention_mask[0].sum() == 7
    assert batch.input_ids[1, -1] == EOT and batch.attention_mask[1].all()
    longest = ours(["a cat", "a photo of a cat"], padding=True)
    assert longest.input_ids.shape == (2, 7)
    with pytest.raises(TokenizerError, match="text 1 has 122 tokens, more than max_length=77"):
        ours(["a cat", long], truncation=False)
    assert len(ours.encode(long)) == 122  # encode never truncates
    assert ours(["a cat"], max_length=5, truncation=True).input_ids.tolist() == [[SOT, 320, 2368, EOT, 0]]
    with pytest.raises(TokenizerError, match="no room for the 2 special tokens"):
        ours(["a cat"], max_length=1)
    assert ours.decode(batch.input_ids[0]) == "a photo of a cat"
    assert ours.decode(ours.encode("Hello, World! It's 2024 &amp; CAFÉ")) == "hello , world ! it 's 2 0 2 4 & café"
    assert ours.decode(batch.input_ids[0], skip_special_tokens=False).startswith("<start_of_text>a photo")
    assert ours.vocab_size == len(ours) == 49408 and ours.token_to_id("<end_of_text>") == EOT
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        ours.decode([49408])


def test_open_clip_file_through_load_tokenizer(bpe_file):
    tok = load_tokenizer(bpe_file)
    assert isinstance(tok, ClipTokenizer) and tok.pad_token_id == 0
    assert torch.equal(tok(TEXTS[:200]).input_ids, open_clip_tokenizer.tokenize(TEXTS[:200]))


def test_pad_token_from_config(hf_dir, tmp_path):
    """Some open_clip conversions on the hub declare pad_token "!" (id 0), to pad as open_clip does."""
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).write_bytes((hf_dir / name).read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "pad_token": "!", "model_max_length": 77}))
    tok = load_tokenizer(tmp_path)
    assert tok.pad_token_id == 0
    assert torch.equal(tok(TEXTS[:100]).input_ids, open_clip_tokenizer.tokenize(TEXTS[:100]))


def test_clear_errors(hf_dir, tmp_path, bpe_file):
    (tmp_path / "vocab.json").write_bytes((hf_dir / "vocab.json").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CLIPTokenizer"}))
    with pytest.raises(TokenizerError, match="a CLIP tokenizer needs vocab.json and merges.txt; merges.txt is missing"):
        load_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nh e\nthree symbols here\n")
    with pytest.raises(TokenizerError, match="merges.txt, line 3: a merge is two symbols"):
        load_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1}))
    with pytest.raises(TokenizerError, match="not a CLIP vocabulary: it lacks '<\\|startoftext\\|>'"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CLIPTokenizer",
                                                                "pad_token": "<pad>"}))
    (tmp_path / "vocab.json").write_bytes((hf_dir / "vocab.json").read_bytes())
    with pytest.raises(TokenizerError, match="the pad token '<pad>' is not in the CLIP vocabulary"):
        load_tokenizer(tmp_path)
    broken = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(TokenizerError, match="could not read the CLIP BPE file"):
        load_tokenizer(broken)
    broken.write_bytes(gzip.compress(b"header\na b\n"))
    with pytest.raises(TokenizerError, match="needs 48894 merges after the header line; it has 1"):
        ClipTokenizer.from_bpe_file(broken)
    lines = gzip.open(bpe_file).read().decode("utf-8").split("\n")
    broken.write_bytes(gzip.compress("\n".join(lines[:10] + ["a b c"] + lines[11:]).encode("utf-8")))
    with pytest.raises(TokenizerError, match="line 11 is not a pair"):
        ClipTokenizer.from_bpe_file(broken)
