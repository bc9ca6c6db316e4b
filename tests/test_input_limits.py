"""Input limits (issue 11): request size (413), JSON nesting depth, malformed webhook and
ML-backend bodies (never a 500), SQLite's WAL mode and chunked commits of a long ingest."""
import dataclasses
import json
import threading
import time

import pytest
import requests
from conftest import make_settings, served
from sqlalchemy import select
from test_api import assert_error_shape

from workbench import articles, jsonsafe, workflow
from workbench.db import engine_for, session_scope
from workbench.errors import ConfigError
from workbench.models import Article
from workbench.settings import load_settings
from workbench.web import create_app

SECRET = {"X-Workbench-Webhook-Secret": "s3cret"}
DEEP = b"[" * 100_000 + b"]" * 100_000


def stored_ids(settings) -> list[str]:
    with session_scope(settings) as session:
        return sorted(session.scalars(select(Article.id)))


# --- the depth-limited JSON reader ------------------------------------------------------------

@pytest.mark.parametrize("text, depth", [
    ('1', 0), ('[]', 1), ('{"a": [1, {"b": []}]}', 4), ('"[[[["', 0), ('{"a": "]]]]", "b": [[]]}', 3),
    (r'["\"[[[", [["\\"]]]', 3), ('"unterminated [[[[', 0), ('[[["x', 3),
])
def test_nesting_depth_ignores_brackets_in_strings(text, depth):
    assert jsonsafe.nesting_depth(text) == depth


def test_deep_json_is_refused_before_json_loads_recurses():
    with pytest.raises(jsonsafe.JSONInputError) as caught:
        jsonsafe.loads(DEEP, 64)
    assert caught.value.kind == "too deep"
    assert caught.value.detail == "JSON nested 100000 levels deep, over the limit of 64 (WORKBENCH_MAX_JSON_DEPTH)"
    assert jsonsafe.loads(b"[" * 64 + b"]" * 64, 64) is not None
    with pytest.raises(jsonsafe.JSONInputError, match="65 levels deep"):
        jsonsafe.loads("[" * 65 + "]" * 65, 64)


@pytest.mark.parametrize("data, kind, detail", [
    (b"", "empty", "empty: no JSON value"),
    (b" \r\n", "empty", "empty: no JSON value"),
    (b'{"a": "\xff"}', "not UTF-8", "not UTF-8: invalid byte 0xff at byte offset 7"),
    (b'{"a": ', "not JSON", "malformed JSON: Expecting value at column 7"),
    (b'{"a": 1}\n{"b"', "not JSON", "malformed JSON: Extra data at line 2 column 1"),
    (b'"abc', "not JSON", "malformed JSON: Unterminated string starting at column 1"),
    (b"1" * 5000, "not JSON", None),  # over Python's 4300-digit integer limit: a ValueError, not a 500
])
def test_every_failure_is_a_json_input_error_saying_why(data, kind, detail):
    with pytest.raises(jsonsafe.JSONInputError) as caught:
        jsonsafe.loads(data)
    assert caught.value.kind == kind
    if detail:
        assert caught.value.detail == detail
    else:
        assert caught.value.detail.startswith("malformed JSON: ") and "4300" in caught.value.detail


@pytest.mark.parametrize("text, surrogate", [
    (r'{"text": "x\ud800"}', r"\ud800"), (r'[{"\udfff": 1}]', r"\udfff"), (r'"\ude00\ud83d"', r"\ude00"),
])
def test_a_lone_surrogate_escape_is_refused(text, surrogate):
    with pytest.raises(jsonsafe.JSONInputError) as caught:
        jsonsafe.loads(text)
    assert caught.value.kind == "not Unicode"
    assert caught.value.detail == f"not valid Unicode: a string holds the lone surrogate {surrogate}"


def test_surrogate_pairs_and_escaped_backslashes_are_fine():
    assert jsonsafe.loads(r'{"text": "\ud83d\ude00 \\ud800"}') == {"text": "\U0001F600 \\ud800"}


def test_a_leading_byte_order_mark_is_ignored():
    assert jsonsafe.loads("\ufeff{\"a\": 1}".encode()) == {"a": 1}


def test_the_depth_scan_is_linear_even_for_pathological_strings():
    started = time.monotonic()
    for text in ['"' + '\\"' * 2_000_000, '[' + '"x",' * 1_000_000 + '[]]', '{"a": "' + "\\\\" * 2_000_000 + '"}']:
        jsonsafe.nesting_depth(text)
    assert time.monotonic() - started < 10


# --- the two settings -------------------------------------------------------------------------

def test_limits_have_defaults_and_come_from_the_environment(tmp_path):
    defaults = make_settings(tmp_path)
    assert defaults.max_request_bytes == 16_000_000 > defaults.max_article_bytes
    assert defaults.max_json_depth == 64
    custom = make_settings(tmp_path, max_request_bytes=5000, max_json_depth=10)
    assert (custom.max_request_bytes, custom.max_json_depth) == (5000, 10)
    assert custom.sources["max_request_bytes"] == "environment"


@pytest.mark.parametrize("name, value, fragment", [
    ("WORKBENCH_MAX_REQUEST_BYTES", "0", "WORKBENCH_MAX_REQUEST_BYTES must be an integer at least 1, got '0'"),
    ("WORKBENCH_MAX_REQUEST_BYTES", "16MB", "WORKBENCH_MAX_REQUEST_BYTES must be an integer at least 1"),
    ("WORKBENCH_MAX_JSON_DEPTH", "0", "WORKBENCH_MAX_JSON_DEPTH must be an integer between 1 and 500"),
    ("WORKBENCH_MAX_JSON_DEPTH", "100000", "WORKBENCH_MAX_JSON_DEPTH must be an integer between 1 and 500"),
])
def test_invalid_limits_name_the_setting(tmp_path, name, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")) as caught:
        load_settings(environ={"WORKBENCH_VAR_DIR": str(tmp_path / "var"), name: value})
    assert name in caught.value.errors


# --- 413 --------------------------------------------------------------------------------------

@pytest.fixture
def small_app(tmp_path):
    return create_app(dataclasses.replace(make_settings(tmp_path, max_request_bytes=2000), webhook_secret="s3cret"))


def assert_too_large(response, limit):
    body = assert_error_shape(response, 413, "payload_too_large")
    assert f"over the limit of {limit} bytes (WORKBENCH_MAX_REQUEST_BYTES)" in body["message"]
    assert body["errors"] == {"body": f"over {limit} bytes"}


@pytest.mark.parametrize("path, headers", [
    ("/api/articles", {"Authorization": "Bearer test-api-token"}),
    ("/webhooks/label-studio", SECRET),
    ("/ml/predict", {"Authorization": "Bearer test-api-token"}),
    ("/ml/setup", {"Authorization": "Bearer test-api-token"}),
    ("/ml/webhook", {"Authorization": "Bearer test-api-token"}),
])
def test_a_body_over_the_limit_is_413_on_every_route(small_app, path, headers):
    body = json.dumps({"action": "X", "tasks": [], "text": "ن" * 2000}, ensure_ascii=False)
    assert_too_large(small_app.test_client().post(path, headers=headers, data=body,
                                                  content_type="application/json"), 2000)


def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(small_app):
    client, auth = small_app.test_client(), {"Authorization": "Bearer test-api-token"}
    padding = 2000 - len(json.dumps({"id": "exact", "text": ""}))
    body = json.dumps({"id": "exact", "text": "x" * padding})
    assert len(body) == 2000
    assert_too_large(client.post("/api/articles", headers=auth, data=body + " ", content_type="application/json"),
                     2000)
    r = client.post("/api/articles", headers=auth, data=body, content_type="application/json")
    assert r.status_code == 201 and r.get_json()["new"] == ["exact"]


def test_the_default_limit_refuses_a_32_mb_post_and_takes_a_10_mb_one(client, auth, settings):
    article = {"id": "big", "text": "ا" * 5_000_000}  # 10 MB of UTF-8: under the request limit, over the article one
    r = client.post("/api/articles", headers=auth, content_type="application/json",
                    data=json.dumps(article, ensure_ascii=False).encode())
    body = assert_error_shape(r, 422, "invalid_input")
    assert body["errors"][0]["message"] == ("text: text is over the size limit of 2000000 bytes "
                                            "(WORKBENCH_MAX_ARTICLE_BYTES)")
    r = client.post("/api/articles", headers=auth, content_type="application/json",
                    data=json.dumps([{"text": "خبر"}] * 1_000_000).encode())  # 32 MB of small articles
    assert_too_large(r, 16_000_000)
    assert stored_ids(settings) == []


@pytest.fixture
def live_server(small_app):
    """The app behind werkzeug's real HTTP server (the one `workbench serve` runs), on a free port."""
    with served(small_app) as url:
        yield url


def chunks(data: bytes, size: int = 500):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_body_without_content_length_is_held_to_the_limit(live_server, small_app):
    auth = {"Authorization": "Bearer test-api-token", "Content-Type": "application/json"}
    big = json.dumps([{"text": "خبر رقم %d" % i} for i in range(300)], ensure_ascii=False).encode()
    assert len(big) > 2000
    r = requests.post(f"{live_server}/api/articles", data=chunks(big), headers=auth, timeout=30)
    assert r.request.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in r.request.headers
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert "WORKBENCH_MAX_REQUEST_BYTES" in r.json()["message"]
    small = json.dumps([{"id": "streamed", "text": "خبر وصل مقطعا"}], ensure_ascii=False).encode()
    r = requests.post(f"{live_server}/api/articles", data=chunks(small, 20), headers=auth, timeout=30)
    assert r.status_code == 201 and r.json()["new"] == ["streamed"]
    assert stored_ids(small_app.config["WORKBENCH"]) == ["streamed"]


# --- malformed bodies: 400 on the webhook and ML routes (422 for records /api/articles cannot store), never 500

BEARER = {"Authorization": "Bearer test-api-token"}
UNREADABLE = [  # (body, errors): every route answers these 400 invalid_json
    (b"", {"body": "empty"}),
    (b"   ", {"body": "empty"}),
    (b"not json", {"body": "not JSON"}),
    (b'{"action": "X",', {"body": "not JSON"}),
    (b'{"action": "\xff"}', {"body": "not UTF-8"}),
    (b"\x89PNG\r\n\x1a\n\x00\x00", {"body": "not UTF-8"}),
    (DEEP, {"body": "too deep"}),
    (b'{"action": "X", "tasks": ' + b"[" * 65 + b"]" * 65 + b"}", {"body": "too deep"}),
    (b"1" * 5000, {"body": "not JSON"}),
    (b'{"action": "X", "tasks": [{"data": {"text": "\\udc00"}}], "text": "\\ud800"}', {"body": "not Unicode"}),
]
ROUTES = [("/api/articles", BEARER), ("/webhooks/label-studio", SECRET), ("/ml/predict", BEARER),
          ("/ml/setup", BEARER), ("/ml/webhook", BEARER)]


@pytest.fixture
def hooked(settings):
    return create_app(dataclasses.replace(settings, webhook_secret="s3cret")).test_client()


@pytest.mark.parametrize("path, headers", ROUTES)
@pytest.mark.parametrize("data, errors", UNREADABLE)
def test_an_unreadable_body_is_400_invalid_json_on_every_route(hooked, path, headers, data, errors):
    r = hooked.post(path, headers=headers, data=data, content_type="application/json")
    body = assert_error_shape(r, 400, "invalid_json")
    assert body["errors"] == errors
    assert body["message"].startswith("the body is ")


def event(**fields):
    return {"action": "ANNOTATION_CREATED", **fields}


@pytest.mark.parametrize("payload, errors", [
    ([1, 2], {"body": "not an object"}),
    ("ANNOTATION_CREATED", {"body": "not an object"}),
    (None, {"body": "not an object"}),
    ({"nope": 1}, {"action": "missing"}),
    ({"action": 5}, {"action": "not a string"}),
    ({"action": ["X"]}, {"action": "not a string"}),
    ({"action": "X", "annotations": [{"id": "x"}, {"id": 1}]}, {"annotations[0].id": "not a positive integer"}),
    (event(annotations=[{"id": True}]), {"annotations[0].id": "not a positive integer"}),
    (event(annotations=[{"id": 0}, {"id": -3}]),
     {"annotations[0].id": "not a positive integer", "annotations[1].id": "not a positive integer"}),
    (event(annotations=[{"id": 1.5}]), {"annotations[0].id": "not a positive integer"}),
    (event(annotations=[{}]), {"annotations[0].id": "missing"}),
    (event(annotations=[7]), {"annotations[0]": "not an object"}),
    (event(annotations={"id": 7}), {"annotations": "not a list"}),
    (event(annotations="7"), {"annotations": "not a list"}),
    (event(task="4"), {"task": "not an object"}),
    (event(task=[{"id": 4}, "5", {"id": "6"}]), {"task[1]": "not an object", "task[2].id": "not a positive integer"}),
    (event(task=7), {"task": "not an object"}),
    (event(task={"id": "4"}), {"task.id": "not a positive integer"}),
    (event(task={"id": None}), {"task.id": "missing"}),
    (event(task={"id": {"id": 4}}), {"task.id": "not a positive integer"}),
    (event(annotation="x"), {"annotation": "not an object"}),
    (event(annotation=7), {"annotation": "not an object"}),
    (event(annotation={"id": 1, "task": "4"}), {"annotation.task": "not a positive integer"}),
    (event(annotation={"id": 1, "task": False}), {"annotation.task": "not a positive integer"}),
    (event(annotation={"id": 1, "task": {"id": [4]}}), {"annotation.task.id": "not a positive integer"}),
    (event(annotation=[{"task": 3}, 1, {"task": "x"}]),
     {"annotation[1]": "not an object", "annotation[2].task": "not a positive integer"}),
    (event(task={"id": 4}, annotation={"task": "4"}, annotations=[{"id": "9"}]),
     {"annotation.task": "not a positive integer", "annotations[0].id": "not a positive integer"}),
])
def test_a_malformed_webhook_event_is_400_naming_the_field(hooked, payload, errors):
    r = hooked.post("/webhooks/label-studio", headers=SECRET, data=json.dumps(payload),
                    content_type="application/json")
    body = assert_error_shape(r, 400, "invalid_input")
    assert body["errors"] == errors
    for name in errors:
        if name not in ("body", "action"):
            assert name in body["message"]


@pytest.mark.parametrize("payload, expected", [
    (event(task={"id": 4}, annotation={"id": 9, "task": 4}), [4]),
    (event(task=None, annotation=None), []),
    (event(task={"project": 1}, annotation={"id": 9}), []),
    (event(annotation={"id": 9, "task": {"id": 6}}), [6]),
    ({"action": "ANNOTATIONS_CREATED", "annotation": [{"id": 1, "task": 3}, {"id": 2, "task": 5}],
      "task": [{"id": 3, "data": {"text": "x"}}, {"id": 5}, {"id": 8}], "project": {"id": 1}}, [3, 5, 8]),
    ({"action": "PROJECT_UPDATED", "project": {"id": 1}}, []),
])
def test_well_formed_events_with_optional_parts_missing_are_accepted(hooked, payload, expected):
    r = hooked.post("/webhooks/label-studio", headers=SECRET, json=payload)
    assert r.status_code == 202 and r.get_json()["queued_tasks"] == expected


def test_a_malformed_event_without_the_secret_is_401_not_400(hooked):
    for data in (b"not json", DEEP, json.dumps(event(annotations=[{"id": "x"}])).encode()):
        assert_error_shape(hooked.post("/webhooks/label-studio", data=data, content_type="application/json"),
                           401, "unauthorized")


@pytest.mark.parametrize("payload, errors", [
    ([], {"body": "not an object"}),
    ("tasks", {"body": "not an object"}),
    ({}, {"tasks": "missing"}),
    ({"tasks": None}, {"tasks": "missing"}),
    ({"tasks": "x"}, {"tasks": "not a list"}),
    ({"tasks": {"0": {"data": {"text": "x"}}}}, {"tasks": "not a list"}),
    ({"tasks": [1]}, {"tasks[0]": "not an object"}),
    ({"tasks": [[{"data": {"text": "x"}}]]}, {"tasks[0]": "not an object"}),
    ({"tasks": [{}]}, {"tasks[0].data": "missing"}),
    ({"tasks": [{"data": "نص"}]}, {"tasks[0].data": "not an object"}),
    ({"tasks": [{"data": ["نص"]}]}, {"tasks[0].data": "not an object"}),
    ({"tasks": [{"data": {}}]}, {"tasks[0].data.text": "missing"}),
    ({"tasks": [{"data": {"text": 5}}]}, {"tasks[0].data.text": "not a string"}),
    ({"tasks": [{"data": {"text": ["نص"]}}]}, {"tasks[0].data.text": "not a string"}),
    ({"tasks": [{"data": {"text": {"ar": "نص"}}}]}, {"tasks[0].data.text": "not a string"}),
    ({"tasks": [{"data": {"text": "نص سليم"}}, {"data": {"text": None}}, "x"]},
     {"tasks[1].data.text": "missing", "tasks[2]": "not an object"}),
    ({"tasks": [{"data": {"text": "ن" * 1_000_001}}]},
     {"tasks[0].data.text": "over 2000000 bytes (WORKBENCH_MAX_ARTICLE_BYTES)"}),
])
def test_a_malformed_predict_body_is_400_naming_the_task_field(client, auth, payload, errors):
    r = client.post("/ml/predict", headers=auth, data=json.dumps(payload, ensure_ascii=False).encode(),
                    content_type="application/json")
    body = assert_error_shape(r, 400, "invalid_input")
    assert body["errors"] == errors


@pytest.mark.parametrize("path, payload, errors", [
    ("/ml/setup", [], {"body": "not an object"}),
    ("/ml/setup", "token", {"body": "not an object"}),
    ("/ml/setup", None, {"body": "not an object"}),
    ("/ml/webhook", [{"action": "START_TRAINING"}], {"body": "not an object"}),
    ("/ml/webhook", 3, {"body": "not an object"}),
    ("/ml/webhook", {"action": 3}, {"action": "not a string"}),
    ("/ml/webhook", {"action": {"name": "START_TRAINING"}}, {"action": "not a string"}),
    ("/api/articles", {"articles": "x"}, {"articles": "not a list"}),
    ("/api/articles", {"articles": {"text": "x"}}, {"articles": "not a list"}),
])
def test_other_malformed_bodies_name_the_field(client, auth, path, payload, errors):
    r = client.post(path, headers=auth, data=json.dumps(payload), content_type="application/json")
    body = assert_error_shape(r, 422 if path == "/api/articles" else 400, "invalid_input")
    assert body["errors"] == errors


def test_setup_and_training_webhook_still_take_what_label_studio_sends(client, auth, caplog):
    r = client.post("/ml/setup", headers=auth, data=b'{"project": "1.1", "access_token": "LS-TOKEN-987"}\xff',
                    content_type="application/json")
    assert_error_shape(r, 400, "invalid_json")
    assert "LS-TOKEN-987" not in r.get_data(as_text=True) and "LS-TOKEN-987" not in caplog.text
    assert client.post("/ml/setup", headers=auth, json={"project": "1.1", "schema": "<View/>"}).status_code == 200
    r = client.post("/ml/webhook", headers=auth, json={"action": "START_TRAINING", "project": {"id": 1}})
    assert r.status_code == 200 and r.get_json() == {"status": "ok", "ignored": "START_TRAINING"}
    assert client.post("/ml/webhook", headers=auth, json={}).get_json() == {"status": "ok", "ignored": None}


def test_post_articles_with_a_bom_body_still_works(client, auth, settings):
    r = client.post("/api/articles", headers=auth, content_type="application/json",
                    data="\ufeff".encode() + json.dumps({"id": "bom-body", "text": "خبر"}).encode())
    assert r.status_code == 201 and stored_ids(settings) == ["bom-body"]


def test_post_articles_with_some_bad_records_stores_the_good_ones(client, auth, settings):
    records = [{"id": "g1", "text": "خبر"}, None, "نص", [1], {"id": "no text"}, {"id": "g2", "text": "خبر ثان"}]
    r = client.post("/api/articles", headers=auth, json=records)
    body = r.get_json()
    assert r.status_code == 201 and body["new"] == ["g1", "g2"]
    assert [(e["where"], e["message"]) for e in body["errors"][:3]] == [
        ("api[1]", "expected a JSON object, got null"), ("api[2]", "expected a JSON object, got string"),
        ("api[3]", "expected a JSON object, got array")]
    assert body["errors"][3]["where"] == "api[4]"
    assert stored_ids(settings) == ["g1", "g2"]


# --- SQLite: WAL, busy timeout, chunked commits -----------------------------------------------

def test_a_file_database_is_in_wal_mode_with_a_busy_timeout(settings):
    with engine_for(settings.database_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_ingest_records_commits_every_chunk_and_reports_the_same(settings):
    records = [{"id": f"r{i}", "text": f"خبر رقم {i}"} for i in range(articles.COMMIT_EVERY * 2 + 7)]
    commits = []
    with session_scope(settings) as session:
        chunked = articles.ingest_records(session, records, 10_000, commit=lambda: commits.append(1))
    assert len(commits) == 2
    assert len(chunked.new) == len(records) and not chunked.errors
    with session_scope(settings) as session:
        again = articles.ingest_records(session, records + [{"id": "r0", "text": "نص معدل"}], 10_000)
    assert again.unchanged == [r["id"] for r in records] and again.revised == ["r0"]


def many_articles(folder, count):
    folder.mkdir()
    for i in range(count):
        (folder / f"a{i:05d}.txt").write_text(f"خبر رقم {i}", encoding="utf-8")


def test_a_long_ingest_lets_readers_and_a_concurrent_writer_in_between_chunks(settings, client, auth, tmp_path):
    count = articles.COMMIT_EVERY * 2 + 50
    many_articles(tmp_path / "many", count)
    paused, resume, outcome = threading.Event(), threading.Event(), {}

    def progress(files):  # pauses the ingest right after its first chunk is committed
        for index, path in enumerate(files):
            if index == articles.COMMIT_EVERY:
                paused.set()
                resume.wait(60)
            yield path

    def run():
        outcome["report"] = workflow.ingest_paths(settings, [tmp_path / "many"], progress)

    ingest = threading.Thread(target=run)
    ingest.start()
    try:
        assert paused.wait(120), "the ingest did not reach its first chunk"
        visible = len(stored_ids(settings))
        started = time.monotonic()
        r = client.post("/api/articles", headers=auth, json={"id": "meanwhile", "text": "خبر وصل أثناء الاستيراد"})
        waited = time.monotonic() - started
    finally:
        resume.set()
        ingest.join(120)
    assert visible == articles.COMMIT_EVERY  # a reader sees the committed chunk while the ingest runs
    assert r.status_code == 201, r.get_json()  # not 500 "database is locked"
    assert waited < 5  # it did not wait out the busy timeout
    assert len(outcome["report"].new) == count and not outcome["report"].errors
    assert len(stored_ids(settings)) == count + 1


def test_an_ingest_cut_off_midway_keeps_its_committed_chunks(settings, tmp_path):
    many_articles(tmp_path / "many", articles.COMMIT_EVERY + 100)

    def progress(files):
        for index, path in enumerate(files):
            if index == articles.COMMIT_EVERY + 50:
                raise KeyboardInterrupt
            yield path

    with pytest.raises(KeyboardInterrupt):
        workflow.ingest_paths(settings, [tmp_path / "many"], progress)
    assert len(stored_ids(settings)) == articles.COMMIT_EVERY
    report = workflow.ingest_paths(settings, [tmp_path / "many"])
    assert len(report.unchanged) == articles.COMMIT_EVERY and len(report.new) == 100
