"""Webhook and ML-backend endpoints in-process; their round trips with Label Studio are in
test_bridge_labelstudio.py."""
import dataclasses
import logging

import pytest
from test_api import assert_error_shape

from workbench.web import create_app
from workbench.web.webhooks import ids_in_event

SECRET = {"X-Workbench-Webhook-Secret": "s3cret"}


@pytest.fixture
def hooked(settings):
    return create_app(dataclasses.replace(settings, webhook_secret="s3cret")).test_client()


def test_webhook_refused_when_no_secret_is_configured(client):
    assert_error_shape(client.post("/webhooks/label-studio", json={"action": "X"}, headers=SECRET), 503,
                       "invalid_setting")


@pytest.mark.parametrize("headers", [{}, {"X-Workbench-Webhook-Secret": "wrong"}])
def test_webhook_needs_the_shared_secret(hooked, headers):
    assert_error_shape(hooked.post("/webhooks/label-studio", json={"action": "X"}, headers=headers), 401,
                       "unauthorized")


def test_webhook_needs_an_action(hooked):
    body = assert_error_shape(hooked.post("/webhooks/label-studio", json={"nope": 1}, headers=SECRET), 400,
                              "invalid_input")
    assert body["errors"] == {"action": "missing"}


def test_webhook_answers_at_once_with_what_it_queued(hooked):
    r = hooked.post("/webhooks/label-studio", headers=SECRET,
                    json={"action": "ANNOTATION_CREATED", "annotation": {"id": 9, "task": 4}, "task": {"id": 4}})
    assert r.status_code == 202
    assert r.get_json() == {"action": "ANNOTATION_CREATED", "queued_tasks": [4], "queued_deleted_annotations": []}


@pytest.mark.parametrize("event, expected", [
    ({"action": "ANNOTATION_UPDATED", "annotation": {"id": 1, "task": 3}, "task": {"id": 3}}, ([3], [])),
    ({"action": "ANNOTATIONS_CREATED", "annotation": [{"id": 1, "task": 3}, {"id": 2, "task": 5}]}, ([3, 5], [])),
    ({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 7}, {"id": 8}], "project": {"id": 1}}, ([], [7, 8])),
    ({"action": "PROJECT_UPDATED", "project": {"id": 1}}, ([], [])),
])
def test_ids_in_recorded_event_shapes(event, expected):
    assert ids_in_event(event) == expected


@pytest.mark.parametrize("auth", [None, ("label-studio", "wrong")])
def test_ml_backend_needs_the_api_token(client, auth):
    assert_error_shape(client.get("/ml/health", auth=auth), 401, "unauthorized")


def test_ml_setup_gives_the_model_version_and_never_logs_the_token(client, caplog):
    caplog.set_level(logging.DEBUG)
    r = client.post("/ml/setup", auth=("label-studio", "test-api-token"),
                    json={"project": "1.1700000000", "schema": "<View/>", "access_token": "LS-SECRET-TOKEN-123"})
    assert r.status_code == 200 and r.get_json()["model_version"].startswith("gazetteer-rules")
    assert "LS-SECRET-TOKEN-123" not in caplog.text


def test_ml_predict_returns_one_result_per_task_in_order(client, auth):
    texts = ["قال الرئيس الأوكراني فولوديمير زيلينسكي في كييف", "لا شيء هنا", "زار ماكرون موسكو يوم الثلاثاء"]
    r = client.post("/ml/predict", headers=auth, json={"tasks": [{"id": i, "data": {"text": t}}
                                                                 for i, t in enumerate(texts)]})
    results = r.get_json()["results"]
    assert len(results) == 3
    for text, prediction in zip(texts, results):
        for item in prediction["result"]:
            if item["type"] == "labels":
                assert text[item["value"]["start"]:item["value"]["end"]] == item["value"]["text"]
    first = {item["value"]["text"] for item in results[0]["result"] if item["type"] == "labels"}
    assert "كييف" in first
    third = {item["value"]["text"] for item in results[2]["result"] if item["type"] == "labels"}
    assert "موسكو" in third


def test_ml_predict_names_the_bad_task(client, auth):
    body = assert_error_shape(client.post("/ml/predict", headers=auth, json={"tasks": [{"data": {}}]}), 400,
                              "invalid_input")
    assert body["errors"] == {"tasks[0].data.text": "missing"}


def test_each_app_predicts_with_the_models_its_settings_name(settings, tmp_path, auth):
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text("# source: test\nزيزفونة\tORG\n", encoding="utf-8")
    plain = create_app(settings).test_client()
    extended = create_app(dataclasses.replace(settings, lexicon=lexicon)).test_client()
    text = {"tasks": [{"data": {"text": "كانت زيزفونة جميلة جدا"}}]}
    versions = [c.post("/ml/setup", headers=auth, json={}).get_json()["model_version"] for c in (plain, extended)]
    assert "+lexicon." not in versions[0] and "+lexicon." in versions[1]
    results = [c.post("/ml/predict", headers=auth, json=text).get_json()["results"][0]["result"]
               for c in (plain, extended)]
    spans = [{r["value"]["text"] for r in result if r["type"] == "labels"} for result in results]
    assert "زيزفونة" not in spans[0] and "زيزفونة" in spans[1]
