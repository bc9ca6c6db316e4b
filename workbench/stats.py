"""The dashboard's figures, computed once here and shown by both the HTML pages (web/dashboard.py)
and GET /api/stats: pipeline progress, annotators, inter-annotator agreement, the quality of each
pre-annotation model version against accepted annotations, and every release.

Each section is a function of (session, settings) returning plain JSON-ready data. The counts are
`workflow.status`'s own; agreement is agreement.py's; releases are read through feed.py."""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import agreement, annotations, feed, review, workflow
from .db import session_scope
from .errors import InputError, WorkbenchError
from .models import AnnotationSnapshot, Article, LabelStudioProject, LabelStudioTask, PreAnnotation, Release
from .scheme import load_scheme
from .settings import Settings

CORRECTIONS = ("kept", "relabelled", "moved", "deleted", "added")
TIMELINE_SERIES = ("ingested", "preannotated", "pushed", "annotated", "released")


def project_of(session: Session, settings: Settings) -> LabelStudioProject | None:
    """The configured project, or None before the first push (or without WORKBENCH_LABEL_STUDIO_URL)."""
    try:
        return workflow.current_project(session, settings)
    except WorkbenchError:
        return None


def task_link(settings: Settings, project: LabelStudioProject | None, ls_task_id: int) -> str | None:
    """Where a person opens the task in Label Studio."""
    if project is None or not project.ls_url:
        return None
    return f"{project.ls_url.rstrip('/')}/projects/{project.ls_project_id}/data?task={ls_task_id}"


def _decisions(session: Session, settings: Settings, project) -> list[review.Decision]:
    if project is None:
        return []
    return review.review_project(session, project, settings, load_scheme(settings.tasks_dir).target_names)


# --- progress ----------------------------------------------------------------------------------

def progress(session: Session, settings: Settings) -> dict:
    """`workflow.status`'s counts, the waiting tasks by reason, and cumulative counts per day."""
    state = workflow.status(settings)
    project = project_of(session, settings)
    waiting = review.summarize(_decisions(session, settings, project))["waiting_reasons"]
    return {"counts": state["counts"], "waiting_reasons": waiting, "latest_release": state["latest_release"],
            "review_policy": state["review_policy"], "timeline": timeline(session)}


def timeline(session: Session) -> list[dict]:
    """Per UTC day with any event: the running totals of articles ingested, revisions first
    pre-annotated, tasks pushed, annotations first pulled and releases written."""
    first_preannotation = select(func.min(PreAnnotation.created_at)).group_by(PreAnnotation.revision_id)
    first_snapshot = select(func.min(AnnotationSnapshot.pulled_at)).group_by(
        AnnotationSnapshot.task_id, AnnotationSnapshot.ls_annotation_id)
    moments = {"ingested": session.scalars(select(Article.created_at)),
               "preannotated": session.scalars(first_preannotation),
               "pushed": session.scalars(select(LabelStudioTask.pushed_at)),
               "annotated": session.scalars(first_snapshot),
               "released": session.scalars(select(Release.created_at))}
    per_day = {name: Counter(_day(m) for m in values if m is not None) for name, values in moments.items()}
    days = sorted(set().union(*per_day.values()))
    totals, rows = dict.fromkeys(TIMELINE_SERIES, 0), []
    for day in days:
        for name in TIMELINE_SERIES:
            totals[name] += per_day[name][day]
        rows.append({"date": day, **totals})
    return rows


def _day(moment: datetime | str) -> str:
    return (moment if isinstance(moment, str) else moment.isoformat())[:10]


# --- agreement and annotators -----------------------------------------------------------------

def agreement_tasks(session: Session, project) -> list[dict]:
    """Every current task's live, submitted, well-formed annotations, as the release reports them."""
    return [] if project is None else list(workflow._agreement_tasks(session, project))


def agreement_report(session: Session, settings: Settings) -> dict:
    """The release's agreement report over the current annotations (span F1 per annotator pair and
    label, Krippendorff's alpha per stance target), its low-agreement tasks linked to Label Studio."""
    project = project_of(session, settings)
    targets = load_scheme(settings.tasks_dir).target_names
    report = agreement.release_agreement(agreement_tasks(session, project), targets)
    for task in report["low_agreement_tasks"]:
        task["link"] = task_link(settings, project, task["task_id"])
    return report


def annotators(session: Session, settings: Settings) -> list[dict]:
    """Per annotator: tasks with a submitted annotation, annotations accepted, median Label Studio
    lead_time (seconds spent, where the raw annotation has it) and mean exact span F1 / stance
    agreement with the other annotators of the same tasks."""
    project = project_of(session, settings)
    if project is None:
        return []
    done, lead_times = defaultdict(set), defaultdict(list)
    for task in review.current_tasks(session, project):
        for row in annotations.latest_snapshots(session, task).values():
            if row.deleted or row.was_cancelled:
                continue
            done[row.annotator].add(task.ls_task_id)
            lead_time = (row.snapshot.raw or {}).get("lead_time")
            if isinstance(lead_time, (int, float)) and not isinstance(lead_time, bool):
                lead_times[row.annotator].append(float(lead_time))
    accepted = Counter(d.annotation.annotator for d in _decisions(session, settings, project) if d.accepted)
    f1s, stances = _agreement_with_others(agreement_tasks(session, project))
    return [{"annotator": name, "tasks": len(done[name]), "accepted": accepted[name],
             "median_lead_time": _round(statistics.median(lead_times[name])) if lead_times[name] else None,
             "mean_span_f1_with_others": _round(statistics.fmean(f1s[name])) if f1s[name] else None,
             "stance_agreement_with_others": _round(statistics.fmean(stances[name])) if stances[name] else None,
             "compared_annotations": len(f1s[name])}
            for name in sorted(done, key=str)]


def _agreement_with_others(tasks: list[dict]) -> tuple[dict, dict]:
    """annotator -> exact span F1 values, and -> 1/0 per shared stance target, against every other
    annotator's annotation of the same task."""
    f1s, stances = defaultdict(list), defaultdict(list)
    for task in tasks:
        for mine in task["annotations"]:
            for other in task["annotations"]:
                if other["annotator"] == mine["annotator"]:
                    continue
                f1s[mine["annotator"]].append(agreement.span_f1(mine["entities"], other["entities"]))
                stances[mine["annotator"]] += [float(mine["stance"][t] == other["stance"][t])
                                               for t in mine["stance"] if t in other["stance"]]
    return f1s, stances


# --- pre-annotation quality ---------------------------------------------------------------------

def preannotation_quality(session: Session, settings: Settings) -> list[dict]:
    """Per model version, over the tasks whose accepted annotation it pre-annotated: exact-span
    precision, recall and F1 per label, and the correction effort (predicted spans kept, relabelled
    on the same range, moved with the same label, deleted; spans the annotator added)."""
    project = project_of(session, settings)
    return quality_of(session, ((d.task.revision_id, d.annotation.entities, None)
                                for d in _decisions(session, settings, project) if d.accepted))


def quality_of(session: Session, accepted: Iterable[tuple[int, list[dict], list[str] | None]]) -> list[dict]:
    """`preannotation_quality` over any accepted annotations, given as (revision id, accepted
    spans, the model versions to compare, or None for every prediction stored for the revision);
    `workbench report` passes a release's records."""
    by_version: dict[str, dict] = {}
    for revision_id, entities, model_versions in accepted:
        predictions = session.scalars(select(PreAnnotation).where(PreAnnotation.revision_id == revision_id))
        for pre in predictions:
            if model_versions is not None and pre.model_version not in model_versions:
                continue
            entry = by_version.setdefault(pre.model_version, {
                "tasks": 0, "labels": defaultdict(lambda: [0, 0, 0]), "corrections": Counter()})
            entry["tasks"] += 1
            for label, counts in _label_counts(pre.entities, entities).items():
                for i in range(3):
                    entry["labels"][label][i] += counts[i]
            entry["corrections"].update(corrections(pre.entities, entities))
    return [{"model_version": version, "tasks": entry["tasks"],
             "labels": {label: _scores(*counts) for label, counts in sorted(entry["labels"].items())},
             "overall": _scores(*map(sum, zip(*entry["labels"].values()))) if entry["labels"] else _scores(0, 0, 0),
             "corrections": {name: entry["corrections"][name] for name in CORRECTIONS}}
            for version, entry in sorted(by_version.items())]


def _label_counts(predicted: list[dict], accepted: list[dict]) -> dict[str, tuple[int, int, int]]:
    """label -> (exact matches, predicted, accepted)."""
    labels = {s["label"] for s in predicted} | {s["label"] for s in accepted}
    return {label: agreement.match_counts(predicted, accepted, "exact", [label]) for label in labels}


def _scores(matched: int, predicted: int, accepted: int) -> dict:
    precision = matched / predicted if predicted else None
    recall = matched / accepted if accepted else None
    return {"precision": _round(precision), "recall": _round(recall),
            "f1": _round(agreement.f1_from_counts(matched, predicted, accepted)) if predicted + accepted else None,
            "matched": matched, "predicted": predicted, "accepted": accepted}


def corrections(predicted: list[dict], accepted: list[dict]) -> dict[str, int]:
    """What the annotator did to the predicted spans: each predicted span is kept (same range and
    label), relabelled (same range, other label), moved (same label, overlapping range) or deleted;
    accepted spans left unmatched were added. Each span is matched once, in that order."""
    left, right = list(predicted), list(accepted)
    counts = {}
    for name, same in (("kept", lambda p, a: _range(p) == _range(a) and p["label"] == a["label"]),
                       ("relabelled", lambda p, a: _range(p) == _range(a)),
                       ("moved", lambda p, a: p["label"] == a["label"] and p["start"] < a["end"]
                        and a["start"] < p["end"])):
        counts[name] = 0
        for p in sorted(left, key=_range):
            match = next((a for a in right if same(p, a)), None)
            if match is not None:
                left.remove(p)
                right.remove(match)
                counts[name] += 1
    return {**counts, "deleted": len(left), "added": len(right)}


def _range(span: dict) -> tuple[int, int]:
    return span["start"], span["end"]


# --- releases ----------------------------------------------------------------------------------

def versions(_session: Session, settings: Settings) -> list[dict]:
    """Every release folder, newest last: counts, splits, label and stance distribution from its
    manifest, its parent, and the difference from the parent; a broken one with its problem."""
    exports = settings.exports_dir
    out = []
    for listed in feed.list_releases(exports, deep=False):
        if listed["broken"]:
            out.append({"version": listed["version"], "broken": True, "problem": listed["problem"]})
            continue
        try:
            manifest = feed.read_manifest(exports, listed["version"])
        except InputError as exc:  # changed since it was listed
            out.append({"version": listed["version"], "broken": True, "problem": exc.message})
            continue
        stats = manifest.get("stats") or {}
        parent = manifest.get("parent")
        out.append({"version": listed["version"], "broken": False, "created_at": manifest.get("created_at"),
                    "parent": parent, "examples": listed["examples"], "splits": stats.get("splits", {}),
                    "entity_labels": stats.get("entity_labels", {}), "stance": stats.get("stance", {}),
                    "review_policy": manifest.get("review_policy"),
                    "diff": _diff_summary(settings, parent, listed["version"]) if parent else None})
    return out


def _diff_summary(settings: Settings, parent: str, version: str) -> dict:
    try:
        diff = workflow.diff_releases(settings, parent, version)
    except WorkbenchError as exc:
        return {"problem": exc.message}
    return {"added": len(diff["added"]), "removed": len(diff["removed"]), "changed": len(diff["changed"]),
            "unchanged": diff["unchanged"], "entity_label_delta": diff["entity_label_delta"],
            "stance_delta": diff["stance_delta"]}


# --- all of it ---------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[Session, Settings], object]] = {
    "progress": progress, "annotators": annotators, "agreement": agreement_report,
    "quality": preannotation_quality, "versions": versions}


def collect(settings: Settings, sections: tuple[str, ...] | None = None) -> dict:
    """The named sections (all by default) as one JSON-ready dict; what GET /api/stats answers."""
    unknown = [s for s in sections or () if s not in SECTIONS]
    if unknown:
        raise InputError(f"unknown stats section(s) {unknown}: choose from {list(SECTIONS)}",
                         errors={"section": unknown})
    with session_scope(settings) as session:
        return {name: SECTIONS[name](session, settings) for name in sections or SECTIONS}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
