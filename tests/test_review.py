from types import SimpleNamespace

import pytest

from workbench.errors import ConfigError
from workbench.review import Policy, agree, decide, summarize

TARGETS = ["أوكرانيا", "روسيا"]
STANCE = {"أوكرانيا": "NONE", "روسيا": "AGAINST"}
SPANS = [{"start": 0, "end": 4, "label": "PER"}, {"start": 10, "end": 15, "label": "GPE"}]
TASK = SimpleNamespace(ls_task_id=7)


def ann(id, *, cancelled=False, gt=False, deleted=False, problems=(), stance=STANCE, review=None,
        last_action=None, annotator=None, entities=SPANS):
    return SimpleNamespace(id=id, ls_annotation_id=100 + id, was_cancelled=cancelled, ground_truth=gt,
                           deleted=deleted, problems=list(problems), stance=stance, review=review,
                           last_action=last_action, annotator=annotator or f"user{id}", entities=list(entities),
                           ls_updated_at=f"2026-01-01T00:00:0{id}Z")


def test_no_annotation_waits():
    assert decide(TASK, [], "submitted", TARGETS).reason == "no annotation yet"


def test_skipped_only_waits():
    d = decide(TASK, [ann(1, cancelled=True)], "submitted", TARGETS)
    assert not d.accepted and d.reason == "only skipped (cancelled) annotations"


def test_submitted_takes_the_newest_non_cancelled():
    d = decide(TASK, [ann(1), ann(2), ann(3, cancelled=True)], "submitted", TARGETS)
    assert d.accepted and d.annotation.id == 2


def test_submitted_prefers_ground_truth():
    assert decide(TASK, [ann(1, gt=True), ann(2)], "submitted", TARGETS).annotation.id == 1


def test_ground_truth_policy_waits_without_one():
    d = decide(TASK, [ann(1), ann(2)], "ground_truth", TARGETS)
    assert not d.accepted and d.reason == "no annotation marked ground truth (2 submitted)"
    assert decide(TASK, [ann(1), ann(2, gt=True)], "ground_truth", TARGETS).annotation.id == 2


def test_accept_choice_policy():
    d = decide(TASK, [ann(1), ann(2)], "accept_choice", TARGETS)
    assert not d.accepted and d.reason == "waiting for a reviewer's ACCEPT"
    assert decide(TASK, [ann(1, review="ACCEPT"), ann(2)], "accept_choice", TARGETS).annotation.id == 1


def test_rejected_annotations_never_count_under_any_policy():
    for policy in ("submitted", "ground_truth", "accept_choice", "review_status"):
        d = decide(TASK, [ann(1, review="REJECT", gt=True), ann(2, last_action="rejected", gt=True)], policy, TARGETS)
        assert not d.accepted and d.reason == "rejected by a reviewer (2 submitted)"


def test_review_status_policy_reads_enterprise_last_action():
    assert not decide(TASK, [ann(1, last_action="submitted")], "review_status", TARGETS).accepted
    d = decide(TASK, [ann(1, last_action="fixed_and_accepted"), ann(2)], "review_status", TARGETS)
    assert d.annotation.id == 1


def test_agreement_needs_k_distinct_annotators():
    d = decide(TASK, [ann(1, annotator="a"), ann(2, annotator="a")], "agreement:2", TARGETS)
    assert not d.accepted and d.reason == "1 of 2 annotators so far"


def test_agreement_accepts_when_k_agree():
    d = decide(TASK, [ann(1), ann(2)], "agreement:2", TARGETS)
    assert d.accepted and d.annotation.id == 2


def test_agreement_refuses_when_spans_or_stance_differ():
    other_spans = [SPANS[0], {"start": 20, "end": 25, "label": "ORG"}, {"start": 30, "end": 33, "label": "ORG"}]
    d = decide(TASK, [ann(1), ann(2, entities=other_spans)], "agreement:2", TARGETS)
    assert not d.accepted and d.reason == "2 annotators, at most 1 agree (2 needed)"
    d = decide(TASK, [ann(1), ann(2, stance={"أوكرانيا": "FAVOR", "روسيا": "AGAINST"})], "agreement:2", TARGETS)
    assert not d.accepted


def test_agreement_thresholds_are_settings():
    loose = Policy("agreement", 2, min_span_f1=0.3, min_stance=0.5)
    a, b = ann(1), ann(2, entities=SPANS[:1], stance={"أوكرانيا": "NONE", "روسيا": "FAVOR"})
    assert agree(a, b, loose, TARGETS) and not agree(a, b, Policy("agreement", 2), TARGETS)


def test_two_of_three_agree():
    odd = ann(3, entities=[], stance={"أوكرانيا": "FAVOR", "روسيا": "FAVOR"})
    d = decide(TASK, [ann(1), odd, ann(2)], "agreement:2", TARGETS)
    assert d.accepted and d.annotation.id in (1, 2)
    assert not decide(TASK, [ann(1), odd, ann(2)], "agreement:3", TARGETS).accepted


def test_deleted_annotations_do_not_count():
    assert decide(TASK, [ann(1, deleted=True)], "submitted", TARGETS).reason == "no annotation yet"


def test_annotation_with_span_problems_is_never_accepted():
    d = decide(TASK, [ann(1, problems=[{"problem": "mismatch"}])], "submitted", TARGETS)
    assert not d.accepted and "span or choice problem" in d.reason and "101" in d.reason


def test_missing_stance_waits():
    d = decide(TASK, [ann(1, stance={"أوكرانيا": "FAVOR"})], "submitted", TARGETS)
    assert not d.accepted and d.reason == "annotation 101 has no stance for روسيا"


@pytest.mark.parametrize("policy", ["majority", "agreement:1", "agreement:x", "agreement"])
def test_unknown_policy_is_a_config_error(policy):
    with pytest.raises(ConfigError, match="WORKBENCH_REVIEW_POLICY"):
        decide(TASK, [ann(1)], policy, TARGETS)


def test_summary_counts_reasons():
    decisions = [decide(TASK, [], "submitted", TARGETS), decide(TASK, [ann(1)], "submitted", TARGETS),
                 decide(TASK, [], "submitted", TARGETS)]
    assert summarize(decisions) == {"accepted": 1, "waiting": 2, "waiting_reasons": {"no annotation yet": 2}}
