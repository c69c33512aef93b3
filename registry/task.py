"""Task declarations: a name, the modalities it fits and where its head lives (imported lazily)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .card import ARCHITECTURES, MODALITIES
from .errors import CardError


@dataclass(frozen=True)
class TaskInfo:
    """A registered task. ``head`` is the head factory or a ``"module:attr"`` string naming it,
    so declaring a task (and listing models for it) never imports torch."""

    name: str
    modalities: tuple[str, ...]
    head: str | Callable[..., Any]
    summary: str = ""
    architectures: tuple[str, ...] = ARCHITECTURES  # e.g. causal-lm needs a decoder

    def fits(self, modality: str, architecture: str) -> bool:
        """Whether a model of this modality and architecture can carry this task's head."""
        return modality in self.modalities and architecture in self.architectures

    def modality_for(self, modality: str, architecture: str) -> str | None:
        """The modality a model of a card with this ``modality`` and ``architecture`` is built with for
        this task: the card's own when the task fits it; for a card joining modalities ("image-text",
        two encoder towers), the first tower the task fits ("image" before "text"); None if none fits."""
        if self.fits(modality, architecture):
            return modality
        towers = modality.split("-") if "-" in modality else []
        return next((tower for tower in towers if self.fits(tower, "encoder")), None)

    def __post_init__(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if not self.modalities or bad:
            raise CardError(f"task {self.name!r}: modalities must be some of {MODALITIES}, got {self.modalities}")
        if not self.architectures or any(a not in ARCHITECTURES for a in self.architectures):
            raise CardError(f"task {self.name!r}: architectures must be some of {ARCHITECTURES}, "
                            f"got {self.architectures}")
        if isinstance(self.head, str) and ":" not in self.head:
            raise CardError(f"task {self.name!r}: head must be a callable or 'module:attribute', got {self.head!r}")
