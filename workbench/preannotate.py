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

from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import bundles, offsets
from .articles import current_revisions
from .db import session_scope
from .errors import ConfigError, InputError
from .models import ArticleRevision, PreAnnotation
from .parallel import local_runner
from .preannotation.base import PreAnnotator
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


COMMIT_EVERY = 500  # stored predictions per commit


@dataclass
class PreannotateReport:
    model_version: str
    annotated: list[str] = field(default_factory=list)
    already_done: int = 0
    entities: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _texts(session: Session, revision_ids: list[int], chunk: int) -> Iterator[str]:
    """The texts of the revisions, in order, read from the database a chunk at a time."""
    for begin in range(0, len(revision_ids), chunk):
        ids = revision_ids[begin:begin + chunk]
        texts = dict(session.execute(select(ArticleRevision.id, ArticleRevision.text)
                                     .where(ArticleRevision.id.in_(ids))).all())
        yield from (texts[i] for i in ids)


def _handed_out(texts: Iterator[str], in_flight: deque) -> Iterator[str]:
    for text in texts:
        in_flight.append(text)
        yield text


def preannotate_pending(session: Session, annotator, entity_labels: list[str], progress=None, runner=None,
                        commit=None, commit_every: int = COMMIT_EVERY) -> PreannotateReport:
    """Predict every current revision that has no prediction under the annotator's model_version.

    `runner(annotator, texts)` yields one Prediction per text in order (parallel.local_runner in
    this process by default, parallel.dask_runner on a cluster); `commit` is called after every
    `commit_every` stored predictions, so an interrupted run keeps what it finished and a rerun
    does only the rest; `progress` wraps the pending items (a progress bar)."""
    report = PreannotateReport(annotator.model_version)
    current = session.execute(current_revisions(ArticleRevision.id, ArticleRevision.article_id)).all()
    done = set(session.scalars(select(PreAnnotation.revision_id).where(
        PreAnnotation.model_version == annotator.model_version)))
    todo = [(revision_id, article_id) for revision_id, article_id in current if revision_id not in done]
    report.already_done = len(current) - len(todo)
    texts = _texts(session, [revision_id for revision_id, _ in todo], commit_every)
    in_flight: deque[str] = deque()  # texts handed to the runner whose predictions have not come back
    predictions = (runner or local_runner)(annotator, _handed_out(texts, in_flight))
    stored = 0
    for (revision_id, article_id), prediction in zip(progress(todo) if progress else todo, predictions):
        text = in_flight.popleft()
        try:
            spans = offsets.checked_spans(text, prediction.entities, entity_labels)
        except ValueError as exc:
            raise InputError(f"{annotator.model_version} produced a bad span for {article_id}: {exc}")
        for span, raw in zip(spans, prediction.entities):
            span["score"] = round(float(raw.get("score", 0.0)), 4)
        session.add(PreAnnotation(revision_id=revision_id, model_version=annotator.model_version,
                                  entities=spans, stance=prediction.stance, score=round(prediction.score, 4)))
        report.annotated.append(article_id)
        report.entities += len(spans)
        stored += 1
        if commit is not None and stored % commit_every == 0:
            commit()
    session.flush()
    return report
