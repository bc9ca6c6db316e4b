"""Stage 5 — review: which pulled annotation of a task counts as accepted.

The Community Edition of Label Studio has no review API, so the policy is a setting
(WORKBENCH_REVIEW_POLICY):
- `submitted`: any non-cancelled annotation; with several, the ground-truth one, else the newest;
- `ground_truth`: only the annotation marked ground truth in Label Studio (it keeps one per task);
- `accept_choice`: an annotation whose review choice (the config's ACCEPT/REJECT control, set by
  a reviewer) is ACCEPT;
- `review_status`: Label Studio Enterprise's review result, read from the annotation's
  `last_action` (accepted / fixed_and_accepted);
- `agreement:K`: K annotators agree — pairwise exact span F1 of at least WORKBENCH_AGREEMENT_SPAN_F1
  and the same stance on at least WORKBENCH_AGREEMENT_STANCE of the targets.
Under every policy an annotation a reviewer rejected (REJECT, or last_action `rejected`), whose
spans do not match the task text, or that lacks a stance for a target, is never accepted: the
task waits, with the reason."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .agreement import span_f1
from .annotations import latest_snapshots_by_task
from .models import Annotation, LabelStudioProject, LabelStudioTask
from . import policy as policies

ENTERPRISE_ACCEPTED = ("accepted", "fixed_and_accepted")


@dataclass(frozen=True)
class Policy:
    name: str
    k: int = 1
    min_span_f1: float = 0.8
    min_stance: float = 1.0

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        name, k = policies.parse(settings.review_policy)
        return cls(name, k, settings.agreement_span_f1, settings.agreement_stance)

    @classmethod
    def named(cls, policy: str) -> "Policy":
        return cls(*policies.parse(policy))


@dataclass(frozen=True)
class Decision:
    task: LabelStudioTask
    annotation: Annotation | None
    reason: str

    @property
    def accepted(self) -> bool:
        return self.annotation is not None


def rejected(annotation) -> bool:
    return annotation.review == "REJECT" or annotation.last_action == "rejected"


def newest(annotations):
    return max(annotations, key=lambda a: (a.ls_updated_at or "", a.id))


def decide(task: LabelStudioTask, annotations: list, policy: Policy | str, targets: list[str]) -> Decision:
    policy = Policy.named(policy) if isinstance(policy, str) else policy
    live = [a for a in annotations if not a.deleted]
    submitted = [a for a in live if not a.was_cancelled]
    if not live:
        return Decision(task, None, "no annotation yet")
    if not submitted:
        return Decision(task, None, "only skipped (cancelled) annotations")
    usable = [a for a in submitted if not rejected(a)]
    if not usable:
        return Decision(task, None, f"rejected by a reviewer ({len(submitted)} submitted)")
    chosen, reason = CHOOSERS[policy.name](usable, policy, targets)
    if chosen is None:
        return Decision(task, None, reason)
    if chosen.problems:
        return Decision(task, None, f"annotation {chosen.ls_annotation_id} has {len(chosen.problems)} "
                                    "span or choice problem(s); fix it in Label Studio")
    missing = [t for t in targets if t not in chosen.stance]
    if missing:
        return Decision(task, None, f"annotation {chosen.ls_annotation_id} has no stance for {', '.join(missing)}")
    return Decision(task, chosen, "accepted")


def _submitted(usable, _policy, _targets):
    return newest([a for a in usable if a.ground_truth] or usable), ""


def _ground_truth(usable, _policy, _targets):
    marked = [a for a in usable if a.ground_truth]
    return (newest(marked), "") if marked else (None, f"no annotation marked ground truth ({len(usable)} submitted)")


def _accept_choice(usable, _policy, _targets):
    accepted = [a for a in usable if a.review == "ACCEPT"]
    return (newest(accepted), "") if accepted else (None, "waiting for a reviewer's ACCEPT")


def _review_status(usable, _policy, _targets):
    accepted = [a for a in usable if a.last_action in ENTERPRISE_ACCEPTED]
    return (newest(accepted), "") if accepted else (None, "waiting for review (no accepted review status)")


def agree(a, b, policy: Policy, targets: list[str]) -> bool:
    same_stance = sum(1 for t in targets if a.stance.get(t) is not None and a.stance.get(t) == b.stance.get(t))
    return (span_f1(a.entities, b.entities) >= policy.min_span_f1
            and same_stance >= policy.min_stance * len(targets))


def _agreement(usable, policy: Policy, targets):
    by_annotator = {}
    for a in sorted(usable, key=lambda a: (a.ls_updated_at or "", a.id)):
        by_annotator[a.annotator] = a  # each annotator's newest annotation
    candidates = list(by_annotator.values())
    if len(candidates) < policy.k:
        return None, f"{len(candidates)} of {policy.k} annotators so far"
    support = {a.id: 1 + sum(agree(a, b, policy, targets) for b in candidates if b is not a) for a in candidates}
    best = max(candidates, key=lambda a: (support[a.id], a.ground_truth, a.ls_updated_at or "", a.id))
    if support[best.id] < policy.k:
        return None, f"{len(candidates)} annotators, at most {support[best.id]} agree ({policy.k} needed)"
    return best, ""


CHOOSERS = {policies.SUBMITTED: _submitted, policies.GROUND_TRUTH: _ground_truth,
            policies.ACCEPT_CHOICE: _accept_choice, policies.REVIEW_STATUS: _review_status,
            policies.AGREEMENT: _agreement}


def current_tasks(session: Session, project: LabelStudioProject) -> list[LabelStudioTask]:
    """The task of each article's newest pushed revision."""
    newest_task: dict[str, LabelStudioTask] = {}
    for task in session.scalars(select(LabelStudioTask).where(LabelStudioTask.project_id == project.id)
                                .options(selectinload(LabelStudioTask.revision))):
        held = newest_task.get(task.revision.article_id)
        if held is None or task.revision.number > held.revision.number:
            newest_task[task.revision.article_id] = task
    return [newest_task[k] for k in sorted(newest_task)]


def review_project(session: Session, project: LabelStudioProject, settings, targets: list[str]) -> list[Decision]:
    policy = Policy.from_settings(settings)
    latest = latest_snapshots_by_task(session, project)
    return [decide(task, list(latest.get(task.id, {}).values()), policy, targets)
            for task in current_tasks(session, project)]


def summarize(decisions: list[Decision]) -> dict:
    waiting = Counter(d.reason for d in decisions if not d.accepted)
    return {"accepted": sum(d.accepted for d in decisions), "waiting": sum(waiting.values()),
            "waiting_reasons": dict(sorted(waiting.items()))}
