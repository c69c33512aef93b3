"""Data for every modality: tokenizers for text, image transforms, audio front ends.

    from zoo.data import ByteTokenizer, load_tokenizer, image_transform
    tok = ByteTokenizer()                      # no download; the training recipes' default
    tok = load_tokenizer("path/to/hf-model")   # tokenizer.json, vocab.json + merges.txt, or vocab.txt
    preprocess = image_transform(model)        # the card's resize, crop and normalisation (as timm's)

Recipe data: ``ShapesDataset``, ``CaptionedShapes``, ``ArithmeticPairs``, ``GrammarText``, ``ToneClips``,
``DTMFClips`` (offline, deterministic, generated on access); ``TextLines``, ``JsonlTexts``,
``JsonlPairs``, ``WavFolder``, ``TranscriptManifest``, ``ImageCaptions`` (local files);
``read_wav``/``write_wav``; ``pad_token_ids``, ``pad_waveforms`` (batching).

Importing this package is cheap: torch and the ``tokenizers`` library load on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "BatchEncoding": "zoo.data.text.base",
    "ByteTokenizer": "zoo.data.text.byte",
    "TextTokenizer": "zoo.data.text.wrapped",
    "ClipTokenizer": "zoo.data.text.clip",
    "SiglipTokenizer": "zoo.data.text.siglip",
    "WhisperTokenizer": "zoo.data.text.whisper",
    "Tokenizer": "zoo.data.text.base",
    "TokenizerError": "zoo.data.text.base",
    "load_tokenizer": "zoo.data.text.load",
    # offline recipe data, generated on access (zoo.data.synthetic)
    "ShapesDataset": "zoo.data.synthetic",
    "CaptionedShapes": "zoo.data.synthetic",
    "ArithmeticPairs": "zoo.data.synthetic",
    "GrammarText": "zoo.data.synthetic",
    "ToneClips": "zoo.data.synthetic",
    "DTMFClips": "zoo.data.synthetic",
    "unigram_entropy": "zoo.data.synthetic",
    # real data from local files; WAV I/O; batching
    "TextLines": "zoo.data.files",
    "JsonlTexts": "zoo.data.files",
    "JsonlPairs": "zoo.data.files",
    "WavFolder": "zoo.data.files",
    "TranscriptManifest": "zoo.data.files",
    "ImageCaptions": "zoo.data.captions",
    "DataFileError": "zoo.data.files",
    "read_wav": "zoo.data.wav",
    "write_wav": "zoo.data.wav",
    "WavError": "zoo.data.wav",
    "pad_token_ids": "zoo.data.collate",
    "pad_waveforms": "zoo.data.collate",
    # image preprocessing from a model's card (timm's eval / train transforms)
    "image_transform": "zoo.data.image",
    # audio front ends (waveform -> spectrogram), owned by the audio backbones
    "WhisperLogMel": "zoo.data.audio",
    "KaldiFbank": "zoo.data.audio",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")
