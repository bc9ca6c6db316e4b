"""Parsing of annotation JSON as Label Studio 1.23 returns it (payloads recorded from a real server)."""
import pytest

from workbench.annotations import annotator_of, canonical_sha256, parse_annotation
from workbench.scheme import load_scheme
from workbench.settings import PROJECT_ROOT

TEXT = "قال زيلينسكي في كييف"
RECORDED = {
    "id": 1, "completed_by": 1, "created_username": " admin@example.com, 1", "was_cancelled": False,
    "ground_truth": True, "created_at": "2026-11-23T16:15:29.834887Z", "updated_at": "2026-11-23T16:15:29.834915Z",
    "task": 1, "project": 1, "lead_time": 12.5,
    "result": [
        {"id": "r1", "from_name": "entities", "to_name": "text", "type": "labels", "origin": "manual",
         "value": {"start": 4, "end": 12, "text": "زيلينسكي", "labels": ["PER"]}},
        {"id": "r2", "from_name": "entities", "to_name": "text", "type": "labels", "origin": "prediction",
         "value": {"start": 16, "end": 20, "text": "كييف", "labels": ["GPE"]}},
        {"id": "r3", "from_name": "stance_ukraine", "to_name": "text", "type": "choices",
         "value": {"choices": ["FAVOR"]}},
        {"id": "r4", "from_name": "stance_russia", "to_name": "text", "type": "choices",
         "value": {"choices": ["NONE"]}},
    ],
}


@pytest.fixture(scope="module")
def scheme():
    return load_scheme(PROJECT_ROOT / "tasks")


def test_recorded_annotation_parses(scheme):
    entities, stance, problems, review = parse_annotation(RECORDED, TEXT, scheme)
    assert review is None
    assert entities == [{"start": 4, "end": 12, "label": "PER", "text": "زيلينسكي"},
                        {"start": 16, "end": 20, "label": "GPE", "text": "كييف"}]
    assert stance == {"أوكرانيا": "FAVOR", "روسيا": "NONE"}
    assert problems == []


def test_mismatched_span_is_reported_not_fixed(scheme):
    raw = {**RECORDED, "result": [{"id": "bad", "from_name": "entities", "to_name": "text", "type": "labels",
                                   "value": {"start": 3, "end": 11, "text": "زيلينسكي", "labels": ["PER"]}}]}
    entities, _, problems, _ = parse_annotation(raw, TEXT, scheme)
    assert entities == []
    assert problems[0]["result_id"] == "bad" and "does not match" in problems[0]["problem"]


def test_unknown_label_and_bad_choice_are_problems(scheme):
    raw = {**RECORDED, "result": [
        {"id": "a", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 4, "end": 12, "text": "زيلينسكي", "labels": ["PERSON"]}},
        {"id": "b", "from_name": "stance_ukraine", "to_name": "text", "type": "choices",
         "value": {"choices": ["MAYBE"]}},
        {"id": "c", "from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["x"]}}]}
    _, stance, problems, review = parse_annotation(raw, TEXT, scheme)
    assert stance == {} and review is None
    assert [p["result_id"] for p in problems] == ["a", "b", "c"]


def test_review_choice_is_parsed_and_checked(scheme):
    choice = {"id": "rv", "from_name": "review", "to_name": "text", "type": "choices", "value": {"choices": ["ACCEPT"]}}
    assert parse_annotation({**RECORDED, "result": RECORDED["result"] + [choice]}, TEXT, scheme).review == "ACCEPT"
    bad = {**choice, "value": {"choices": ["MAYBE"]}}
    parsed = parse_annotation({**RECORDED, "result": [bad]}, TEXT, scheme)
    assert parsed.review is None and "review must be one of ['ACCEPT', 'REJECT']" in parsed.problems[0]["problem"]


def test_annotator_and_hash():
    assert annotator_of(RECORDED) == "admin@example.com, 1"
    assert annotator_of({"completed_by": 5}) == "5"
    assert annotator_of({"completed_by": {"id": 5, "email": "a@b.c"}}) == "a@b.c"
    assert canonical_sha256(RECORDED) == canonical_sha256(dict(reversed(list(RECORDED.items()))))


def test_hash_ignores_how_label_studio_renders_the_same_annotation():
    """The task list says completed_by=1 and "0 minutes" ago; the task endpoint, later, a user object."""
    single_task_form = {**RECORDED, "completed_by": {"id": 1, "email": "admin@example.com"}, "created_ago": "7 minutes"}
    assert canonical_sha256({**RECORDED, "created_ago": "0 minutes"}) == canonical_sha256(single_task_form)
    changed = {**RECORDED, "result": RECORDED["result"][:1]}
    assert canonical_sha256(changed) != canonical_sha256(RECORDED)
