"""Offline default data for the training recipes: small, deterministic, learnable, generated on access.

Every dataset is a map-style torch Dataset whose item ``i`` depends only on ``(seed, i)``: train and
validation splits are two seeds, workers can read any item, and nothing large is held in memory.

==================  ===============================================  =======================
ShapesDataset       ``(image [3, H, W] in [0, 1], label)``             image classification
CaptionedShapes     ``(image, "a red circle at the top left", 5)``    contrastive image-text
ArithmeticPairs     ``("37+485", "522")``                             seq2seq (exact match)
GrammarText         ``"The cats that see a dog sleep."``              causal and masked LM
ToneClips           ``(waveform [samples], label)``                  audio classification
DTMFClips           ``(waveform [samples], "0451")``                 speech recognition (CTC)
==================  ===============================================  =======================
"""
from __future__ import annotations

from .arithmetic import ArithmeticPairs
from .captions import CaptionedShapes
from .dtmf import DTMFClips
from .grammar import GrammarText, unigram_entropy
from .shapes import ShapesDataset
from .tones import ToneClips

__all__ = ["ArithmeticPairs", "CaptionedShapes", "DTMFClips", "GrammarText", "ShapesDataset", "ToneClips",
           "unigram_entropy"]
