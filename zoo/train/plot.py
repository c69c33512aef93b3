"""``plot.png``: the training loss and every evaluation metric against the step."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_metrics(records: Sequence[dict[str, Any]], path: Path, *, title: str = "") -> Path | None:
    """One panel for the training loss, one per ``val_*`` metric; None when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if "loss" in r and isinstance(r["loss"], (int, float))]
    names = sorted({k for r in records for k in r if k.startswith("val_")})
    if not train and not names:
        return None
    panels = [("training loss", train)] + [
        (name, [(r["step"], r[name]) for r in records if isinstance(r.get(name), (int, float))]) for name in names]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for ax, (name, points) in zip(axes[0], panels):
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if name != "training loss" else None, markersize=3)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
