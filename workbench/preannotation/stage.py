"""Stage 2 — pre-annotation: run a pre-annotator over every current article revision that has
no prediction under its model_version yet, and store the result."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import offsets
from ..errors import InputError
from ..models import Article, PreAnnotation
from .base import annotate_all


@dataclass
class PreannotateReport:
    model_version: str
    annotated: list[str] = field(default_factory=list)
    already_done: int = 0
    entities: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def preannotate_pending(session: Session, annotator, entity_labels: list[str], progress=None) -> PreannotateReport:
    report = PreannotateReport(annotator.model_version)
    revisions = [a.current for a in session.scalars(select(Article).order_by(Article.id))]
    done = set(session.scalars(select(PreAnnotation.revision_id).where(
        PreAnnotation.model_version == annotator.model_version)))
    todo = [r for r in revisions if r.id not in done]
    report.already_done = len(revisions) - len(todo)
    for revision, prediction in annotate_all(annotator, progress(todo) if progress else todo, lambda r: r.text):
        try:
            spans = offsets.checked_spans(revision.text, prediction.entities, entity_labels)
        except ValueError as exc:
            raise InputError(f"{annotator.model_version} produced a bad span for {revision.article_id}: {exc}")
        for span, raw in zip(spans, prediction.entities):
            span["score"] = round(float(raw.get("score", 0.0)), 4)
        session.add(PreAnnotation(revision_id=revision.id, model_version=annotator.model_version,
                                  entities=spans, stance=prediction.stance, score=round(prediction.score, 4)))
        report.annotated.append(revision.article_id)
        report.entities += len(spans)
    session.flush()
    return report
