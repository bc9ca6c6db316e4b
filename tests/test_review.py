from types import SimpleNamespace

import pytest

from workbench.errors import ConfigError
from workbench.review import decide, summarize

TARGETS = ["أوكرانيا", "روسيا"]
STANCE = {"أوكرانيا": "NONE", "روسيا": "AGAINST"}
TASK = SimpleNamespace(ls_task_id=7)


def ann(id, *, cancelled=False, gt=False, deleted=False, problems=(), stance=STANCE, updated="2026-01-01T00:00:0"):
    return SimpleNamespace(id=id, ls_annotation_id=100 + id, was_cancelled=cancelled, ground_truth=gt,
                           deleted=deleted, problems=list(problems), stance=stance, ls_updated_at=f"{updated}{id}Z")


def test_no_annotation_waits():
    assert decide(TASK, [], "submitted", TARGETS).reason == "no annotation yet"


def test_skipped_only_waits():
    d = decide(TASK, [ann(1, cancelled=True)], "submitted", TARGETS)
    assert not d.accepted and d.reason == "only skipped (cancelled) annotations"


def test_submitted_takes_the_newest_non_cancelled():
    d = decide(TASK, [ann(1), ann(2), ann(3, cancelled=True)], "submitted", TARGETS)
    assert d.accepted and d.annotation.id == 2


def test_submitted_prefers_ground_truth():
    d = decide(TASK, [ann(1, gt=True), ann(2)], "submitted", TARGETS)
    assert d.annotation.id == 1


def test_ground_truth_policy_waits_without_one():
    d = decide(TASK, [ann(1), ann(2)], "ground_truth", TARGETS)
    assert not d.accepted and d.reason == "no annotation marked ground truth (2 submitted)"
    assert decide(TASK, [ann(1), ann(2, gt=True)], "ground_truth", TARGETS).annotation.id == 2


def test_deleted_annotations_do_not_count():
    d = decide(TASK, [ann(1, deleted=True)], "submitted", TARGETS)
    assert d.reason == "no annotation yet"


def test_annotation_with_span_problems_is_never_accepted():
    d = decide(TASK, [ann(1, problems=[{"problem": "mismatch"}])], "submitted", TARGETS)
    assert not d.accepted and "span or choice problem" in d.reason and "101" in d.reason


def test_missing_stance_waits():
    d = decide(TASK, [ann(1, stance={"أوكرانيا": "FAVOR"})], "submitted", TARGETS)
    assert not d.accepted and d.reason == "annotation 101 has no stance for روسيا"


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="WORKBENCH_REVIEW_POLICY"):
        decide(TASK, [ann(1)], "majority", TARGETS)


def test_summary_counts_reasons():
    decisions = [decide(TASK, [], "submitted", TARGETS), decide(TASK, [ann(1)], "submitted", TARGETS),
                 decide(TASK, [], "submitted", TARGETS)]
    assert summarize(decisions) == {"accepted": 1, "waiting": 2, "waiting_reasons": {"no annotation yet": 2}}
