import json

import pytest
from conftest import make_settings

from workbench.web import create_app
from workbench.db import session_scope
from workbench.errors import ConfigError
from workbench.models import Article
from workbench.releases import write_release
from test_releases import decision


def assert_error_shape(response, status, code):
    body = response.get_json()
    assert response.status_code == status
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["status"] == status and body["code"] == code and body["message"]
    return body


def test_health_needs_no_token(client):
    assert client.get("/health").get_json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Token test-api-token"}])
def test_api_refuses_missing_or_wrong_token(client, headers):
    body = assert_error_shape(client.get("/api/releases", headers=headers), 401, "unauthorized")
    assert "Authorization" in body["errors"]


def test_app_needs_an_api_token(tmp_path):
    settings = make_settings(tmp_path, api_token="")
    with pytest.raises(ConfigError, match="WORKBENCH_API_TOKEN is not set"):
        create_app(settings)


def test_unknown_route_uses_the_error_shape(client, auth):
    assert_error_shape(client.get("/api/nope", headers=auth), 404, "not_found")


def test_post_one_article(client, auth, settings):
    r = client.post("/api/articles", headers=auth, json={"id": "n1", "text": "خبر عاجل", "title": "عنوان"})
    assert r.status_code == 201 and r.get_json()["new"] == ["n1"]
    r = client.post("/api/articles", headers=auth, json={"id": "n1", "text": "خبر عاجل"})
    assert r.status_code == 200 and r.get_json()["unchanged"] == ["n1"]
    with session_scope(settings) as session:
        assert session.get(Article, "n1").current.text == "خبر عاجل"


def test_post_batch_stores_valid_ones_and_names_bad_fields(client, auth, settings):
    r = client.post("/api/articles", headers=auth, json={"articles": [
        {"id": "ok", "text": "نص"}, {"id": "bad", "title": "no text"}, {"id": "u", "text": "x", "url": "nope"}]})
    body = r.get_json()
    assert r.status_code == 201 and body["new"] == ["ok"]
    assert [(e["where"], e["field"]) for e in body["errors"]] == [("api[1]", "text"), ("api[2]", "url")]


def test_post_all_bad_is_422_with_each_error(client, auth):
    r = client.post("/api/articles", headers=auth, json=[{"text": ""}, {"title": "x"}])
    body = assert_error_shape(r, 422, "invalid_input")
    assert [e["field"] for e in body["errors"]] == ["text", "text"]


def test_post_non_json_is_400(client, auth):
    r = client.post("/api/articles", headers=auth, data="not json", content_type="application/json")
    body = assert_error_shape(r, 400, "invalid_json")
    assert body["errors"] == {"body": "not JSON"}


def test_releases_feed_streams_jsonl_with_etag(client, auth, settings):
    with session_scope(settings) as session:
        _, manifest = write_release(session, settings.exports_dir, [decision("a"), decision("b")], {})
    listed = client.get("/api/releases", headers=auth).get_json()["releases"]
    assert [x["version"] for x in listed] == ["v0001"]
    r = client.get("/api/releases/latest/examples", headers=auth)
    assert r.status_code == 200 and r.mimetype == "application/x-ndjson"
    assert [json.loads(x)["id"] for x in r.data.decode().splitlines()] == ["a", "b"]
    assert r.headers["ETag"].strip('"') == manifest["files"]["examples.jsonl"]["sha256"]
    again = client.get("/api/releases/v0001/examples", headers={**auth, "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/api/releases/v0001", headers=auth).get_json()["version"] == "v0001"
    with client.get("/api/releases/v0001/files/examples.jsonl", headers=auth) as f:
        assert f.status_code == 200 and f.headers["ETag"] == r.headers["ETag"]


def test_release_file_and_delta_errors_use_the_error_shape(client, auth, settings):
    with session_scope(settings) as session:
        write_release(session, settings.exports_dir, [decision("a")], {})
    assert_error_shape(client.get("/api/releases/v0001/files/nope.txt", headers=auth), 404, "not_found")
    assert_error_shape(client.get("/api/releases/v0001/examples?since=v0002", headers=auth), 404, "not_found")
    assert_error_shape(client.get("/api/releases/v0001/examples?since=x", headers=auth), 422, "invalid_input")


def test_feed_errors_use_the_error_shape(client, auth, settings):
    assert_error_shape(client.get("/api/releases/v0042/examples", headers=auth), 404, "not_found")
    with session_scope(settings) as session:
        write_release(session, settings.exports_dir, [decision("a")], {})
    body = assert_error_shape(client.get("/api/releases/v0001/examples?split=all", headers=auth), 422,
                              "invalid_input")
    assert body["errors"] == {"split": "all"}


def test_status_endpoint(client, auth):
    body = client.get("/api/status", headers=auth).get_json()
    assert body["counts"]["articles"] == 0 and body["label_studio"]["project_id"] is None
