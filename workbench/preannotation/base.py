"""The pre-annotator interface: what every pre-annotator returns and how it is called, and the
span type every layer proposes (Candidate)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

ENTITY_LABELS = ("PER", "ORG", "GPE", "LOC", "NORP", "WEAPON", "DATE")
STANCE_LABELS = ("FAVOR", "AGAINST", "NONE")


class Candidate(NamedTuple):
    """A span a layer proposes (a named tuple: an article has hundreds, made quickly)."""
    start: int  # offsets into the normalised text
    end: int
    label: str
    score: float
    source: str  # the list, rule or layer that proposed it ("list", "title-rule", "crf", "consistency", ...)


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


BATCH_SIZE = 32  # texts per annotate_many call: the CRF decodes their sentences together


def annotate_all(annotator, items: Iterable, text_of=lambda item: item,
                 batch_size: int = BATCH_SIZE) -> Iterator[tuple[object, Prediction]]:
    """(item, prediction) for each item, in order; texts go to the annotator in batches when it
    has annotate_many (much faster per text), one by one otherwise."""
    many = getattr(annotator, "annotate_many", None)
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size or many is None:
            yield from _annotated(annotator, many, batch, text_of)
            batch = []
    yield from _annotated(annotator, many, batch, text_of)


def _annotated(annotator, many, batch: list, text_of) -> Iterator[tuple[object, Prediction]]:
    if not batch:
        return
    texts = [text_of(item) for item in batch]
    yield from zip(batch, many(texts) if many else [annotator.annotate(texts[0])])
