"""The pre-annotator interface: what every pre-annotator returns and how it is called."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

ENTITY_LABELS = ("PER", "ORG", "GPE", "LOC", "NORP", "WEAPON", "DATE")
STANCE_LABELS = ("FAVOR", "AGAINST", "NONE")


@dataclass
class Prediction:
    # [{"start", "end", "label", "text", "score"}], sorted by start, no overlaps
    entities: list[dict] = field(default_factory=list)
    stance: dict = field(default_factory=dict)  # {target: {"label", "score", "evidence": [{"start", "end", "text"}]}}

    @property
    def score(self) -> float:
        """Mean of the span and stance scores, for ordering work; 0.0 when there is nothing."""
        scores = [e["score"] for e in self.entities] + [s["score"] for s in self.stance.values()]
        return sum(scores) / len(scores) if scores else 0.0


class PreAnnotator(Protocol):
    name: str
    version: str

    @property
    def model_version(self) -> str:  # f"{name}-{version}"
        ...

    def annotate(self, text: str) -> Prediction:
        ...
