"""Stage 2 — pre-annotation, the bridge side: which pre-annotator the settings and the database
choose (configured_preannotator), and running it over every current article revision that has
no prediction under its model_version yet (preannotate_pending).

The pre-annotator, in order of precedence:
1. WORKBENCH_MODEL=DIR, a model bundle directory (bundles.py);
2. the bundle promoted in the database (`workbench models promote`, `retrain --promote-if-better`);
3. the legacy files WORKBENCH_NER_MODEL, WORKBENCH_STANCE_MODEL, WORKBENCH_LEXICON;
4. the shipped default engine.
A bundle's files are checked against its model.json when it is loaded; a file that does not
match, or a file that cannot be loaded, stops the command with a ConfigError naming it."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import bundles, offsets
from .db import session_scope
from .errors import ConfigError, InputError
from .models import Article, PreAnnotation
from .preannotation.base import PreAnnotator, annotate_all
from .settings import Settings, env_name


def model_choice(settings: Settings, session: Session | None = None) -> tuple:
    """What configured_preannotator would load now, as a cheap key (one database read): a long-running
    process (the ML backend) builds its pre-annotator again when this changes, after a promotion."""
    if settings.model is not None:
        return ("WORKBENCH_MODEL", str(settings.model))
    promoted = _promoted(settings, session)
    if promoted is not None:
        return ("promoted", str(promoted[0]), promoted[1])
    return ("files", *(str(getattr(settings, name)) for name in ("ner_model", "stance_model", "lexicon")))


def configured_preannotator(settings: Settings, targets: list[str], session: Session | None = None) -> PreAnnotator:
    if settings.model is not None:
        return _from_bundle(settings.model, targets, None, "WORKBENCH_MODEL")
    promoted = _promoted(settings, session)
    if promoted is not None:
        path, sha256, version = promoted
        return _from_bundle(path, targets, sha256, f"the promoted bundle {version}")
    return _from_files(settings, targets)


def _promoted(settings: Settings, session: Session | None) -> tuple | None:
    if session is None:
        with session_scope(settings) as own:
            return _promoted(settings, own)
    bundle = bundles.current(session)
    return (bundle.path, bundle.model_json_sha256, bundle.model_version) if bundle else None


def _from_bundle(path, targets: list[str], sha256: str | None, what: str) -> PreAnnotator:
    from .preannotation.loading import ModelFileError
    try:
        return bundles.bundle_preannotator(path, targets, sha256)
    except InputError as exc:
        raise ConfigError(f"{what}: {exc.message}", errors={**_as_dict(exc.errors), "model": str(path)}) from exc
    except ModelFileError as exc:
        raise ConfigError(f"{what}: cannot load {exc.path}: {exc.cause}", errors={"file": str(exc.path)}) from exc


def _as_dict(errors) -> dict:
    return errors if isinstance(errors, dict) else {"errors": errors}


def _from_files(settings: Settings, targets: list[str]) -> PreAnnotator:
    from .preannotation.loading import ModelFileError, default_preannotator
    try:
        return default_preannotator(targets, ner_model=settings.ner_model, stance_model=settings.stance_model,
                                    lexicon=settings.lexicon)
    except ModelFileError as exc:
        variable = env_name(exc.part)
        raise ConfigError(f"{variable}: cannot load {exc.path}: {exc.cause}", errors={variable: "cannot load"}) from exc


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
