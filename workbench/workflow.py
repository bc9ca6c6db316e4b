"""The stages wired to settings, a database session and Label Studio: what the CLI commands
and the HTTP views both call."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from . import agreement, annotations, articles, feed, parallel, release_check, releases, review, tasks
from .db import session_scope
from .errors import WorkbenchError
from .locks import lock_name, run_lock
from .models import Annotation, Article, ArticleRevision, LabelStudioProject, LabelStudioTask, PreAnnotation, Release
from .preannotate import COMMIT_EVERY, configured_preannotator, preannotate_pending
from .scheme import load_scheme
from .settings import Settings


def client_for(settings: Settings):
    from .labelstudio import LabelStudioClient  # imported when needed: the SDK costs ~1 s and much memory
    return LabelStudioClient(settings.require("label_studio_url"), settings.require("label_studio_token"))


def ingest_paths(settings: Settings, paths: list[Path], progress=None) -> articles.IngestReport:
    """Ingest files and folders, committing every articles.COMMIT_EVERY stored articles."""
    with session_scope(settings) as session:
        return articles.ingest_paths(session, paths, settings.max_article_bytes, progress,
                                     max_json_depth=settings.max_json_depth, commit=session.commit)


def ingest_records(settings: Settings, records: list) -> articles.IngestReport:
    with session_scope(settings) as session:
        return articles.ingest_records(session, records, settings.max_article_bytes, commit=session.commit)


def preannotate(settings: Settings, progress=None, workers: int | None = None, scheduler: str | None = None,
                commit_every: int = COMMIT_EVERY):
    """Pre-annotate what the chosen pre-annotator has not done yet, committing every `commit_every`
    predictions (an interrupted run keeps them; a rerun does the rest); one run at a time per
    database (a second one stops with a message naming the first). With `workers` (a LocalCluster
    of that many processes) or a scheduler address (argument, else WORKBENCH_DASK_SCHEDULER when
    workers are asked for) the texts are annotated on Dask; the stored results are the same."""
    scheme = load_scheme(settings.tasks_dir)
    scheduler = scheduler or (settings.dask_scheduler if workers else None)
    with run_lock(settings.database_url, lock_name("preannotate"), "pre-annotation run"), \
            session_scope(settings) as session:
        annotator = configured_preannotator(settings, scheme.target_names, session)
        if not (workers or scheduler):
            return preannotate_pending(session, annotator, scheme.entity_labels, progress,
                                       commit=session.commit, commit_every=commit_every)
        with parallel.dask_client(workers, scheduler) as client:
            return preannotate_pending(session, annotator, scheme.entity_labels, progress,
                                       runner=partial(parallel.dask_runner, client),
                                       commit=session.commit, commit_every=commit_every)


def push(settings: Settings, progress=None, least_confident_first: bool = False,
         batch_size: int = tasks.BATCH_SIZE, queue_order: str | None = "least-confident",
         limit: int | None = None, overlap: int | None = None, overlap_share: float = 1.0) -> tasks.PushReport:
    """Push new tasks (at most `limit` of them) and new predictions; one push of a project runs at a time."""
    scheme = load_scheme(settings.tasks_dir)
    webhook_url = f"{settings.bridge_url}/webhooks/label-studio" if settings.bridge_url else None
    options = tasks.PushOptions(settings.project_title, settings.review_policy, least_confident_first, batch_size,
                                queue_order, webhook_url, settings.webhook_secret, limit, overlap, overlap_share)
    with run_lock(settings.database_url, project_lock(settings, "push"), "push"), \
            client_for(settings) as client, session_scope(settings) as session:
        client.whoami()
        return tasks.push(session, client, scheme, settings.tasks_dir, options, progress)


# A pull waits this long for another pull of the same project (a webhook pull takes seconds); a
# push never waits: two pushes at once are a mistake to report, not to queue.
PULL_WAIT_SECONDS = 60.0


def project_lock(settings: Settings, kind: str) -> str:
    """The name of the one-writer lock of `kind` (push, pull) for the configured project."""
    return lock_name(kind, settings.label_studio_url or "", settings.project_title)


def current_project(session, settings: Settings) -> LabelStudioProject:
    url = settings.require("label_studio_url")
    project = session.scalars(select(LabelStudioProject).where(
        LabelStudioProject.ls_url == url, LabelStudioProject.title == settings.project_title)
        .order_by(LabelStudioProject.id.desc())).first()
    if project is None:
        raise WorkbenchError(f"no Label Studio project {settings.project_title!r} on {url} yet: run `workbench push`",
                             code="no_project", status=409, errors={"project": settings.project_title})
    return project


def pull(settings: Settings, progress=None, full: bool = False, task_ids: list[int] | None = None,
         annotation_ids: list[int] | None = None, wait: float = PULL_WAIT_SECONDS) -> dict:
    """Pull (incrementally, fully, or only the named tasks/annotations) and review the project.
    One pull of a project runs at a time (CLI and webhook pulls alike); another waits up to `wait`
    seconds for it, then stops with a message naming the running one."""
    scheme = load_scheme(settings.tasks_dir)
    with run_lock(settings.database_url, project_lock(settings, "pull"), "pull", wait=wait), \
            client_for(settings) as client, session_scope(settings) as session:
        project = current_project(session, settings)
        if task_ids is not None or annotation_ids is not None:
            ids = list(task_ids or []) + annotations.tasks_of_annotations(session, annotation_ids or [])
            report = annotations.pull_tasks(session, client, project, scheme, ids)
        else:
            report = annotations.pull(session, client, project, scheme, full=full,
                                      full_pull_hours=settings.full_pull_hours, progress=progress)
        decisions = review.review_project(session, project, settings, scheme.target_names)
        return {**report.to_dict(), "review_policy": settings.review_policy, **review.summarize(decisions),
                "waiting_tasks": [{"task_id": d.task.ls_task_id, "article_id": d.task.revision.article_id,
                                   "reason": d.reason} for d in decisions if not d.accepted]}


def release(settings: Settings) -> tuple[str, dict]:
    """One release at a time (releases.release_lock); first the releases table is reconciled with
    the folders (a crash between rename and commit left a folder without its row)."""
    scheme = load_scheme(settings.tasks_dir)
    with releases.release_lock(settings.exports_dir):
        with session_scope(settings) as session:
            releases.reconcile(session, settings.exports_dir)
        with session_scope(settings) as session:
            project = current_project(session, settings)
            decisions = review.review_project(session, project, settings, scheme.target_names)
            lineage = {"review_policy": settings.review_policy, "scheme_version": scheme.version,
                       "scheme_sha256": scheme.sha256,
                       "label_studio": {"url": project.ls_url, "project_id": project.ls_project_id}}
            report = agreement.release_agreement(_agreement_tasks(session, project), scheme.target_names)
            return releases.write_release(session, settings.exports_dir, decisions, lineage, report)


def _agreement_tasks(session, project: LabelStudioProject):
    """Every current task with its live, submitted, well-formed annotations, for agreement."""
    for task in review.current_tasks(session, project):
        live = [a for a in annotations.latest_snapshots(session, task).values()
                if not a.deleted and not a.was_cancelled and not a.problems]
        yield {"task_id": task.ls_task_id, "article_id": task.revision.article_id,
               "annotations": [{"annotator": a.annotator, "annotation_id": a.ls_annotation_id,
                                "entities": a.entities, "stance": a.stance} for a in live]}


def verify_release(settings: Settings, version: str) -> dict:
    """`latest` is the newest version folder here, broken or not: verify is what says so."""
    exports = settings.exports_dir
    return release_check.verify(exports / feed.resolve_version(exports, version, intact=False))


def diff_releases(settings: Settings, version_a: str, version_b: str) -> dict:
    exports = settings.exports_dir
    return release_check.diff(exports / feed.resolve_version(exports, version_a, intact=False),
                              exports / feed.resolve_version(exports, version_b, intact=False))


def _release_status(settings: Settings) -> dict:
    """Latest intact version (manifest, files present with their sizes), broken versions, and the
    table reconciled with the folders (rows recorded, and committed, only while no release runs)."""
    exports_dir = settings.exports_dir
    with releases.release_lock(exports_dir, wait=False) as free, session_scope(settings) as session:
        reconciled = releases.reconcile(session, exports_dir, record=free)
    listed = feed.list_releases(exports_dir, deep=False)  # sizes, not hashes: `verify` reads the files
    intact = [r["version"] for r in listed if not r["broken"]]
    return {"latest_release": intact[-1] if intact else None,
            "broken_releases": {r["version"]: r["problem"] for r in listed if r["broken"]},
            "release_records": reconciled}


def status(settings: Settings) -> dict:
    scheme = load_scheme(settings.tasks_dir)
    release_state = _release_status(settings)
    with session_scope(settings) as session:
        count = lambda stmt: session.scalar(stmt) or 0  # noqa: E731
        current_ids = select(func.max(ArticleRevision.id)).group_by(ArticleRevision.article_id)
        latest_versions = select(func.max(Annotation.id)).group_by(Annotation.task_id, Annotation.ls_annotation_id)
        project = session.scalars(select(LabelStudioProject).where(
            LabelStudioProject.ls_url == (settings.label_studio_url or ""),
            LabelStudioProject.title == settings.project_title).order_by(LabelStudioProject.id.desc())).first()
        counts = {
            "articles": count(select(func.count(Article.id))),
            "revisions": count(select(func.count(ArticleRevision.id))),
            "preannotated": count(select(func.count(func.distinct(PreAnnotation.revision_id)))
                                  .where(PreAnnotation.revision_id.in_(current_ids))),
            "tasks": count(select(func.count(LabelStudioTask.id))),
            "annotations": count(select(func.count(Annotation.id)).where(
                Annotation.id.in_(latest_versions), Annotation.deleted.is_(False))),
            "releases": count(select(func.count(Release.id))),
        }
        if project is not None:
            decisions = review.review_project(session, project, settings, scheme.target_names)
            counts.update({k: v for k, v in review.summarize(decisions).items() if k != "waiting_reasons"})
        else:
            counts.update({"accepted": 0, "waiting": 0})
        return {"counts": counts, **release_state, "review_policy": settings.review_policy,
                "label_studio": {"url": settings.label_studio_url,
                                 "project_id": project.ls_project_id if project else None}}
