"""Issue 4 behaviour against the real Label Studio: incremental pull, resumable push through an
outage, least-confident-first, webhooks and the ML-backend protocol."""
import dataclasses
import time

import pytest
import requests
from conftest import gold_result
from ls_proxy import ForwardingProxy
from sqlalchemy import func, select

from workbench import workflow
from workbench.annotations import OVERLAP
from workbench.db import session_scope
from workbench.errors import LabelStudioError
from workbench.models import Annotation, PreAnnotation

pytestmark = pytest.mark.label_studio


def load_corpus(settings, corpus, **push_options):
    workflow.ingest_paths(settings, [corpus])
    workflow.preannotate(settings)
    return workflow.push(settings, **push_options)


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_incremental_pull_reads_only_updated_tasks(ls_settings, sample_corpus, annotator, gold):
    report = load_corpus(ls_settings, sample_corpus)
    time.sleep(OVERLAP.total_seconds() + 1.5)  # so the import itself falls before the overlap window
    first = workflow.pull(ls_settings)
    assert (first["mode"], first["tasks_seen"]) == ("full", 0)  # a full pull lists only annotated tasks
    task_id = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}[gold[2]["id"]]
    annotator.annotate(task_id, gold_result(gold[2]))
    second = workflow.pull(ls_settings)
    assert (second["mode"], second["tasks_seen"], second["new_snapshots"], second["accepted"]) == \
        ("incremental", 1, 1, 1)
    third = workflow.pull(ls_settings, full=True)
    assert (third["mode"], third["tasks_seen"], third["new_snapshots"]) == ("full", 1, 0)


def test_deleted_annotation_is_caught_by_an_incremental_pull(ls_settings, sample_corpus, annotator, gold):
    report = load_corpus(ls_settings, sample_corpus)
    task_id = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}[gold[0]["id"]]
    ann = annotator.annotate(task_id, gold_result(gold[0]))
    assert workflow.pull(ls_settings)["accepted"] == 1
    annotator.delete(ann["id"])
    pulled = workflow.pull(ls_settings)
    assert (pulled["mode"], pulled["deleted"], pulled["accepted"]) == ("incremental", 1, 0)


def test_a_full_pull_lists_only_annotated_tasks_and_still_sees_a_deletion(ls_settings, sample_corpus, annotator,
                                                                            gold):
    report = load_corpus(ls_settings, sample_corpus)
    ids = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}
    kept = annotator.annotate(ids[gold[0]["id"]], gold_result(gold[0]))
    gone = annotator.annotate(ids[gold[1]["id"]], gold_result(gold[1]))
    annotator.annotate(ids[gold[2]["id"]], [], was_cancelled=True)
    first = workflow.pull(ls_settings, full=True)
    assert (first["tasks_seen"], first["new_snapshots"], first["accepted"]) == (3, 3, 2)
    annotator.delete(gone["id"])  # the task has no annotation left: Label Studio no longer lists it as annotated
    second = workflow.pull(ls_settings, full=True)
    assert (second["mode"], second["tasks_seen"], second["deleted"], second["accepted"]) == ("full", 3, 1, 1)
    third = workflow.pull(ls_settings, full=True)  # the tombstone is stored: the task is not read again
    assert (third["tasks_seen"], third["deleted"], third["new_snapshots"]) == (2, 0, 0)
    with session_scope(ls_settings) as session:
        rows = session.execute(select(Annotation.ls_annotation_id, Annotation.deleted)).all()
    assert len(rows) == 4  # three annotations as pulled, one tombstone: nothing overwritten
    assert sorted(deleted for ann_id, deleted in rows if ann_id == gone["id"]) == [False, True]
    assert [deleted for ann_id, deleted in rows if ann_id == kept["id"]] == [False]


class FlakyProxy(ForwardingProxy):
    """Breaks (503) after `imports_allowed` task imports, as a Label Studio outage in the middle of a
    push would."""

    def __init__(self, target: str, imports_allowed: int):
        self.imports_allowed = imports_allowed
        super().__init__(target)

    def intercept(self, path):
        if "/import" in path:
            if self.imports_allowed <= 0:
                return 503
            self.imports_allowed -= 1
        return None


def test_push_cut_off_by_an_outage_resumes_without_duplicates(ls_settings, sample_corpus, annotator):
    proxy = FlakyProxy(ls_settings.label_studio_url, imports_allowed=2)
    try:
        through_proxy = dataclasses.replace(ls_settings, label_studio_url=proxy.url)
        workflow.ingest_paths(ls_settings, [sample_corpus])
        workflow.preannotate(ls_settings)
        with pytest.raises(LabelStudioError, match="answered 503"):
            workflow.push(through_proxy, batch_size=2)
    finally:
        proxy.close()
    # the proxied project is recorded under the proxy's URL; the rerun goes to the server directly
    project_id = annotator.session.get(f"{ls_settings.label_studio_url}/api/projects",
                                       params={"title": ls_settings.project_title}).json()["results"][0]["id"]
    assert len(annotator.tasks(project_id)) == 4
    again = workflow.push(ls_settings, batch_size=2)
    assert again.project_id == project_id
    assert (again.recovered, again.imported) == (4, 1)
    keys = [t["data"]["wb_key"] for t in annotator.tasks(project_id)]
    assert len(keys) == len(set(keys)) == 5


def test_least_confident_tasks_are_pushed_first(ls_settings, sample_corpus, annotator):
    report = load_corpus(ls_settings, sample_corpus, least_confident_first=True)
    with session_scope(ls_settings) as session:
        scores = dict(session.execute(select(PreAnnotation.revision_id, PreAnnotation.score)).all())
        by_article = {}
        for pre in session.scalars(select(PreAnnotation)):
            by_article[pre.revision.article_id] = scores[pre.revision_id]
    tasks = sorted(annotator.tasks(report.project_id), key=lambda t: t["id"])
    pushed_scores = [by_article[t["data"]["article_id"]] for t in tasks]
    assert pushed_scores == sorted(pushed_scores)
    assert annotator.project(report.project_id)["model_version"] == tasks[0]["predictions"][0]["model_version"]


def test_webhook_events_from_label_studio_trigger_pulls(bridge, sample_corpus, annotator, gold):
    settings, app = bridge
    report = load_corpus(settings, sample_corpus)
    hooks = annotator.session.get(f"{settings.label_studio_url}/api/webhooks",
                                  params={"project": report.project_id}).json()
    assert [h["url"] for h in hooks] == [f"{settings.bridge_url}/webhooks/label-studio"]
    assert hooks[0]["headers"] == {"X-Workbench-Webhook-Secret": "s3cret"}
    assert workflow.push(settings).imported == 0  # registering again does not add a second webhook
    assert len(annotator.session.get(f"{settings.label_studio_url}/api/webhooks",
                                     params={"project": report.project_id}).json()) == 1

    task_id = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}[gold[3]["id"]]
    ann = annotator.annotate(task_id, gold_result(gold[3]))

    def stored(deleted):
        with session_scope(settings) as session:
            return session.scalar(select(func.count(Annotation.id)).where(
                Annotation.ls_annotation_id == ann["id"], Annotation.deleted.is_(deleted))) > 0

    wait_for(lambda: stored(False), "the webhook pull of a new annotation")
    # the same annotation, read again through the task list, is not a new version
    assert workflow.pull(settings, full=True)["new_snapshots"] == 0
    annotator.delete(ann["id"])  # ANNOTATIONS_DELETED names only the annotation id
    wait_for(lambda: stored(True), "the webhook pull of a deleted annotation")


def test_label_studio_uses_the_bridge_as_its_ml_backend(bridge, sample_corpus, annotator):
    settings, _app = bridge
    workflow.ingest_paths(settings, [sample_corpus])  # no preannotate: predictions must come from /ml
    report = workflow.push(settings)
    url = settings.label_studio_url
    backend = annotator.session.post(f"{url}/api/ml", json={
        "url": f"{settings.bridge_url}/ml", "project": report.project_id, "title": "workbench",
        "auth_method": "BASIC_AUTH", "basic_auth_user": "label-studio", "basic_auth_pass": settings.api_token})
    assert backend.status_code == 201, backend.text
    r = annotator.session.post(f"{url}/api/dm/actions", params={"id": "retrieve_tasks_predictions",
                                                                "project": report.project_id},
                               json={"selectedItems": {"all": True, "excluded": []}})
    assert r.status_code == 200, r.text
    tasks = annotator.tasks(report.project_id)
    assert all(len(t["predictions"]) == 1 for t in tasks)
    for task in tasks:
        spans = [r["value"] for r in task["predictions"][0]["result"] if r["type"] == "labels"]
        assert spans and all(task["data"]["text"][s["start"]:s["end"]] == s["text"] for s in spans)
    assert {t["predictions"][0]["model_version"] for t in tasks} == \
        {requests.get(f"{settings.bridge_url}/ml/health", auth=("x", settings.api_token)).json()["model_version"]}


def policy_settings(ls_settings, policy):
    return dataclasses.replace(ls_settings, review_policy=policy)


def test_accept_choice_policy_puts_a_review_control_in_the_config(ls_settings, sample_corpus, annotator, gold):
    settings = policy_settings(ls_settings, "accept_choice")
    report = load_corpus(settings, sample_corpus)
    assert '<Choices name="review"' in annotator.project(report.project_id)["label_config"]
    task_id = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}[gold[1]["id"]]
    ann = annotator.annotate(task_id, gold_result(gold[1]))
    assert workflow.pull(settings)["waiting_reasons"] == {"waiting for a reviewer's ACCEPT": 1,
                                                          "no annotation yet": 4}
    accept = {"from_name": "review", "to_name": "text", "type": "choices", "value": {"choices": ["ACCEPT"]}}
    annotator.update(ann["id"], result=gold_result(gold[1]) + [accept])
    assert workflow.pull(settings)["accepted"] == 1


def test_review_status_policy_reads_last_action(ls_settings, sample_corpus, annotator, gold):
    settings = policy_settings(ls_settings, "review_status")
    report = load_corpus(settings, sample_corpus)
    task_id = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}[gold[4]["id"]]
    ann = annotator.annotate(task_id, gold_result(gold[4]))
    assert workflow.pull(settings)["accepted"] == 0
    annotator.update(ann["id"], last_action="accepted")
    assert workflow.pull(settings)["accepted"] == 1
    annotator.update(ann["id"], last_action="rejected")
    pulled = workflow.pull(settings)
    assert pulled["accepted"] == 0 and pulled["waiting_reasons"]["rejected by a reviewer (1 submitted)"] == 1


def test_agreement_policy_with_two_real_annotators(ls_settings, sample_corpus, annotator, gold):
    settings = policy_settings(ls_settings, "agreement:2")
    report = load_corpus(settings, sample_corpus)
    email = f"second-{report.project_id}@example.com"
    second = annotator.session.post(f"{settings.label_studio_url}/api/users/",
                                    json={"email": email, "username": email}).json()["id"]
    task_id = {t["data"]["article_id"]: t["id"] for t in annotator.tasks(report.project_id)}[gold[0]["id"]]
    annotator.annotate(task_id, gold_result(gold[0]))
    assert workflow.pull(settings)["waiting_reasons"]["1 of 2 annotators so far"] == 1
    disagreeing = [r for r in gold_result(gold[0]) if r["type"] == "choices"]  # no spans at all
    other = annotator.annotate(task_id, disagreeing, completed_by=second)
    assert workflow.pull(settings)["waiting_reasons"]["2 annotators, at most 1 agree (2 needed)"] == 1
    annotator.update(other["id"], result=gold_result(gold[0]))
    assert workflow.pull(settings)["accepted"] == 1
