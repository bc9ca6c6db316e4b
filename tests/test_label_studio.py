"""The bridge against a real Label Studio server (session fixture in conftest.py)."""
import json
import shutil

import pytest
from conftest import gold_result, make_settings
from sqlalchemy import delete, select

from workbench import workflow
from workbench.web import create_app
from workbench.db import session_scope
from workbench.errors import LabelStudioError
from workbench.models import AnnotationSnapshot, ArticleRevision, LabelStudioTask, PreAnnotation
from workbench.settings import PROJECT_ROOT

pytestmark = pytest.mark.label_studio


def load_corpus(settings, corpus):
    workflow.ingest_paths(settings, [corpus])
    workflow.preannotate(settings)
    return workflow.push(settings)


def tasks_by_article(annotator, project_id):
    return {t["data"]["article_id"]: t for t in annotator.tasks(project_id)}


def test_end_to_end_spans_and_stances_come_out_of_the_feed(ls_settings, sample_corpus, annotator, gold):
    report = load_corpus(ls_settings, sample_corpus)
    assert report.created_project and report.imported == 5
    project = annotator.project(report.project_id)
    assert 'style="direction: rtl' in project["label_config"]
    assert "Annotation guidelines" in project["expert_instruction"]

    tasks = tasks_by_article(annotator, report.project_id)
    assert sorted(tasks) == sorted(g["id"] for g in gold)
    for task in tasks.values():
        (prediction,) = task["predictions"]
        spans = [r["value"] for r in prediction["result"] if r["type"] == "labels"]
        assert spans and all(task["data"]["text"][s["start"]:s["end"]] == s["text"] for s in spans)
    for example in gold:
        assert tasks[example["id"]]["data"]["text"] == example["text"]
        annotator.annotate(tasks[example["id"]]["id"], gold_result(example), lead_time=30)

    pulled = workflow.pull(ls_settings)
    assert pulled["new_snapshots"] == 5 and pulled["mismatches"] == []
    assert (pulled["accepted"], pulled["waiting"]) == (5, 0)
    version, _ = workflow.release(ls_settings)
    assert version == "v0001"

    client = create_app(ls_settings).test_client()
    auth = {"Authorization": f"Bearer {ls_settings.api_token}"}
    assert [r["version"] for r in client.get("/api/releases", headers=auth).get_json()["releases"]] == ["v0001"]
    lines = client.get(f"/api/releases/{version}/examples", headers=auth).data.decode("utf-8").splitlines()
    released = {x["id"]: x for x in map(json.loads, lines)}
    assert len(released) == 5
    for example in gold:
        out = released[example["id"]]
        assert out["text"] == example["text"]
        assert out["entities"] == example["entities"]
        assert out["stance"] == example["stance"]
        assert out["split"] in ("train", "dev", "test")
    status = workflow.status(ls_settings)
    assert status["counts"] | {} == {**status["counts"], "articles": 5, "tasks": 5, "accepted": 5, "releases": 1}
    assert status["label_studio"] == {"url": ls_settings.label_studio_url, "project_id": report.project_id}


def test_second_push_imports_nothing(ls_settings, sample_corpus, annotator):
    first = load_corpus(ls_settings, sample_corpus)
    again = workflow.push(ls_settings)
    assert (again.project_id, again.created_project, again.imported, again.already_present) == \
        (first.project_id, False, 0, 5)
    assert len(annotator.tasks(first.project_id)) == 5


def test_push_limit_imports_the_least_confident_first_and_leaves_the_rest_for_later(ls_settings, sample_corpus,
                                                                                   annotator):
    workflow.ingest_paths(ls_settings, [sample_corpus])
    workflow.preannotate(ls_settings)
    with session_scope(ls_settings) as session:
        scores = sorted((pre.score, rev.article_id) for pre, rev in session.execute(
            select(PreAnnotation, ArticleRevision).join(ArticleRevision, PreAnnotation.revision_id == ArticleRevision.id)))
    first = workflow.push(ls_settings, least_confident_first=True, limit=2)
    assert (first.imported, first.held_back) == (2, 3)
    assert sorted(tasks_by_article(annotator, first.project_id)) == sorted(a for _, a in scores[:2])
    rest = workflow.push(ls_settings, limit=10)
    assert (rest.imported, rest.held_back, rest.already_present) == (3, 0, 2)
    assert sorted(tasks_by_article(annotator, first.project_id)) == sorted(a for _, a in scores)


def test_push_after_a_crash_reconciles_instead_of_duplicating(ls_settings, sample_corpus, annotator):
    first = load_corpus(ls_settings, sample_corpus)
    with session_scope(ls_settings) as session:  # as if the bridge died after the import, before it recorded ids
        session.execute(delete(LabelStudioTask))
    again = workflow.push(ls_settings)
    assert (again.imported, again.recovered) == (0, 5)
    assert len(annotator.tasks(first.project_id)) == 5


def test_a_task_imported_twice_by_hand_is_reported_not_deleted(ls_settings, sample_corpus, annotator):
    first = load_corpus(ls_settings, sample_corpus)
    (task, *_) = annotator.tasks(first.project_id)
    r = annotator.session.post(f"{ls_settings.label_studio_url}/api/projects/{first.project_id}/import",
                               json=[{"data": task["data"]}])
    r.raise_for_status()
    again = workflow.push(ls_settings)
    (dup,) = again.duplicates
    assert dup["wb_key"] == task["data"]["wb_key"] and dup["mapped_task_id"] == task["id"]
    assert again.imported == 0 and len(annotator.tasks(first.project_id)) == 6


def test_revised_article_becomes_a_new_task(ls_settings, sample_corpus, annotator):
    first = load_corpus(ls_settings, sample_corpus)
    path = next(sample_corpus.iterdir())
    path.write_text(path.read_text(encoding="utf-8") + "\nتحديث.\n", encoding="utf-8")
    workflow.ingest_paths(ls_settings, [path])
    workflow.preannotate(ls_settings)
    again = workflow.push(ls_settings)
    assert (again.imported, again.already_present) == (1, 4)
    keys = sorted(t["data"]["wb_key"] for t in annotator.tasks(first.project_id))
    assert keys.count(f"{path.stem}@r1") == 1 and keys.count(f"{path.stem}@r2") == 1


def test_new_model_version_adds_a_prediction_not_a_task(ls_settings, sample_corpus, annotator):
    first = load_corpus(ls_settings, sample_corpus)
    with session_scope(ls_settings) as session:
        revision = session.scalars(select(ArticleRevision).order_by(ArticleRevision.id)).first()
        session.add(PreAnnotation(revision_id=revision.id, model_version="better-2", entities=[], stance={},
                                  score=0.1))
        article_id = revision.article_id
    again = workflow.push(ls_settings)
    assert (again.imported, again.predictions_added) == (0, 1)
    task = tasks_by_article(annotator, first.project_id)[article_id]
    assert sorted(p["model_version"] for p in task["predictions"])[0] == "better-2"
    assert len(task["predictions"]) == 2


def test_pull_reports_mismatched_spans_with_ids_and_keeps_them_waiting(ls_settings, sample_corpus, annotator):
    report = load_corpus(ls_settings, sample_corpus)
    task = next(iter(tasks_by_article(annotator, report.project_id).values()))
    result = [{"from_name": "entities", "to_name": "text", "type": "labels",
               "value": {"start": 0, "end": 5, "text": "not the text", "labels": ["ORG"]}},
              {"from_name": "stance_ukraine", "to_name": "text", "type": "choices", "value": {"choices": ["NONE"]}},
              {"from_name": "stance_russia", "to_name": "text", "type": "choices", "value": {"choices": ["NONE"]}}]
    ann = annotator.annotate(task["id"], result)
    pulled = workflow.pull(ls_settings)
    (mismatch,) = pulled["mismatches"]
    assert (mismatch["task_id"], mismatch["annotation_id"]) == (task["id"], ann["id"])
    assert "does not match" in mismatch["problem"]
    assert pulled["accepted"] == 0
    assert any("span or choice problem" in reason for reason in pulled["waiting_reasons"])


def test_skipped_updated_and_deleted_annotations(ls_settings, sample_corpus, annotator, gold):
    report = load_corpus(ls_settings, sample_corpus)
    tasks = tasks_by_article(annotator, report.project_id)
    example = gold[0]
    task_id = tasks[example["id"]]["id"]
    skipped = annotator.annotate(task_id, [], was_cancelled=True)
    assert workflow.pull(ls_settings)["waiting_reasons"]["only skipped (cancelled) annotations"] == 1

    ann = annotator.annotate(task_id, gold_result(example))
    assert workflow.pull(ls_settings)["accepted"] == 1
    changed = gold_result(example)
    changed[-1]["value"]["choices"] = ["FAVOR"]
    annotator.update(ann["id"], result=changed)
    assert workflow.pull(ls_settings)["new_snapshots"] == 1
    with session_scope(ls_settings) as session:
        raws = session.scalars(select(AnnotationSnapshot.raw).where(AnnotationSnapshot.ls_annotation_id == ann["id"])
                               .order_by(AnnotationSnapshot.id)).all()
    assert [r["result"][-1]["value"]["choices"] for r in raws] == [[example["stance"]["روسيا"]], ["FAVOR"]]

    assert workflow.status(ls_settings)["counts"]["annotations"] == 2
    annotator.delete(ann["id"])
    annotator.delete(skipped["id"])
    pulled = workflow.pull(ls_settings)
    assert pulled["deleted"] == 2 and pulled["accepted"] == 0
    assert workflow.status(ls_settings)["counts"]["annotations"] == 0
    with session_scope(ls_settings) as session:
        assert session.scalar(select(AnnotationSnapshot.id).where(
            AnnotationSnapshot.ls_annotation_id == ann["id"]).order_by(AnnotationSnapshot.id)) is not None


def test_ground_truth_policy(ls_settings, sample_corpus, annotator, gold, tmp_path):
    report = load_corpus(ls_settings, sample_corpus)
    gt_settings = make_settings(tmp_path, label_studio_url=ls_settings.label_studio_url,
                                label_studio_token=ls_settings.label_studio_token,
                                project_title=ls_settings.project_title, review_policy="ground_truth")
    example = gold[1]
    task_id = tasks_by_article(annotator, report.project_id)[example["id"]]["id"]
    first = annotator.annotate(task_id, gold_result(example))
    annotator.annotate(task_id, gold_result(example))
    pulled = workflow.pull(gt_settings)
    assert pulled["accepted"] == 0
    assert pulled["waiting_reasons"]["no annotation marked ground truth (2 submitted)"] == 1
    annotator.update(first["id"], ground_truth=True)
    assert workflow.pull(gt_settings)["accepted"] == 1
    assert workflow.pull(ls_settings)["accepted"] == 1  # submitted policy: one per task


def test_wrong_token_and_wrong_url_are_clear(ls_settings, label_studio, tmp_path):
    bad_token = make_settings(tmp_path, label_studio_url=label_studio["url"], label_studio_token="nope")
    with pytest.raises(LabelStudioError, match="rejected the API token") as info:
        workflow.push(bad_token)
    assert "WORKBENCH_LABEL_STUDIO_TOKEN" in info.value.errors
    bad_url = make_settings(tmp_path, label_studio_url="http://127.0.0.1:9", label_studio_token="x")
    with pytest.raises(LabelStudioError, match="cannot reach Label Studio at http://127.0.0.1:9"):
        workflow.push(bad_url)


def test_invalid_labeling_config_is_reported(ls_settings, tmp_path, sample_corpus):
    tasks_dir = tmp_path / "tasks"
    shutil.copytree(PROJECT_ROOT / "tasks", tasks_dir)
    template = tasks_dir / "labeling-config.xml.j2"
    template.write_text(template.read_text(encoding="utf-8").replace('toName="{{ text_name }}"', 'toName="nowhere"'),
                        encoding="utf-8")
    broken = make_settings(tmp_path, label_studio_url=ls_settings.label_studio_url,
                           label_studio_token=ls_settings.label_studio_token,
                           project_title=ls_settings.project_title, tasks_dir=tasks_dir)
    workflow.ingest_paths(broken, [sample_corpus])
    with pytest.raises(LabelStudioError) as info:
        workflow.push(broken)
    assert info.value.code == "invalid_label_config" and "nowhere" in info.value.message
