"""Stage 4 — annotations: pull what people did in Label Studio.

Every distinct version of an annotation is kept as raw JSON (append-only) with its parsed form
beside it. An annotation that disappeared from Label Studio gets a tombstone snapshot, so the
history says when it went. Spans that do not match the task text are reported with task and
annotation ids, never fixed or dropped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import offsets
from .labelstudio import LabelStudioClient
from .models import Annotation, AnnotationSnapshot, LabelStudioProject, LabelStudioTask
from .scheme import Scheme
from .tasks import STANCE_PREFIX


@dataclass
class PullReport:
    project_id: int
    tasks_seen: int = 0
    new_snapshots: int = 0
    deleted: int = 0
    unknown_tasks: list[int] = field(default_factory=list)
    mismatches: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def canonical_sha256(raw: dict) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def parse_annotation(raw: dict, text: str, scheme: Scheme) -> tuple[list[dict], dict, list[dict]]:
    """Entities, stance per target and problems of one Label Studio annotation."""
    controls = {STANCE_PREFIX + t["key"]: t["target"] for t in scheme.targets}
    entities, stance, problems = [], {}, []
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
        elif kind == "choices" and name in controls:
            choices = (result.get("value") or {}).get("choices") or []
            if len(choices) == 1 and choices[0] in scheme.stance_labels:
                stance[controls[name]] = choices[0]
            else:
                problems.append({"result_id": result.get("id"), "control": name,
                                 "problem": f"stance must be one of {scheme.stance_labels}, got {choices!r}"})
        else:
            problems.append({"result_id": result.get("id"), "control": name,
                             "problem": f"unexpected result of type {kind!r} from {name!r}"})
    entities.sort(key=lambda s: (s["start"], s["end"]))
    return entities, stance, problems


def annotator_of(raw: dict) -> str | None:
    name = (raw.get("created_username") or "").strip()
    return name or (str(raw["completed_by"]) if raw.get("completed_by") is not None else None)


def latest_snapshots(session: Session, task: LabelStudioTask) -> dict[int, Annotation]:
    """The newest parsed version of every annotation of a task, deleted ones included."""
    rows = session.scalars(select(Annotation).where(Annotation.task_id == task.id).order_by(Annotation.id))
    return {row.ls_annotation_id: row for row in rows}


def pull(session: Session, client: LabelStudioClient, project: LabelStudioProject, scheme: Scheme,
         progress=None) -> PullReport:
    report = PullReport(project.ls_project_id)
    tasks = {t.ls_task_id: t for t in session.scalars(select(LabelStudioTask).where(
        LabelStudioTask.project_id == project.id))}
    listing = client.iter_tasks(project.ls_project_id)
    for ls_task in (progress(listing) if progress else listing):
        report.tasks_seen += 1
        task = tasks.get(ls_task["id"])
        if task is None:
            report.unknown_tasks.append(ls_task["id"])
            continue
        _store_task_annotations(session, task, ls_task.get("annotations") or [], scheme, report)
    session.flush()
    return report


def _store_task_annotations(session, task, annotations, scheme, report):
    current = latest_snapshots(session, task)
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
    entities, stance, problems = ([], {}, []) if deleted else parse_annotation(raw, task.revision.text, scheme)
    parsed = Annotation(snapshot=snapshot, task_id=task.id, ls_annotation_id=raw["id"], annotator=annotator_of(raw),
                        entities=entities, stance=stance, problems=problems,
                        was_cancelled=bool(raw.get("was_cancelled")), deleted=deleted,
                        ground_truth=bool(raw.get("ground_truth")), ls_updated_at=raw.get("updated_at"))
    session.add_all([snapshot, parsed])
    session.flush()
    return parsed
