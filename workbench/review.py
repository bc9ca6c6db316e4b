"""Stage 5 — review: which pulled annotation of a task counts as accepted.

The Community Edition of Label Studio has no review API, so the policy is a setting
(WORKBENCH_REVIEW_POLICY):
- `submitted`: any non-cancelled annotation; with several, the ground-truth one, else the newest;
- `ground_truth`: only the annotation marked ground truth in Label Studio (one per task).
An annotation whose spans do not match the task text, or that lacks a stance for a target,
is never accepted: it waits, with the reason."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .annotations import latest_snapshots
from .models import Annotation, LabelStudioProject, LabelStudioTask
from .settings import validate_review_policy


@dataclass(frozen=True)
class Decision:
    task: LabelStudioTask
    annotation: Annotation | None
    reason: str

    @property
    def accepted(self) -> bool:
        return self.annotation is not None


def decide(task: LabelStudioTask, annotations: list[Annotation], policy: str, targets: list[str]) -> Decision:
    validate_review_policy(policy)
    live = [a for a in annotations if not a.deleted]
    submitted = [a for a in live if not a.was_cancelled]
    if not live:
        return Decision(task, None, "no annotation yet")
    if not submitted:
        return Decision(task, None, "only skipped (cancelled) annotations")
    if policy == "ground_truth":
        candidates = [a for a in submitted if a.ground_truth]
        if not candidates:
            return Decision(task, None, f"no annotation marked ground truth ({len(submitted)} submitted)")
    else:
        candidates = [a for a in submitted if a.ground_truth] or submitted
    chosen = max(candidates, key=lambda a: (a.ls_updated_at or "", a.id))
    if chosen.problems:
        return Decision(task, None, f"annotation {chosen.ls_annotation_id} has {len(chosen.problems)} "
                                    "span or choice problem(s); fix it in Label Studio")
    missing = [t for t in targets if t not in chosen.stance]
    if missing:
        return Decision(task, None, f"annotation {chosen.ls_annotation_id} has no stance for {', '.join(missing)}")
    return Decision(task, chosen, "accepted")


def current_tasks(session: Session, project: LabelStudioProject) -> list[LabelStudioTask]:
    """The task of each article's newest pushed revision."""
    newest: dict[str, LabelStudioTask] = {}
    for task in session.scalars(select(LabelStudioTask).where(LabelStudioTask.project_id == project.id)):
        held = newest.get(task.revision.article_id)
        if held is None or task.revision.number > held.revision.number:
            newest[task.revision.article_id] = task
    return [newest[k] for k in sorted(newest)]


def review_project(session: Session, project: LabelStudioProject, policy: str, targets: list[str]) -> list[Decision]:
    return [decide(task, list(latest_snapshots(session, task).values()), policy, targets)
            for task in current_tasks(session, project)]


def summarize(decisions: list[Decision]) -> dict:
    waiting = Counter(d.reason for d in decisions if not d.accepted)
    return {"accepted": sum(d.accepted for d in decisions), "waiting": sum(waiting.values()),
            "waiting_reasons": dict(sorted(waiting.items()))}
