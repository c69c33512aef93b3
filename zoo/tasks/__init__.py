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
