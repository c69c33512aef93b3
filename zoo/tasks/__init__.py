"""Built-in tasks, declared without importing torch; each head module is imported on use.

These objects are what the ``zoo.tasks`` entry points in pyproject.toml point to.
"""
from registry import TaskInfo

IMAGE_CLASSIFICATION = TaskInfo(
    "image-classification", ("image",), "zoo.tasks.classification:build_classification_head",
    "Pooled features -> linear classifier; cross-entropy loss (hard or soft targets).",
)
FEATURE_EXTRACTION = TaskInfo(
    "feature-extraction", ("image", "text", "audio"), "zoo.tasks.features:build_feature_head",
    "No head: the backbone's token features [B, N, D].",
)
SEQUENCE_CLASSIFICATION = TaskInfo(
    "sequence-classification", ("text",), "zoo.tasks.classification:build_classification_head",
    "Pooled sequence -> linear classifier; cross-entropy loss.",
)
TOKEN_CLASSIFICATION = TaskInfo(
    "token-classification", ("text",), "zoo.tasks.language:build_token_classification_head",
    "A class per token (NER, tagging); cross-entropy, labels -100 ignored.",
)
MASKED_LM = TaskInfo(
    "masked-lm", ("text",), "zoo.tasks.language:build_masked_lm_head",
    "Predict masked tokens (BERT); cross-entropy over positions whose label is not -100.",
    architectures=("encoder",),
)
CAUSAL_LM = TaskInfo(
    "causal-lm", ("text",), "zoo.tasks.language:build_causal_lm_head",
    "Next-token prediction; labels are the input ids (shifted inside the loss); generate().",
    architectures=("decoder",),
)
SEQ2SEQ_LM = TaskInfo(
    "seq2seq-lm", ("text",), "zoo.tasks.language:build_seq2seq_lm_head",
    "Encoder-decoder LM; labels are the target ids (decoder inputs are shifted from them); generate().",
    architectures=("encoder-decoder",),
)
AUDIO_CLASSIFICATION = TaskInfo(
    "audio-classification", ("audio",), "zoo.tasks.classification:build_classification_head",
    "Pooled clip (padding skipped) -> linear classifier; cross-entropy loss (hard or soft targets).",
    architectures=("encoder",),
)
CTC = TaskInfo(
    "ctc", ("audio",), "zoo.tasks.ctc:build_ctc_head",
    "Frame-level logits over a character vocabulary (0 = blank); CTC loss; head.decode() greedy to text.",
    architectures=("encoder",),
)
MULTIPLE_CHOICE = TaskInfo(
    "multiple-choice", ("text",), "zoo.tasks.multiple_choice:build_multiple_choice_head",
    "Inputs [B, choices, T]: the pooled sequence of each choice -> one score [B, choices]; cross-entropy over choices.",
)
CONTRASTIVE = TaskInfo(
    "contrastive", ("image-text",), "zoo.tasks.contrastive:build_contrastive_head",
    "Images and captions -> image-to-text logits [B_img, B_txt]; the family's contrastive loss (CLIP softmax, SigLIP sigmoid).",
    architectures=("dual-encoder",),
)
ZERO_SHOT_IMAGE_CLASSIFICATION = TaskInfo(
    "zero-shot-image-classification", ("image-text",), "zoo.tasks.contrastive:build_zero_shot_head",
    "Images -> logits [B, C] against class embeddings from prompts (zoo.zero_shot_classifier); cross-entropy loss.",
    architectures=("dual-encoder",),
)
SPEECH_TO_TEXT = TaskInfo(
    "speech-to-text", ("audio",), "zoo.tasks.speech_to_text:build_speech_to_text_head",
    "Audio -> text tokens (Whisper); seq2seq loss on the labels; generate() with language and task; transcribe().",
    architectures=("encoder-decoder",),
)
