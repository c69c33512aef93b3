"""Issue 10: bad inputs to the model API are a clear error (what is wrong, what is allowed, how to
convert), never a silently different result or a deep traceback.

Each test fails on the code before the fix (a silent result, or another error / message).
"""
from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest
import torch

import registry
import zoo
from zoo.factory import get_family

from registry_helpers import smoke

MASK_VALUE = r"must hold only 1 \(real token\) and 0 \(padding\)"


@functools.cache
def model(name: str, task: str | None = None, **extra):
    """A card on its smoke config, in eval mode, built once per test session (tests only read it)."""
    return smoke(name, task, **extra)[0].eval()


def inputs(name: str, batch_size: int = 2) -> tuple[tuple, dict]:
    family = get_family(zoo.info(name)["family"])
    return family.example_inputs(model(name).spec, batch_size)


# --- 1 and 4: zoo.create's arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("pretrained", ["yes", "false", 1, None])
def test_pretrained_must_be_a_bool(pretrained):
    """Before: the string "yes" (and "false") counted as True and went to fetch the weights."""
    with pytest.raises(TypeError, match="pretrained must be True or False, got"):
        zoo.create("llama-tiny", pretrained=pretrained)


@pytest.mark.parametrize("name", [None, 123, ["gpt2"]])
def test_model_name_must_be_a_string(name):
    """Before: a TypeError from difflib ("'NoneType' object is not iterable")."""
    with pytest.raises(TypeError, match=r"model name must be a string .* zoo\.list_models\(\) lists the names"):
        zoo.create(name)


def test_weights_and_task_must_be_names_or_paths():
    """Before: weights=123 ended in pathlib ("expected str, bytes or os.PathLike object")."""
    with pytest.raises(TypeError, match=r"weights must be a path \(str or os.PathLike\).*'hf-hub:OWNER/NAME.*got int 123"):
        zoo.create("gpt2", weights=123)
    with pytest.raises(TypeError, match=r"task must be a task name .* zoo\.list_tasks\(\)"):
        zoo.create("gpt2", task=5)


# --- 2: masks hold 0 and 1 only ----------------------------------------------------------------------

TEXT_CARDS = ["bert-base", "gpt2", "llama-tiny", "t5-small", "transformer-base"]
AUDIO_CARDS = ["whisper-encoder-tiny", "ast-base"]


def _with_mask_values(mask: torch.Tensor, value: float) -> torch.Tensor:
    """``mask`` as float with its real positions set to ``value`` (the padding stays 0)."""
    return mask.float().masked_fill(mask != 0, value)


@pytest.mark.parametrize("name", TEXT_CARDS + AUDIO_CARDS)
def test_masks_with_values_other_than_0_and_1_are_rejected(name):
    """Before: 2, 0.5 and -1 ran, and (text) changed the outputs through the positions' cumsum."""
    net = model(name)
    args, kwargs = inputs(name)
    mask = kwargs["attention_mask"]
    with torch.no_grad():
        expected = net(*args, **kwargs)
        for same in (mask.bool(), mask.int(), mask.float()):  # 0/1 in any dtype: the same result
            torch.testing.assert_close(net(*args, **{**kwargs, "attention_mask": same}), expected)
        for value in (2.0, 0.5, -1.0):
            with pytest.raises(ValueError, match=r"attention_mask " + MASK_VALUE + rf".*got values \[{value}\]"):
                net(*args, **{**kwargs, "attention_mask": _with_mask_values(mask, value)})


@pytest.mark.parametrize("name", ["t5-small", "transformer-base"])
def test_decoder_masks_with_other_values_are_rejected(name):
    args, kwargs = inputs(name)
    decoder_mask = torch.ones_like(kwargs["decoder_input_ids"])
    with pytest.raises(ValueError, match="decoder_attention_mask " + MASK_VALUE):
        model(name)(*args, **kwargs, decoder_attention_mask=2 * decoder_mask)


@pytest.mark.parametrize("name,task", [("gpt2", "causal-lm"), ("t5-small", "seq2seq-lm")])
def test_generate_rejects_masks_with_other_values(name, task):
    """Before: a mask of 2s passed the "all real tokens" test and generation ran."""
    ids = torch.tensor([[5, 6, 7, 8], [0, 0, 7, 8]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    lm = model(name, task)
    assert torch.equal(lm.generate(ids, attention_mask=mask.bool(), max_new_tokens=3),
                       lm.generate(ids, attention_mask=mask, max_new_tokens=3))
    for bad in (2 * mask, mask - 0.5 * (mask == 0).long()):  # 2s, or -0.5 where the padding is
        with pytest.raises(ValueError, match="attention_mask " + MASK_VALUE):
            lm.generate(ids, attention_mask=bad, max_new_tokens=3)


def test_forward_head_checks_its_mask():
    net = model("gpt2", "sequence-classification")
    features = torch.randn(2, 6, net.num_features)
    with pytest.raises(ValueError, match="attention_mask " + MASK_VALUE):
        net.forward_head(features, attention_mask=torch.full((2, 6), 2))


# --- 3: generate's numeric options -------------------------------------------------------------------

@pytest.mark.parametrize("options,error,message", [
    (dict(num_beams=2, length_penalty=float("nan")), ValueError, "length_penalty must be a finite number, got nan"),
    (dict(do_sample=True, temperature=float("nan")), ValueError, "temperature must be a finite number, got nan"),
    (dict(do_sample=True, temperature=float("inf")), ValueError, "temperature must be a finite number, got inf"),
    (dict(repetition_penalty=float("nan")), ValueError, "repetition_penalty must be a finite number"),
    (dict(max_new_tokens=2.5), TypeError, "max_new_tokens must be an int, got float 2.5"),
    (dict(max_new_tokens="5"), TypeError, "max_new_tokens must be an int, got str '5'"),
    (dict(max_new_tokens=True), TypeError, "max_new_tokens must be an int, got bool True"),
    (dict(do_sample=True, top_k=2.0), TypeError, "top_k must be an int, got float"),
    (dict(do_sample=True, top_p="0.9"), TypeError, "top_p must be a number, got str"),
    (dict(num_beams=True), TypeError, "num_beams must be an int, got bool"),
    (dict(no_repeat_ngram_size=1.5), TypeError, "no_repeat_ngram_size must be an int"),
    (dict(eos_token_id="2"), TypeError, "eos_token_id must be an int, got str '2'"),
    (dict(eos_token_id=[2, 3.0]), TypeError, "eos_token_id must be an int, got float 3.0"),
    (dict(pad_token_id=1.0), TypeError, "pad_token_id must be an int, got float"),
    (dict(do_sample="yes"), TypeError, "do_sample must be True or False, got str 'yes'"),
])
def test_generate_options_have_real_types_and_finite_values(options, error, message):
    """Before: nan ran (or failed deep in torch.multinomial), 2.5 failed in torch.zeros, True counted as 1."""
    with pytest.raises(error, match=message):
        model("gpt2", "causal-lm").generate(torch.tensor([[1, 2, 3]]), **{"max_new_tokens": 3, **options})


# --- 5: inputs of the wrong type or dtype ----------------------------------------------------------------

IMAGES = torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize("images,hint", [
    ((IMAGES * 50).clamp(0, 255).to(torch.uint8), r"zoo\.data\.image_transform\(model\).*\.float\(\) / 255"),
    (IMAGES.long(), r"zoo\.data\.image_transform"),
    (IMAGES > 0, r"zoo\.data\.image_transform"),
    (IMAGES.double(), r"images\.to\(torch\.float32\), or the model with model\.to\(torch\.float64\)"),
    (IMAGES.bfloat16(), r"images\.to\(torch\.float32\)"),
])
def test_images_of_another_dtype_say_how_to_convert(images, hint):
    """Before: 'Input type (unsigned char) and bias type (float) should be the same' from F.conv2d."""
    with pytest.raises(TypeError, match=rf"images must be a torch\.float32 tensor \(the model's dtype\), "
                                        rf"got {images.dtype}; .*{hint}"):
        model("vit-small")(images)


def test_a_bf16_model_fed_fp32_says_so_and_autocast_still_casts():
    net = smoke("vit-small")[0].eval().to(torch.bfloat16)
    with pytest.raises(TypeError, match=r"images must be a torch\.bfloat16 tensor .* got torch\.float32; "
                                        r"convert with images\.to\(torch\.bfloat16\)"):
        net(IMAGES)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():  # autocast casts: any float input is fine
        assert model("vit-small")(IMAGES.bfloat16()).shape == (2, 5)


@pytest.mark.parametrize("convert,how", [(lambda t: t.numpy(), r"torch\.from_numpy\(images\)"),
                                         (lambda t: t.tolist(), r"torch\.tensor\(images\)")])
def test_images_as_numpy_or_lists_say_how_to_convert(convert, how):
    """Before: AttributeError: 'numpy.ndarray' object has no attribute 'dim'."""
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor \[batch, 3, 32, 32\], got \w+; "
                                        rf"convert with {how}"):
        model("vit-small")(convert(IMAGES))


@pytest.mark.parametrize("name", TEXT_CARDS)
def test_token_ids_must_be_an_integer_tensor(name):
    """Before: AttributeError for numpy and lists; float ids said 'token ids', not which argument."""
    (ids,), kwargs = inputs(name)
    net = model(name)
    with pytest.raises(TypeError, match=r"input_ids must be a torch\.Tensor .* convert with torch\.from_numpy"):
        net(ids.numpy(), **kwargs)
    with pytest.raises(TypeError, match=r"input_ids must be a torch\.Tensor .* convert with torch\.tensor"):
        net(ids.tolist(), **kwargs)
    with pytest.raises(TypeError, match=r"input_ids must be an integer tensor .* got torch\.float32.*\.long\(\)"):
        net(ids.float(), **kwargs)


def test_generate_takes_tensors():
    with pytest.raises(TypeError, match=r"input_ids must be a torch\.Tensor .* torch\.from_numpy\(input_ids\)"):
        model("gpt2", "causal-lm").generate(np.array([[1, 2, 3]]), max_new_tokens=2)


def test_audio_as_numpy_says_how_to_convert():
    """Before: 'got ndarray; scale integer PCM first', which does not say how to make a tensor."""
    (waveform,), _ = inputs("whisper-encoder-tiny")
    net = model("whisper-encoder-tiny")
    with pytest.raises(TypeError, match=r"waveform must be a torch\.Tensor .* torch\.from_numpy\(waveform\)"):
        net(waveform.numpy())
    spectrogram = net.backbone.frontend(waveform)
    with pytest.raises(TypeError, match=r"spectrogram must be a torch\.Tensor .* torch\.from_numpy\(spectrogram\)"):
        net(spectrogram=spectrogram.numpy())
    with pytest.raises(TypeError, match=r"spectrogram must be a float tensor .* got torch\.int64"):
        net(spectrogram=spectrogram.long())


def test_forward_head_names_the_expected_width():
    """Before: 'mat1 and mat2 shapes cannot be multiplied (2x7 and 32x5)'."""
    net = model("vit-small")
    with pytest.raises(ValueError, match=r"features must be \[batch, tokens, num_features=32\] .*got shape "
                                         r"\[2, 17, 7\]"):
        net.forward_head(torch.randn(2, 17, 7))


# --- 6: labels and ids out of range, reset_classifier ------------------------------------------------

@pytest.mark.parametrize("bad", [10, 5, -1])
def test_classification_targets_out_of_range(bad):
    """Before: IndexError 'Target 10 is out of bounds.' from F.cross_entropy."""
    net = model("vit-small")
    logits = net(IMAGES)
    net.loss(logits, torch.tensor([4, -100]))  # the last class, and the ignore index, are fine
    net.loss(logits, torch.tensor([4, 0], dtype=torch.int32))  # any integer dtype
    with pytest.raises(ValueError, match=rf"targets must be in \[0, 4\] or -100 \(ignored\); got \[{bad}\]"):
        net.loss(logits, torch.tensor([0, bad]))


def test_soft_targets_must_match_the_logits():
    """Before: '0D or 1D target tensor expected, multi-target not supported'."""
    net = model("vit-small")
    with pytest.raises(ValueError, match=r"float targets are class probabilities \[2, 5\], got shape \[2, 4\]"):
        net.loss(net(IMAGES), torch.rand(2, 4))


@pytest.mark.parametrize("name,task", [("gpt2", "causal-lm"), ("bert-base", "masked-lm"),
                                       ("t5-small", "seq2seq-lm"), ("bert-base", "token-classification")])
def test_token_labels_out_of_range(name, task):
    """Before: IndexError 'Target 97 is out of bounds.'; -100 stays the ignore index."""
    net = model(name, task)
    args, kwargs = inputs(name)
    logits = net(*args, **kwargs)
    classes = logits.shape[-1]
    labels = torch.full(logits.shape[:-1], -100)
    labels[:, 1] = classes - 1
    net.loss(logits, labels)
    labels[0, 2] = classes
    with pytest.raises(ValueError, match=rf"labels must be in \[0, {classes - 1}\] or -100 \(ignored\); "
                                         rf"got \[{classes}\]"):
        net.loss(logits, labels)


def test_ctc_targets_must_be_integer_ids():
    """Before: float CTC targets ran (cast inside ctc_loss)."""
    net = model("whisper-encoder-tiny", "ctc")
    (waveform,), _ = inputs("whisper-encoder-tiny")
    logits = net(waveform)
    with pytest.raises(TypeError, match=r"CTC target ids must be an integer tensor of class ids, got torch\.float32"):
        net.loss(logits, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


def test_bert_token_type_ids_beyond_the_type_vocabulary():
    """Before: IndexError 'index out of range in self' from the embedding."""
    (ids,), kwargs = inputs("bert-base")
    net = model("bert-base")
    with torch.no_grad():
        assert torch.equal(net(ids, **kwargs, token_type_ids=torch.zeros_like(ids)), net(ids, **kwargs))
    with pytest.raises(ValueError, match=r"token_type_ids must be in \[0, 2\) for this vocabulary; got values in "
                                         r"\[0, 5\]"):
        net(ids, **kwargs, token_type_ids=torch.arange(ids.numel()).view(ids.shape) % 6)


@pytest.mark.parametrize("num_classes,error,message", [
    ("3", TypeError, "num_classes must be an int, got str '3'"),
    (2.0, TypeError, "num_classes must be an int, got float 2.0"),
    (True, TypeError, "num_classes must be an int, got bool True"),
])
@pytest.mark.parametrize("name,task", [("vit-small", None), ("bert-base", "token-classification")])
def test_reset_classifier_takes_an_int(name, task, num_classes, error, message):
    """Before: "'<' not supported between instances of 'str' and 'int'"; True made a 1-class head."""
    net = smoke(name, task)[0]
    before = net.num_classes
    with pytest.raises(error, match=message):
        net.reset_classifier(num_classes)
    assert net.num_classes == net.spec.num_classes == before  # nothing changed


# --- 7: audio ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", ["16000", 16000.0])
def test_sample_rate_must_be_an_int(rate):
    """Before: '16000' printed 'takes audio at 16000 Hz, got sample_rate=16000'; 16000.0 passed."""
    (waveform,), _ = inputs("whisper-encoder-tiny")
    with pytest.raises(TypeError, match=rf"sample_rate \(in Hz\) must be an int, got {type(rate).__name__}"):
        model("whisper-encoder-tiny")(waveform, sample_rate=rate)


@pytest.mark.parametrize("name", AUDIO_CARDS)
def test_an_empty_audio_batch_gives_empty_outputs(name):
    """Before: a RuntimeError inside the front end (stft / fbank of no clips). Text, images and
    spectrograms already gave empty outputs for an empty batch; waveforms now do too."""
    (waveform,), kwargs = inputs(name)
    net = model(name)
    with torch.no_grad():
        full = net(waveform, **kwargs)
        empty = net(waveform[:0])
        masked = net(waveform[:0], attention_mask=kwargs["attention_mask"][:0])
    assert empty.shape == masked.shape == (0, *full.shape[1:])


# --- 8: the CLI in a pipe that closes early --------------------------------------------------------------

@pytest.mark.parametrize("command", [["list"], ["info", "gpt2"]])
def test_cli_in_a_closed_pipe_exits_quietly(command):
    """``zoo list | head``: the reader goes away. Before: a BrokenPipeError traceback on stderr.

    The reader's end is closed before zoo writes anything, so the write fails every time (a
    reader that first takes a line would race with zoo's single write of a short output).
    """
    process = subprocess.Popen([sys.executable, "-m", "zoo.cli", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert stderr.decode() == "", stderr.decode()
    assert process.returncode == 1  # what Python exits with on EPIPE


@pytest.mark.parametrize("lookup", [zoo.info, zoo.load, registry.get_task, registry.get_family])
@pytest.mark.parametrize("name", [None, 123, ["vit-small"]])
def test_lookups_by_name_take_strings(lookup, name):
    with pytest.raises(TypeError, match=r"(name must be a string|takes the path).*got (NoneType|int|list)"):
        lookup(name)
