"""Stage 4 — annotations: pull what people did in Label Studio.

Every distinct version of an annotation is kept as raw JSON (append-only) with its parsed form
beside it. An annotation that disappeared from Label Studio gets a tombstone snapshot, so the
history says when it went. Spans that do not match the task text are reported with task and
annotation ids, never fixed or dropped.

Pulls are incremental: only tasks Label Studio updated after the last pull started (by Label
Studio's own clock, with an overlap; re-reading a task is harmless because identical snapshots
are not stored twice). A full pull runs first, on request, and whenever the last one is older than
WORKBENCH_FULL_PULL_HOURS, as the backstop for anything an incremental pull could miss."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import offsets
from .models import Annotation, AnnotationSnapshot, LabelStudioProject, LabelStudioTask, PullRun
from .scheme import Scheme
from .tasks import REVIEW_CHOICES, REVIEW_CONTROL, STANCE_PREFIX

if TYPE_CHECKING:  # the SDK is heavy; releases and reviews never talk to Label Studio
    from .labelstudio import LabelStudioClient

LS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
OVERLAP = timedelta(seconds=2)


class ParsedAnnotation(NamedTuple):
    entities: list[dict]
    stance: dict
    problems: list[dict]
    review: str | None


@dataclass
class PullReport:
    project_id: int
    mode: str = "full"
    tasks_seen: int = 0
    new_snapshots: int = 0
    deleted: int = 0
    unknown_tasks: list[int] = field(default_factory=list)
    mismatches: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


PAGE_SIZE = 500  # tasks per listing request
VOLATILE_FIELDS = ("created_ago",)  # "5 minutes": changes with the clock, not with the annotation


def canonical_sha256(raw: dict) -> str:
    """The hash that says whether an annotation changed. Label Studio's task list gives completed_by as an
    id and its single-task endpoint as a user object; both hash the same."""
    stable = {k: v for k, v in raw.items() if k not in VOLATILE_FIELDS}
    if isinstance(stable.get("completed_by"), dict):
        stable["completed_by"] = stable["completed_by"].get("id")
    return hashlib.sha256(json.dumps(stable, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def parse_annotation(raw: dict, text: str, scheme: Scheme) -> ParsedAnnotation:
    """Entities, stance per target, problems and review choice of one Label Studio annotation."""
    controls = {STANCE_PREFIX + t["key"]: t["target"] for t in scheme.targets}
    entities, stance, problems, review = [], {}, [], None
    for result in raw.get("result") or []:
        kind, name = result.get("type"), result.get("from_name")
        if kind == "labels" and name == offsets.ENTITIES_FROM:
            span, problem = offsets.from_label_studio(result, text)
            if problem is None and span["label"] not in scheme.entity_labels:
                problem = f"label {span['label']!r} is not in the scheme"
            if problem:
                problems.append({"result_id": result.get("id"), "span": span, "problem": problem})
            else:
                entities.append({"start": span["start"], "end": span["end"], "label": span["label"],
                                 "text": text[span["start"]:span["end"]]})
        elif kind == "choices" and (name in controls or name == REVIEW_CONTROL):
            allowed = REVIEW_CHOICES if name == REVIEW_CONTROL else scheme.stance_labels
            choices = (result.get("value") or {}).get("choices") or []
            if len(choices) != 1 or choices[0] not in allowed:
                problems.append({"result_id": result.get("id"), "control": name,
                                 "problem": f"{name} must be one of {list(allowed)}, got {choices!r}"})
            elif name == REVIEW_CONTROL:
                review = choices[0]
            else:
                stance[controls[name]] = choices[0]
        else:
            problems.append({"result_id": result.get("id"), "control": name,
                             "problem": f"unexpected result of type {kind!r} from {name!r}"})
    entities.sort(key=lambda s: (s["start"], s["end"]))
    return ParsedAnnotation(entities, stance, problems, review)


def annotator_of(raw: dict) -> str | None:
    name = (raw.get("created_username") or "").strip()
    user = raw.get("completed_by")
    if isinstance(user, dict):
        user = user.get("email") or user.get("id")
    return name or (str(user) if user is not None else None)


def latest_snapshots(session: Session, task: LabelStudioTask) -> dict[int, Annotation]:
    """The newest parsed version of every annotation of a task, deleted ones included."""
    rows = session.scalars(select(Annotation).where(Annotation.task_id == task.id).order_by(Annotation.id))
    return {row.ls_annotation_id: row for row in rows}


def latest_snapshots_by_task(session: Session, project: LabelStudioProject) -> dict[int, dict[int, Annotation]]:
    """latest_snapshots of every task of the project, by the task's row id, in one query."""
    by_task: dict[int, dict[int, Annotation]] = {}
    rows = session.scalars(select(Annotation).join(LabelStudioTask, Annotation.task_id == LabelStudioTask.id)
                           .where(LabelStudioTask.project_id == project.id).order_by(Annotation.id))
    for row in rows:
        by_task.setdefault(row.task_id, {})[row.ls_annotation_id] = row
    return by_task


def pull_mode(session: Session, project: LabelStudioProject, full: bool,
              full_pull_hours: float) -> tuple[str, str | None]:
    """("full", None) or ("incremental", the time to ask Label Studio for tasks updated after)."""
    runs = select(PullRun).where(PullRun.project_id == project.id).order_by(PullRun.id.desc())
    last_full = session.scalars(runs.where(PullRun.mode == "full")).first()
    last = session.scalars(runs.where(PullRun.watermark.is_not(None))).first()
    if full or last_full is None or last is None or _age_hours(last_full.started_at) > full_pull_hours:
        return "full", None
    since = datetime.strptime(last.watermark, LS_TIME_FORMAT) - OVERLAP
    return "incremental", since.strftime(LS_TIME_FORMAT)


def _age_hours(moment: datetime) -> float:
    if moment.tzinfo is None:  # SQLite returns naive datetimes
        moment = moment.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - moment).total_seconds() / 3600


def pull(session: Session, client: LabelStudioClient, project: LabelStudioProject, scheme: Scheme, *,
         full: bool = False, full_pull_hours: float = 24.0, progress=None) -> PullReport:
    mode, since = pull_mode(session, project, full, full_pull_hours)
    report = PullReport(project.ls_project_id, mode)
    tasks = _task_map(session, project)
    watermark = client.server_time().strftime(LS_TIME_FORMAT)
    listing = client.iter_tasks(project.ls_project_id, updated_after=since, annotated_only=mode == "full",
                                page_size=PAGE_SIZE)
    # a full pull reads every stored version once; an incremental one only those of the tasks it lists
    stored = latest_snapshots_by_task(session, project) if mode == "full" else None
    seen = set()
    for ls_task in (progress(listing) if progress else listing):
        seen.add(ls_task["id"])
        _pull_task(session, tasks, ls_task, scheme, report, stored)
    if mode == "full":  # a task whose every annotation was deleted is no longer listed as annotated
        live = {task.ls_task_id for task in tasks.values()
                if any(not row.deleted for row in stored.get(task.id, {}).values())}
        for task_id in sorted(live - seen):
            ls_task = client.get_task(task_id)
            if ls_task is not None:  # a task deleted in Label Studio keeps what was pulled of it
                _pull_task(session, tasks, ls_task, scheme, report, stored)
    session.add(PullRun(project_id=project.id, mode=mode, watermark=watermark, tasks_seen=report.tasks_seen,
                        new_snapshots=report.new_snapshots))
    session.flush()
    return report


def pull_tasks(session: Session, client: LabelStudioClient, project: LabelStudioProject, scheme: Scheme,
               ls_task_ids: list[int]) -> PullReport:
    """Pull named tasks only (webhook events); leaves the incremental watermark alone."""
    report = PullReport(project.ls_project_id, "tasks")
    tasks = _task_map(session, project)
    for task_id in sorted(set(ls_task_ids)):
        ls_task = client.get_task(task_id)
        if ls_task is not None:
            _pull_task(session, tasks, ls_task, scheme, report)
    session.add(PullRun(project_id=project.id, mode="tasks", tasks_seen=report.tasks_seen,
                        new_snapshots=report.new_snapshots))
    session.flush()
    return report


def tasks_of_annotations(session: Session, ls_annotation_ids: list[int]) -> list[int]:
    """Label Studio task ids of annotations the bridge has seen (ANNOTATIONS_DELETED names no task)."""
    rows = session.execute(select(LabelStudioTask.ls_task_id).join(Annotation, Annotation.task_id == LabelStudioTask.id)
                           .where(Annotation.ls_annotation_id.in_(ls_annotation_ids)).distinct())
    return [row[0] for row in rows]


def _task_map(session, project) -> dict[int, LabelStudioTask]:
    return {t.ls_task_id: t for t in session.scalars(select(LabelStudioTask).where(
        LabelStudioTask.project_id == project.id))}


def _pull_task(session, tasks, ls_task, scheme, report, stored=None):
    """Store a listed task's annotations; `stored` holds the project's latest_snapshots_by_task
    (read once per pull), else the task's are read now."""
    report.tasks_seen += 1
    task = tasks.get(ls_task["id"])
    if task is None:
        report.unknown_tasks.append(ls_task["id"])
        return
    current = stored.get(task.id, {}) if stored is not None else latest_snapshots(session, task)
    _store_task_annotations(session, task, ls_task.get("annotations") or [], scheme, report, current)


def _store_task_annotations(session, task, annotations, scheme, report, current):
    present = set()
    for raw in annotations:
        present.add(raw["id"])
        sha = canonical_sha256(raw)
        previous = current.get(raw["id"])
        if previous is not None and previous.snapshot.raw_sha256 == sha:
            continue
        parsed = _store_snapshot(session, task, raw, sha, scheme)
        report.new_snapshots += 1
        report.mismatches += [{"task_id": task.ls_task_id, "annotation_id": raw["id"], **p} for p in parsed.problems]
    for ann_id, previous in current.items():
        if ann_id not in present and not previous.deleted:
            _store_snapshot(session, task, {"id": ann_id, "deleted": True}, None, scheme)
            report.deleted += 1


def _store_snapshot(session, task, raw, sha, scheme) -> Annotation:
    deleted = bool(raw.get("deleted")) and set(raw) == {"id", "deleted"}
    snapshot = AnnotationSnapshot(task_id=task.id, ls_annotation_id=raw["id"], raw=raw,
                                  raw_sha256=sha or canonical_sha256(raw))
    parsed = ParsedAnnotation([], {}, [], None) if deleted else parse_annotation(raw, task.revision.text, scheme)
    row = Annotation(snapshot=snapshot, task_id=task.id, ls_annotation_id=raw["id"], annotator=annotator_of(raw),
                     entities=parsed.entities, stance=parsed.stance, problems=parsed.problems,
                     review=parsed.review, last_action=raw.get("last_action"),
                     was_cancelled=bool(raw.get("was_cancelled")), deleted=deleted,
                     ground_truth=bool(raw.get("ground_truth")), ls_updated_at=raw.get("updated_at"))
    session.add_all([snapshot, row])
    session.flush()
    return row
