"""Whisper's tokenizer against OpenAI's (openai-whisper, on tiktoken) and transformers' ``WhisperTokenizer``.

The reference vocabularies are the ones openai-whisper ships (``whisper/assets/multilingual.tiktoken``
and ``gpt2.tiktoken``, read from the installed package); Hugging Face directories are written by our
own `WhisperTokenizer.save` (and by transformers' ``save_pretrained``) into ``tmp_path``. Nothing
downloads. Most format and error checks use `WhisperTokenizer.byte_level`, which needs no file.
"""
from __future__ import annotations

import json
import random
import re
import types
import unicodedata
from pathlib import Path

import pytest
import torch

import zoo.data
import zoo.data.text
from zoo.data import TokenizerError, WhisperTokenizer, load_tokenizer
from zoo.data.text.whisper_tokens import LANGUAGES

whisper_tokenizer = pytest.importorskip("whisper.tokenizer")  # openai-whisper (dev extra), with tiktoken
whisper_decoding = pytest.importorskip("whisper.decoding")
ASSETS = Path(whisper_tokenizer.__file__).parent / "assets"

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world", "speech", "recognition",
         "Whisper", "transcribe", "antidisestablishmentarianism", "McDonald", "iPhone", "HTTPS", "x-ray", "e-mail"]
ACCENTED = ["café", "naïve", "résumé", "Zürich", "São Paulo", "Ångström", "jalapeño", "Dvořák", "Việt Nam",
            "crème brûlée", "İstanbul", "straße", "Œuvre", "Łódź", "ÉCOLE"]
ACCENTED = ACCENTED + [unicodedata.normalize("NFD", w) for w in ACCENTED]  # combining marks split off
CJK = ["你好世界", "中文字符", "日本語のテキスト", "カタカナ", "ひらがな", "한국어 문장", "漢字", "ＦＵＬＬＷＩＤＴＨ", "ｶﾀｶﾅ", "「引用」", "『書名』"]
CYRILLIC = ["Москва", "привет мир", "Україна", "ЁЛКА", "съешь же ещё этих мягких французских булок", "Беларусь"]
ARABIC = ["مرحبا بالعالم", "السلام عليكم", "שלום עולם", "فارسی", "اردو", "٣٤٥"]
DEVANAGARI = ["नमस्ते दुनिया", "हिन्दी", "मराठी", "संस्कृतम्", "१२३", "ভাষা", "தமிழ்", "ภาษาไทย"]
EMOJI = ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "❤️", "✨", "☕", "🏳️‍🌈", "🙂🙂🙂", ":-)", "¯\\_(ツ)_/¯", "♪", "♪♪♪", "♫", "🎵"]
DIGITS = ["0", "7", "42", "2024", "3.14159", "1,000,000", "10%", "1st", "4K", "24/7", "½", "²", "Ⅻ", "007",
          "1e-9", "$100", "€5", "12:30", "+49 30 1234567"]
PUNCTUATION = [".", ",", "!", "?", "...", ":", ";", "-", "—", "–", "(", ")", "[", "]", '"', "'", "/", "#", "@",
               "&", "*", "%", "…", "«", "»", "~", "^", "|", "\\", "_", "+", "=", "<", ">", "{", "}", "?!", "--",
               "<<", ">>", "((", "))", "[MUSIC]", "(applause)", "- ", " '"]
CONTRACTIONS = ["it's", "don't", "we're", "I've", "I'm", "they'll", "he'd", "IT'S", "Don'T", "rock'n'roll",
                "'s", "'t", "'re", "o'clock", "cats'", "'''", "y'all'd've", "it’s"]
WHITESPACE = [" ", "  ", "   ", "\n", "\t", "\r\n", "\n\n\n", "\t\t", " \t \n ", "\u00a0", "\u3000", "\u2009",
              "\u200b", "\x0b", "\x0c", "\u2028", "\u0085", " " * 17]
SPECIAL = ["<|en|>", "<|endoftext|>", "<|startoftranscript|>", "<|transcribe|>", "<|translate|>", "<|notimestamps|>",
           "<|nospeech|>", "<|startofprev|>", "<|startoflm|>", "<|de|>", "<|haw|>", "<|0.00|>", "<|1.00|>",
           "<|29.98|>", "<|30.00|>", "<|yue|>",  # <|yue|> is a token only with 100 languages
           "<|0.01|>", "<|30.02|>", "<|EN|>", "<|xx|>", "< |en| >", "<|en", "en|>", "<||>"]  # not tokens
ODD = ["\x00", "\x1b[31mred\x1b[0m", "\ufeffBOM", "e\u0301", "a\u20dd", "\ufffd", "Ã©", "â€™", "\U000e0041",
       "\u202eRTL", "ǅ", "K", "Ω", "𝐁𝐨𝐥𝐝", "ﬁne", "\x7f"]
POOLS = [WORDS * 4, ACCENTED, CJK, CYRILLIC, ARABIC, DEVANAGARI, EMOJI, DIGITS, PUNCTUATION, CONTRACTIONS, ODD]
SEPARATORS = ["", " ", " ", " ", "  ", "\n", "\t", " \n ", "   ", "\n\n"]


def varied_strings() -> list[str]:
    """1,000+ strings, the same on every run: every named case alone, then random mixtures."""
    rng = random.Random(13)
    texts = ["", "a", "Hello world", " Hello world", "Hello world ", "a" * 300, "ab" * 150, " " * 60, "\t" * 5 + "x",
             "1" * 50, "😀" * 20, "<|en|>" * 5, "<|en|><|de|><|transcribe|>", "x<|endoftext|>y", "héllo <|en|> there"]
    texts += [x for pool in POOLS[1:] + [WHITESPACE, SPECIAL] for x in pool]
    for _ in range(900):
        pieces = [rng.choice(rng.choice(POOLS)) for _ in range(rng.randint(1, 10))]
        if rng.random() < 0.12:
            pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(SPECIAL))
        if rng.random() < 0.1:
            pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(WHITESPACE))
        text = "".join(piece + rng.choice(SEPARATORS) for piece in pieces)
        case = rng.random()
        texts.append(text.upper() if case < 0.08 else text.title() if case < 0.16 else text.swapcase()
                     if case < 0.2 else text)
    texts += ["".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randint(1, 30))) for _ in range(100)]
    return texts


TEXTS = varied_strings()
TIMESTAMP_TEXT = re.compile(r"<\|(\d+\.\d+)\|>")  # transformers' WhisperTokenizer.timestamp_pat


@pytest.fixture(scope="module")
def vocabularies():
    """(ours, OpenAI's) per vocabulary: multilingual (99 languages), large-v3 (100) and English-only."""
    multilingual = WhisperTokenizer.from_tiktoken(ASSETS / "multilingual.tiktoken")
    return {
        "multilingual": (multilingual, whisper_tokenizer.get_tokenizer(True, num_languages=99)),
        "v3": (WhisperTokenizer.from_tiktoken(ASSETS / "multilingual.tiktoken", num_languages=100),
               whisper_tokenizer.get_tokenizer(True, num_languages=100)),
        "english": (WhisperTokenizer.from_tiktoken(ASSETS / "gpt2.tiktoken", multilingual=False),
                    whisper_tokenizer.get_tokenizer(False)),
    }


VOCABULARIES = ["multilingual", "v3", "english"]


def test_generated_strings_cover_the_cases(vocabularies):
    """The comparisons are only as good as their strings: check they hold what they are meant to."""
    ours, _ = vocabularies["multilingual"]
    encoded = [ours.encode(t) for t in TEXTS]
    assert len(set(TEXTS)) >= 1000
    assert sum(any(i >= ours.layout.eot for i in ids) for ids in encoded) >= 80  # special tokens written in text
    assert sum(any(i >= ours.layout.timestamp_begin for i in ids) for ids in encoded) >= 5  # timestamps
    assert sum("  " in t or "\n" in t or "\t" in t for t in TEXTS) >= 200  # runs of whitespace
    scripts = [CJK, CYRILLIC, ARABIC, DEVANAGARI, EMOJI]
    assert all(sum(any(w in t for w in pool) for t in TEXTS) >= 50 for pool in scripts)


@pytest.mark.parametrize("name", VOCABULARIES)
def test_encode_and_decode_match_openai(vocabularies, name):
    """Ids of ``encode(text, allowed_special="all")`` and the decoded text, on 1,000+ strings."""
    ours, ref = vocabularies[name]
    expected = [ref.encode(t, allowed_special="all") for t in TEXTS]
    got = [ours.encode(t) for t in TEXTS]
    mismatched = [t for t, a, b in zip(TEXTS, got, expected) if a != b]
    assert not mismatched, f"{len(mismatched)} of {len(TEXTS)} differ, e.g. {mismatched[:5]!r}"
    batch = ours(TEXTS, add_special_tokens=False, padding=False, return_tensors=None).input_ids
    assert batch == expected
    assert [ours.decode(ids) for ids in expected] == [ref.decode(ids) for ids in expected]
    # text round-trips, but for timestamps, which both decoders leave out
    kept = [(t, ids) for t, ids in zip(TEXTS, expected) if max(ids, default=0) < ref.timestamp_begin]
    assert len(kept) > 900 and all(ours.decode(ids) == t for t, ids in kept)


@pytest.mark.parametrize("name", VOCABULARIES)
def test_any_ids_decode_as_openai(vocabularies, name):
    """Random ids, special ones and cut UTF-8 sequences included, decode to OpenAI's text."""
    ours, ref = vocabularies[name]
    rng = random.Random(5)
    for _ in range(500):
        top = ours.vocab_size if rng.random() < 0.2 else ours.layout.eot  # some rows with special tokens
        ids = [rng.randrange(top) for _ in range(rng.randint(0, 12))]
        assert ours.decode(ids) == ref.decode(ids), ids
        assert ours.decode(ids, skip_special_tokens=True) == ref.decode([i for i in ids if i < ref.eot]), ids


@pytest.mark.parametrize("name", VOCABULARIES)
def test_layout_matches_openai(vocabularies, name):
    ours, ref = vocabularies[name]
    layout = ours.layout
    assert layout.vocab_size == ours.vocab_size == len(ours) == ref.encoding.n_vocab
    assert (layout.eot, layout.sot, layout.translate, layout.transcribe, layout.start_of_lm, layout.start_of_prev,
            layout.no_speech, layout.no_timestamps, layout.timestamp_begin) == (
        ref.eot, ref.sot, ref.translate, ref.transcribe, ref.sot_lm, ref.sot_prev, ref.no_speech, ref.no_timestamps,
        ref.timestamp_begin)
    assert {t: ours.token_to_id(t) for t in ref.special_tokens} == ref.special_tokens
    assert layout.num_languages == ref.num_languages and layout.multilingual == (name != "english")
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id) == (ref.sot, ref.eot, ref.eot)


@pytest.mark.parametrize("name", VOCABULARIES)
def test_suppress_tokens_match_openai_decoding(vocabularies, name):
    """``suppress_tokens`` is what OpenAI's DecodingTask suppresses with default options; ``begin_suppress_tokens``
    what its suppress_blank adds at the first step."""
    ours, ref = vocabularies[name]
    task = types.SimpleNamespace(options=whisper_decoding.DecodingOptions(), tokenizer=ref)
    assert ours.suppress_tokens == list(whisper_decoding.DecodingTask._get_suppress_tokens(task))
    assert ours.non_speech_tokens == list(ref.non_speech_tokens)
    assert ours.begin_suppress_tokens == ref.encode(" ") + [ref.eot]


@pytest.mark.parametrize("language, task", [("en", "transcribe"), ("de", "translate"), ("japanese", "transcribe"),
                                            ("Haitian Creole", "translate")])
def test_prefix_matches_openai(vocabularies, language, task):
    ours, _ = vocabularies["multilingual"]
    ref = whisper_tokenizer.get_tokenizer(True, language=language.lower(), task=task)
    ours.set_prefix(language, task)
    assert ours.prefix_tokens == list(ref.sot_sequence_including_notimestamps) == ours.layout.prompt(language, task)
    ours.set_prefix(language, task, timestamps=True)
    assert ours.prefix_tokens == list(ref.sot_sequence)
    assert ours.encode("hi there", add_special_tokens=True) == [*ref.sot_sequence, *ref.encode("hi there"), ref.eot]
    ours.set_prefix()
    english, english_ref = vocabularies["english"]
    english.set_prefix("en", "transcribe")
    assert english.prefix_tokens == list(english_ref.sot_sequence_including_notimestamps)
    english.set_prefix()


# --- transformers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(vocabularies, tmp_path_factory):
    """Our save of the multilingual and English-only vocabularies (Hugging Face files)."""
    return {name: vocabularies[name][0].save(tmp_path_factory.mktemp(f"whisper-{name}"))
            for name in ("multilingual", "english")}


@pytest.fixture(scope="module")
def hf(saved):
    """transformers' WhisperTokenizer on the files our save writes: multilingual and English-only."""
    transformers = pytest.importorskip("transformers")
    return {name: transformers.WhisperTokenizer.from_pretrained(str(directory), local_files_only=True)
            for name, directory in saved.items()}


def _set_hf_prefix(tokenizer, language, task, timestamps) -> None:
    tokenizer.language, tokenizer.task = language, task  # set_prefix_tokens keeps settings passed as None
    tokenizer.set_prefix_tokens(predict_timestamps=timestamps)


SETTINGS = [(None, None, False), ("en", "transcribe", False), ("de", "translate", False),
            ("french", "transcribe", True), (None, "translate", False), ("ja", None, False), (None, None, True)]


@pytest.mark.parametrize("language, task, timestamps", SETTINGS)
def test_labels_match_transformers(vocabularies, hf, language, task, timestamps):
    """``tok(text)`` with a language/task set: transformers' prefix tokens, the text, <|endoftext|>."""
    ours, theirs = vocabularies["multilingual"][0], hf["multilingual"]
    _set_hf_prefix(theirs, language, task, timestamps)
    ours.set_prefix(language, task, timestamps=timestamps)
    try:
        assert ours.prefix_tokens == theirs.prefix_tokens
        texts = TEXTS[:300:3]
        expected = [theirs(t).input_ids for t in texts]
        assert [ours.encode(t, add_special_tokens=True) for t in texts] == expected
        assert ours(texts, padding=False, return_tensors=None).input_ids == expected
    finally:
        ours.set_prefix()
        _set_hf_prefix(theirs, None, None, False)


@pytest.mark.parametrize("name", ["multilingual", "english"])
def test_encode_decode_match_transformers(vocabularies, hf, name):
    """Text ids, and decoding with and without special tokens (a previous-text prompt and timestamps in
    the ids), on a few hundred strings."""
    ours, theirs = vocabularies[name][0], hf[name]
    layout = ours.layout
    texts = TEXTS[::3]
    assert len(texts) >= 300
    assert [ours.encode(t) for t in texts] == [theirs.encode(t, add_special_tokens=False) for t in texts]
    prompt = [layout.start_of_prev, *ours.encode(" earlier words")]
    for i, text in enumerate(texts):
        ids = ours.encode(text, add_special_tokens=True)
        if i % 3 == 0:
            ids = prompt + ids
        if i % 4 == 0:
            ids = [*ids[:2], layout.timestamp_begin, *ids[2:-1], layout.timestamp_begin + 50, ids[-1]]
        for skip in (False, True):
            # transformers also deletes text spelled like a timestamp ("<|0.01|>" typed as text), as OpenAI does not
            expected = TIMESTAMP_TEXT.sub("", ours.decode(ids, skip_special_tokens=skip))
            assert expected == theirs.decode(ids, skip_special_tokens=skip), (text, skip)
    batch = [ours.encode(t, add_special_tokens=True) for t in texts[:20]]
    assert ours.batch_decode(batch) == theirs.batch_decode(batch)
    assert ours.batch_decode(batch, skip_special_tokens=True) == theirs.batch_decode(batch, skip_special_tokens=True)


def test_reads_what_transformers_saves(vocabularies, hf, tmp_path):
    """transformers' save_pretrained (tokenizer.json + tokenizer_config.json) loads as the same tokenizer,
    its language and task settings included."""
    ours, theirs = vocabularies["multilingual"][0], hf["multilingual"]
    _set_hf_prefix(theirs, "de", "translate", False)
    try:
        theirs.save_pretrained(str(tmp_path))
    finally:
        _set_hf_prefix(theirs, None, None, False)
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, WhisperTokenizer) and loaded.layout == ours.layout
    assert loaded.prefix_tokens == ours.layout.prompt("de", "translate")
    assert [loaded.encode(t) for t in TEXTS[::5]] == [ours.encode(t) for t in TEXTS[::5]]


# --- files --------------------------------------------------------------------------------------------


def test_save_and_load_real_vocabulary(vocabularies, tmp_path):
    ours = vocabularies["v3"][0]
    ours.set_prefix("yue", "transcribe")
    try:
        ours.save(tmp_path)
    finally:
        ours.set_prefix()
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, WhisperTokenizer) and loaded.layout == ours.layout
    assert loaded.prefix_tokens == ours.layout.prompt("yue", "transcribe") and loaded.language == "yue"
    loaded.set_prefix()
    assert loaded == ours
    assert [loaded.encode(t) for t in TEXTS[::4]] == [ours.encode(t) for t in TEXTS[::4]]


@pytest.mark.parametrize("options", [{}, {"num_languages": 99, "multilingual": True}, {"num_languages": 100,
                                                                                       "multilingual": True}])
def test_byte_level_save_load_round_trip(tmp_path, options):
    tok = WhisperTokenizer.byte_level(**options, timestamps=True, padding_side="left")
    saved = tok.save(tmp_path / "tok")
    assert saved == tmp_path / "tok"
    loaded = zoo.data.load_tokenizer(saved)
    assert isinstance(loaded, WhisperTokenizer) and loaded == tok
    assert loaded.layout == tok.layout and loaded.padding_side == "left" and loaded.timestamps
    assert not list(saved.glob(".*.tmp"))


def test_byte_level_layout_and_round_trip():
    tok = WhisperTokenizer.byte_level()
    layout = tok.layout
    assert (layout.eot, layout.num_languages, layout.multilingual) == (256, 1, False)
    assert tok.vocab_size == 256 + layout.num_special == 256 + 2 + 1 + 6 + 1501
    assert tok.prefix_tokens == [layout.sot, layout.no_timestamps]
    many = WhisperTokenizer.byte_level(num_languages=99, multilingual=True)
    assert many.vocab_size == 256 + many.layout.num_special and many.layout.languages == tuple(LANGUAGES)[:99]
    rng = random.Random(3)
    for _ in range(300):
        text = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD800),
                                       rng.randrange(0xE000, 0x110000)])) for _ in range(rng.randint(0, 40)))
        ids = tok.encode(text)
        assert ids == list(text.encode("utf-8")) and tok.decode(ids) == text
        labels = tok.encode(text, add_special_tokens=True)
        assert labels == [*tok.prefix_tokens, *ids, layout.eot]
        assert tok.decode(labels, skip_special_tokens=True) == text
    assert tok.encode("a<|en|>b<|endoftext|>") == [97, layout.sot + 1, 98, layout.eot]
    assert tok.decode([104, 105, layout.timestamp_begin + 3, layout.eot]) == "hi<|endoftext|>"


def test_byte_level_suppress_tokens():
    """OpenAI's rules on single bytes: the symbols are suppressed, but not the space (the first byte of " -")
    nor 0xE2 (the first byte of "♪", and of every character from U+2000 to U+2FFF)."""
    tok = WhisperTokenizer.byte_level()
    assert tok.non_speech_tokens == sorted(map(ord, '"#()*+/:;<=>@[\\]^_`{|}~'))
    assert tok.suppress_tokens == sorted(tok.non_speech_tokens + tok.layout.always_suppressed())
    assert tok.begin_suppress_tokens == [32, 256]


def test_batches_pad_with_end_of_text():
    tok = WhisperTokenizer.byte_level(num_languages=2, multilingual=True, language="zh", task="transcribe")
    batch = tok(["a", "abc"])
    prefix, eot = tok.prefix_tokens, tok.layout.eot
    assert prefix == tok.layout.prompt("zh", "transcribe")
    assert batch.input_ids.tolist() == [[*prefix, 97, eot, eot, eot], [*prefix, 97, 98, 99, eot]]
    assert batch.attention_mask.tolist() == [[1] * 6 + [0, 0], [1] * 8]
    assert batch.input_ids.dtype == torch.long
    cut = tok(["abcdef"], max_length=7, truncation=True).input_ids.tolist()
    assert cut == [[*prefix, 97, 98, eot]]
    with pytest.raises(TokenizerError, match="no room"):
        tok(["abc"], max_length=4, truncation=True)


def test_hugging_face_directory_variants(tmp_path):
    """Files as the hub holds them: vocab.json + merges.txt + added_tokens.json with no tokenizer.json,
    the older <|nocaptions|> name and no timestamp tokens, no config (transformers' multilingual rule)."""
    tok = WhisperTokenizer.byte_level(num_languages=99, multilingual=True)
    directory = tok.save(tmp_path / "hub")
    (directory / "tokenizer.json").unlink()
    added = json.loads((directory / "added_tokens.json").read_text())
    layout = tok.layout
    added = {("<|nocaptions|>" if i == layout.no_speech else t): i
             for t, i in added.items() if i < layout.timestamp_begin}
    (directory / "added_tokens.json").write_text(json.dumps(added))
    loaded = load_tokenizer(directory)
    assert isinstance(loaded, WhisperTokenizer) and loaded.layout == layout
    assert loaded.id_to_token(layout.no_speech) == "<|nocaptions|>"
    assert loaded.id_to_token(layout.timestamp_begin + 1500) == "<|30.00|>"
    assert loaded.encode("x<|1.00|>") == [120, layout.timestamp_begin + 50]
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        (directory / name).unlink()
    plain = load_tokenizer(directory)  # found by its added tokens; 1865 tokens read as English-only
    assert isinstance(plain, WhisperTokenizer) and not plain.layout.multilingual
    assert plain.layout.num_languages == 99 and plain.prefix_tokens == [layout.sot, layout.no_timestamps]


def test_tokenizer_json_alone_and_hf_multilingual_rule(tmp_path, saved):
    tok = WhisperTokenizer.byte_level(num_languages=3, multilingual=True)
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path / "tokenizer.json")  # the file alone, found by <|startoftranscript|>
    assert isinstance(loaded, WhisperTokenizer) and loaded.layout.num_languages == 3
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    del config["multilingual"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    assert not load_tokenizer(tmp_path).layout.multilingual  # 1769 < 51865
    for name, multilingual in (("multilingual", True), ("english", False)):  # 51865 and 51864 tokens
        directory = tmp_path / name
        directory.mkdir()
        (directory / "tokenizer.json").write_bytes((saved[name] / "tokenizer.json").read_bytes())
        config = json.loads((saved[name] / "tokenizer_config.json").read_text())
        del config["multilingual"]
        (directory / "tokenizer_config.json").write_text(json.dumps(config))
        assert load_tokenizer(directory).layout.multilingual is multilingual


def test_save_leaves_other_files_alone(tmp_path):
    (tmp_path / "config.json").write_text('{"model": "mine"}')
    (tmp_path / "notes.txt").write_text("keep me")
    WhisperTokenizer.byte_level().save(tmp_path)
    assert (tmp_path / "config.json").read_text() == '{"model": "mine"}'
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["config.json", "notes.txt", "tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json",
         "special_tokens_map.json", "tokenizer_config.json"])


def test_exported_lazily():
    assert zoo.data.WhisperTokenizer is zoo.data.text.WhisperTokenizer is WhisperTokenizer
    assert "WhisperTokenizer" in zoo.data.__all__ and "WhisperTokenizer" in zoo.data.text.__all__


# --- bad input ----------------------------------------------------------------------------------------


def test_unknown_language_lists_the_known_codes():
    tok = WhisperTokenizer.byte_level(num_languages=99, multilingual=True)
    with pytest.raises(TokenizerError, match=r"unknown language 'klingon'.*99: en, zh, de, es"):
        tok.set_prefix("klingon")
    with pytest.raises(TokenizerError, match="unknown language 'yue'"):  # Cantonese needs 100 languages
        tok.set_prefix("yue", "transcribe")
    with pytest.raises(TokenizerError, match="task must be one of transcribe, translate"):
        tok.set_prefix("en", "summarize")
    assert tok.prefix_tokens == [tok.layout.sot, tok.layout.no_timestamps]  # a failed call changes nothing


def test_english_only_refuses_translation_and_other_languages():
    tok = WhisperTokenizer.byte_level(num_languages=99)
    with pytest.raises(TokenizerError, match="English-only.*cannot translate"):
        tok.set_prefix(task="translate")
    with pytest.raises(TokenizerError, match="English-only.*'german' is not English"):
        tok.set_prefix("german", "transcribe")
    tok.set_prefix("english", "transcribe")
    assert tok.prefix_tokens == [tok.layout.sot, tok.layout.no_timestamps]


def test_decode_refuses_ids_out_of_range():
    tok = WhisperTokenizer.byte_level()
    for bad in (tok.vocab_size, -1, 10**9):
        with pytest.raises(TokenizerError, match=rf"id {bad} is outside the vocabulary \(0 to {tok.vocab_size - 1}\)"):
            tok.decode([1, bad])
    with pytest.raises(TokenizerError, match="one sequence of integer ids"):
        tok.decode([[1, 2]])


def test_directory_missing_files(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "WhisperTokenizer"}))
    with pytest.raises(TokenizerError, match="needs tokenizer.json, or vocab.json \\+ merges.txt.*"
                                             "vocab.json and merges.txt are missing"):
        load_tokenizer(tmp_path)
    WhisperTokenizer.byte_level().save(tmp_path / "saved")
    (tmp_path / "vocab.json").write_bytes((tmp_path / "saved" / "vocab.json").read_bytes())
    with pytest.raises(TokenizerError, match="merges.txt is missing"):
        load_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(TokenizerError, match="no Whisper special tokens"):
        load_tokenizer(tmp_path)


def test_special_tokens_out_of_place(tmp_path):
    directory = WhisperTokenizer.byte_level(num_languages=3, multilingual=True).save(tmp_path)
    (directory / "tokenizer.json").unlink()
    added = json.loads((directory / "added_tokens.json").read_text())
    added["<|zh|>"], added["<|de|>"] = added["<|de|>"], added["<|zh|>"]
    (directory / "added_tokens.json").write_text(json.dumps(added))
    with pytest.raises(TokenizerError, match=r"id 259 should be Whisper's <\|translate\|>.*has '<\|de\|>'"):
        load_tokenizer(directory)


def test_bad_tiktoken_files(tmp_path):
    with pytest.raises(TokenizerError, match="could not read the tiktoken file"):
        WhisperTokenizer.from_tiktoken(tmp_path / "missing.tiktoken")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("IQ== 0\nnot a line at all\n")
    with pytest.raises(TokenizerError, match="line 2: expected a base64 token and its rank"):
        WhisperTokenizer.from_tiktoken(bad)
    bad.write_text("IQ== 0\nIg== 5\n")
    with pytest.raises(TokenizerError, match="ranks must be 0 to 1"):
        WhisperTokenizer.from_tiktoken(bad)
    bad.write_text("IQ== 0\nIg== 1\n")
    with pytest.raises(TokenizerError, match="254 single bytes are not tokens"):
        WhisperTokenizer.from_tiktoken(bad)


def test_bad_options():
    with pytest.raises(TokenizerError, match="num_languages must be between 1 and 100"):
        WhisperTokenizer.byte_level(num_languages=0)
    with pytest.raises(TokenizerError, match="multilingual must be True or False"):
        WhisperTokenizer.byte_level(multilingual="yes")
    with pytest.raises(TokenizerError, match="timestamps must be True or False"):
        WhisperTokenizer.byte_level(timestamps=1)
