"""Stage 3 — Label Studio tasks: the labeling config generated from the scheme, task payloads
with predictions, and an idempotent push.

Label Studio does not deduplicate imports, so the bridge keeps a key in each task's data
(`wb_key` = article id @ revision) and the task map in its own database, and reconciles the two
before and after every import: a push interrupted half-way and run again leaves every task
present exactly once."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from . import offsets, policy
from .articles import current_revisions
from .errors import InputError, LabelStudioError
from .models import Annotation, Article, ArticleRevision, LabelStudioProject, LabelStudioTask, PreAnnotation
from .scheme import Scheme

if TYPE_CHECKING:
    from .labelstudio import LabelStudioClient

# Label Studio's queue orders (its Project.sampling values). "Uncertainty sampling" serves the tasks
# whose prediction of the project's model version scored lowest first (next_task.py in Label Studio).
SAMPLING = {"sequential": "Sequential sampling", "least-confident": "Uncertainty sampling"}

STANCE_PREFIX = "stance_"
REVIEW_CONTROL = "review"
REVIEW_CHOICES = ("ACCEPT", "REJECT")
WEBHOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]
WEBHOOK_SECRET_HEADER = "X-Workbench-Webhook-Secret"
TEMPLATE_NAME = "labeling-config.xml.j2"
BATCH_SIZE = 100


def labeling_config(scheme: Scheme, tasks_dir: Path, review_policy: str = "submitted") -> str:
    """The Label Studio config: the article right-to-left, entity labels, a stance choice per target,
    and a reviewer's ACCEPT/REJECT choice when the review policy needs one."""
    env = Environment(loader=FileSystemLoader(str(tasks_dir)), autoescape=select_autoescape(["j2"], default=True),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    needs_review = policy.needs_review_control(review_policy)
    return env.get_template(TEMPLATE_NAME).render(
        entities=scheme.raw["entities"], targets=scheme.targets, stance_labels=scheme.raw["stance"]["labels"],
        entities_name=offsets.ENTITIES_FROM, text_name=offsets.TEXT_TO, stance_prefix=STANCE_PREFIX,
        review_control=REVIEW_CONTROL if needs_review else "", review_choices=REVIEW_CHOICES)


def stance_control(target_key: str) -> str:
    return STANCE_PREFIX + target_key


def task_key(revision: ArticleRevision) -> str:
    return f"{revision.article_id}@r{revision.number}"


def prediction_result(text: str, entities: list[dict], stance: dict, scheme: Scheme) -> list[dict]:
    """Spans and stance as a Label Studio result list; ValueError if a span does not fit the text."""
    spans = offsets.checked_spans(text, entities, scheme.entity_labels)
    scores = {(s["start"], s["end"]): s.get("score") for s in entities}
    result = [offsets.to_label_studio(s, scores.get((s["start"], s["end"]))) for s in spans]
    for target in scheme.targets:
        choice = (stance or {}).get(target["target"])
        if choice and choice.get("label") in scheme.stance_labels:
            result.append({"from_name": stance_control(target["key"]), "to_name": offsets.TEXT_TO,
                           "type": "choices", "value": {"choices": [choice["label"]]}, "score": choice.get("score")})
    return result


def prediction_payload(pre: PreAnnotation, revision: ArticleRevision, scheme: Scheme) -> dict:
    """A stored pre-annotation as a Label Studio prediction, checked against the task text."""
    try:
        result = prediction_result(revision.text, pre.entities, pre.stance, scheme)
    except ValueError as exc:
        raise InputError(f"pre-annotation {pre.model_version} of {task_key(revision)} is invalid: {exc}",
                         errors={"article": task_key(revision), "model_version": pre.model_version})
    return {"model_version": pre.model_version, "score": pre.score, "result": result}


def task_payload(revision: ArticleRevision, predictions: list[dict]) -> dict:
    article = revision.article
    return {"data": {"text": revision.text, "title": article.title or article.id, "article_id": article.id,
                     "revision": revision.number, "wb_key": task_key(revision),
                     "source": article.source, "url": article.url},
            "predictions": predictions}


@dataclass
class PushReport:
    project_id: int
    project_url: str
    created_project: bool = False
    imported: int = 0
    recovered: int = 0
    predictions_added: int = 0
    predictions_not_added_annotated: int = 0  # tasks someone annotated keep the predictions they saw
    already_present: int = 0
    held_back: int = 0  # new tasks left for a later push by --limit
    overlap: dict | None = None  # the project's maximum_annotations and overlap_cohort_percentage, when set
    queue_order: str | None = None
    duplicates: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def ensure_project(session: Session, client: LabelStudioClient, title: str, config: str,
                   instructions: str) -> tuple[LabelStudioProject, bool]:
    """The bridge's project on this server: the recorded one, else one with the same title, else a new one."""
    config_sha = hashlib.sha256(config.encode("utf-8")).hexdigest()
    row = session.scalars(select(LabelStudioProject).where(LabelStudioProject.ls_url == client.url,
                                                           LabelStudioProject.title == title)
                          .order_by(LabelStudioProject.id.desc())).first()
    if row is not None and not client.project_exists(row.ls_project_id):
        row = None
    created = False
    if row is None:
        project_id = client.find_project(title)
        if project_id is None:
            project_id, created = client.create_project(title, config, instructions), True
        row = LabelStudioProject(ls_url=client.url, ls_project_id=project_id, title=title,
                                 config_sha256="" if not created else config_sha)
        session.add(row)
    if row.config_sha256 != config_sha:
        client.update_project(row.ls_project_id, config, instructions)
        row.config_sha256 = config_sha
    session.flush()
    return row, created


@dataclass
class Reconciled:
    recovered: int = 0
    duplicates: list[dict] = field(default_factory=list)
    annotated: set[int] = field(default_factory=set)  # Label Studio ids of tasks someone annotated or skipped


RECONCILE_FIELDS = ("id", "data", "total_annotations", "cancelled_annotations")


def reconcile(session: Session, client: LabelStudioClient, project: LabelStudioProject) -> Reconciled:
    """Record tasks that exist in Label Studio but are missing from the task map. Returns how many were
    recovered, the tasks that duplicate an article revision already mapped (imported twice by hand, or
    by two pushes at once): reported, never deleted — they may carry annotations — and which tasks
    people have touched (an annotation, submitted or skipped)."""
    known = {t.task_key: t for t in session.scalars(select(LabelStudioTask).where(
        LabelStudioTask.project_id == project.id))}
    revisions = {}
    found = Reconciled()
    for task in client.iter_tasks(project.ls_project_id, page_size=500, include=RECONCILE_FIELDS):
        if task.get("total_annotations") or task.get("cancelled_annotations"):
            found.annotated.add(task["id"])
        key = (task.get("data") or {}).get("wb_key")
        if key in known and known[key].ls_task_id != task["id"]:
            found.duplicates.append({"wb_key": key, "task_id": task["id"], "mapped_task_id": known[key].ls_task_id})
        if not key or key in known:
            continue
        if not revisions:
            revisions = {task_key(r): r for r in session.scalars(select(ArticleRevision))}
        revision = revisions.get(key)
        if revision is None:
            continue
        predictions = (client.get_task(task["id"]) or {}).get("predictions") or []  # rare: after a crash
        versions = sorted({p.get("model_version") for p in predictions if p.get("model_version")})
        known[key] = LabelStudioTask(project_id=project.id, revision_id=revision.id, ls_task_id=task["id"],
                                     task_key=key, model_versions=versions)
        session.add(known[key])
        found.recovered += 1
    session.flush()
    return found


def revisions_to_push(session: Session) -> list[ArticleRevision]:
    """The current revision of every article (its article loaded with it), in article id order."""
    return list(session.scalars(current_revisions().options(selectinload(ArticleRevision.article))))


def latest_preannotations(session: Session) -> dict[int, PreAnnotation]:
    """Each revision's newest pre-annotation, by revision id (one query)."""
    newest = select(func.max(PreAnnotation.id)).group_by(PreAnnotation.revision_id)
    return {pre.revision_id: pre for pre in session.scalars(select(PreAnnotation).where(PreAnnotation.id.in_(newest)))}


@dataclass
class PushOptions:
    title: str
    review_policy: str = "submitted"
    least_confident_first: bool = False
    batch_size: int = BATCH_SIZE
    queue_order: str | None = "least-confident"  # a key of SAMPLING; None leaves it as it is
    webhook_url: str | None = None
    webhook_secret: str | None = None
    limit: int | None = None  # import at most this many new tasks (after ordering)
    overlap: int | None = None  # annotators per task for a share of the tasks (Label Studio's overlap)
    overlap_share: float = 1.0


def push(session: Session, client: LabelStudioClient, scheme: Scheme, tasks_dir: Path, options: PushOptions,
         progress=None) -> PushReport:
    """Create or reuse the project, then import every current revision not yet in it, with predictions.
    Every prediction is validated before anything is sent."""
    config = labeling_config(scheme, tasks_dir, options.review_policy)
    instructions = (Path(tasks_dir) / "guidelines.md").read_text(encoding="utf-8")
    project, created = ensure_project(session, client, options.title, config, instructions)
    report = PushReport(project.ls_project_id, f"{client.url}/projects/{project.ls_project_id}",
                        created_project=created)
    found = reconcile(session, client, project)
    report.recovered, report.duplicates = found.recovered, found.duplicates
    pending, new_predictions = _plan(session, project, scheme, report, found.annotated)
    if options.least_confident_first:
        pending.sort(key=lambda item: (item[1].score if item[1] else 0.0, item[0].article_id))
    if options.limit is not None and len(pending) > options.limit:
        report.held_back, pending = len(pending) - options.limit, pending[:options.limit]
    pending = with_payloads(pending, scheme)  # every prediction validated before anything is sent
    if options.overlap is not None:  # before the import, so Label Studio draws the new tasks' overlap too
        report.overlap = client.set_overlap(project.ls_project_id, options.overlap,
                                            round(options.overlap_share * 100))
    for task, pre, payload in new_predictions:
        client.create_prediction(task.ls_task_id, payload["result"], payload["score"], payload["model_version"])
        task.model_versions = sorted({*task.model_versions, pre.model_version})
        report.predictions_added += 1
    batches = [pending[i:i + options.batch_size] for i in range(0, len(pending), options.batch_size)]
    for batch in (progress(batches) if progress else batches):
        _import_batch(session, client, project, batch)
        report.imported += len(batch)
        session.commit()
    report.queue_order = options.queue_order
    _point_project_at_latest_model(session, client, project, options.queue_order)
    if options.webhook_url and options.webhook_secret:
        client.ensure_webhook(project.ls_project_id, options.webhook_url,
                              {WEBHOOK_SECRET_HEADER: options.webhook_secret}, WEBHOOK_ACTIONS)
    return report


def _plan(session, project, scheme, report, annotated: set[int]):
    """(revisions to import with their payloads, predictions to add to existing tasks), all validated.
    A task someone annotated (in Label Studio now, or in what the bridge pulled) gets no new prediction:
    its annotations were made against the predictions it has."""
    annotated = annotated | set(session.scalars(select(LabelStudioTask.ls_task_id).join(
        Annotation, Annotation.task_id == LabelStudioTask.id).where(LabelStudioTask.project_id == project.id)))
    mapped = {t.revision_id: t for t in session.scalars(select(LabelStudioTask).where(
        LabelStudioTask.project_id == project.id))}
    newest = latest_preannotations(session)
    pending, new_predictions = [], []
    for revision in revisions_to_push(session):
        pre = newest.get(revision.id)
        task = mapped.get(revision.id)
        if task is None:
            pending.append((revision, pre))
        elif pre is not None and pre.model_version not in task.model_versions:
            if task.ls_task_id in annotated:
                report.predictions_not_added_annotated += 1
            else:
                new_predictions.append((task, pre, prediction_payload(pre, revision, scheme)))
        else:
            report.already_present += 1
    return pending, new_predictions


def with_payloads(pending, scheme: Scheme) -> list[tuple]:
    """(revision, pre-annotation, prediction payload) of each task to import, every one validated."""
    return [(revision, pre, prediction_payload(pre, revision, scheme) if pre else None) for revision, pre in pending]


def _point_project_at_latest_model(session, client, project, queue_order):
    """Annotators see the newest model's predictions; with a queue order, Label Studio serves the
    waiting tasks in it ("least-confident": the lowest-scored prediction of that model first)."""
    newest = session.scalars(select(PreAnnotation.model_version).order_by(PreAnnotation.id.desc())).first()
    if newest:
        client.set_model_version(project.ls_project_id, newest, SAMPLING.get(queue_order) if queue_order else None)


def _import_batch(session, client, project, batch):
    payloads = [task_payload(rev, [payload] if payload else []) for rev, _pre, payload in batch]
    ids = client.import_tasks(project.ls_project_id, payloads)
    if len(ids) != len(batch):
        raise LabelStudioError(f"Label Studio returned {len(ids)} task ids for {len(batch)} imported tasks; "
                               "run push again to reconcile", errors={"project": project.ls_project_id})
    for task_id, (revision, pre, _payload) in zip(ids, batch):
        session.add(LabelStudioTask(project_id=project.id, revision_id=revision.id, ls_task_id=task_id,
                                    task_key=task_key(revision),
                                    model_versions=[pre.model_version] if pre else []))
    session.flush()
