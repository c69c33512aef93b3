"""The plugin's task, declared without importing torch (listing tasks stays instant)."""
from registry import TaskInfo

IMAGE_REGRESSION = TaskInfo(
    "image-regression", ("image",), "zoo_plugin_example.regression:build_regression_head",
    "Pooled features -> linear to num_classes real-valued outputs; mean-squared-error loss.",
)
