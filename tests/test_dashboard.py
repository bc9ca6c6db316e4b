"""The dashboard (GET /dashboard/...) and GET /api/stats over a database built without Label Studio:
three articles, pre-annotations of two model versions, annotations of two annotators stored the way
a pull stores them, and two releases. Every figure a page shows is checked against `workbench
status`, the release files or numbers worked out by hand below; a headless Chromium logs in and
looks at every page (screenshots in test-artifacts/dashboard-*.png)."""
import json
import re

import pytest
from conftest import API_TOKEN, ARTIFACTS, make_settings, served
from sqlalchemy import select

from workbench import annotations, workflow
from workbench.db import session_scope
from workbench.models import ArticleRevision, LabelStudioProject, LabelStudioTask, PreAnnotation
from workbench.scheme import load_scheme
from workbench.web import create_app

LS_URL, LS_PROJECT_ID, TITLE = "http://ls.example:8080", 7, "dashboard check"
TEXTS = {"a1": "قال بوتين إن روسيا ستواصل الحرب في أوكرانيا.",
         "a2": "زار زيلينسكي واشنطن والتقى بايدن في البيت الأبيض.",
         "a3": "أعلن حلف الناتو دعمه لأوكرانيا في قمة بروكسل."}
PAGES = ("", "/annotators", "/agreement", "/quality", "/versions")


def span(article, words, label):
    start = TEXTS[article].index(words)
    return {"start": start, "end": start + len(words), "text": words, "label": label}


def raw_annotation(ann_id, who, article, spans, stance, lead_time, updated):
    result = [{"id": f"r{i}", "from_name": "entities", "to_name": "text", "type": "labels",
               "value": {"start": s["start"], "end": s["end"], "text": s["text"], "labels": [s["label"]]}}
              for i, s in enumerate(spans)]
    result += [{"id": f"s{key}", "from_name": f"stance_{key}", "to_name": "text", "type": "choices",
                "value": {"choices": [choice]}} for key, choice in zip(("ukraine", "russia"), stance)]
    return {"id": ann_id, "result": result, "created_username": who, "lead_time": lead_time,
            "updated_at": f"2026-01-01T00:00:{updated:02d}.000000Z", "was_cancelled": False, "ground_truth": False}


A1 = [span("a1", "بوتين", "PER"), span("a1", "روسيا", "GPE"), span("a1", "أوكرانيا", "GPE")]
A2_ALICE = [span("a2", "زيلينسكي", "PER"), span("a2", "واشنطن", "GPE"), span("a2", "بايدن", "PER")]
A2_BOB = A2_ALICE + [span("a2", "البيت الأبيض", "ORG")]
A3 = [span("a3", "الناتو", "ORG"), span("a3", "أوكرانيا", "GPE"), span("a3", "بروكسل", "GPE")]
PREDICTED = {"m1": {"a1": [span("a1", "بوتين", "PER"), span("a1", "روسيا", "LOC"), span("a1", "الحرب", "ORG")],
                    "a2": [span("a2", "زيلينسكي", "PER"), span("a2", "واشنطن والتقى", "GPE"),
                           span("a2", "بايدن", "PER")],
                    "a3": [span("a3", "الناتو", "ORG")]},
             "m2": {"a1": A1}}


def store(settings, task_id, raw):
    scheme = load_scheme(settings.tasks_dir)
    with session_scope(settings) as session:
        task = session.scalars(select(LabelStudioTask).where(LabelStudioTask.ls_task_id == task_id)).one()
        annotations._store_snapshot(session, task, raw, None, scheme)


def build_state(settings):
    """v0001 from tasks 101 and 102 (both annotated by alice and bob), then alice annotates 103: v0002."""
    workflow.ingest_records(settings, [{"id": k, "text": t} for k, t in TEXTS.items()])
    with session_scope(settings) as session:
        project = LabelStudioProject(ls_url=LS_URL, ls_project_id=LS_PROJECT_ID, title=TITLE, config_sha256="x")
        session.add(project)
        for n, revision in enumerate(session.scalars(select(ArticleRevision).order_by(ArticleRevision.article_id))):
            versions = [v for v in PREDICTED if revision.article_id in PREDICTED[v]]
            for version in versions:
                session.add(PreAnnotation(revision_id=revision.id, model_version=version, stance={}, score=0.5,
                                          entities=PREDICTED[version][revision.article_id]))
            session.add(LabelStudioTask(project=project, revision_id=revision.id, ls_task_id=101 + n,
                                        task_key=revision.article_id, model_versions=versions))
    store(settings, 101, raw_annotation(501, "alice", "a1", A1, ("NONE", "AGAINST"), 30, 1))
    store(settings, 101, raw_annotation(502, "bob", "a1", A1, ("NONE", "AGAINST"), 20, 2))
    store(settings, 102, raw_annotation(503, "alice", "a2", A2_ALICE, ("FAVOR", "NONE"), 50, 3))
    store(settings, 102, raw_annotation(504, "bob", "a2", A2_BOB, ("FAVOR", "AGAINST"), 40, 4))
    workflow.release(settings)
    store(settings, 103, raw_annotation(505, "alice", "a3", A3, ("FAVOR", "NONE"), 70, 5))
    workflow.release(settings)


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    settings = make_settings(tmp, label_studio_url=LS_URL, project_title=TITLE)
    build_state(settings)
    return settings


@pytest.fixture
def dash_app(state):
    return create_app(state)


@pytest.fixture
def logged_in(dash_app):
    client = dash_app.test_client()
    assert client.post("/dashboard/login", data={"token": API_TOKEN}).status_code == 302
    return client


def figures(html: str) -> dict[str, list[str]]:
    found = {}
    for name, value in re.findall(r'data-figure="([^"]+)">([^<]*)<', html):
        found.setdefault(name, []).append(value.strip())
    return found


def row(html: str, attribute: str, value: str) -> dict[str, list[str]]:
    match = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {attribute}={value}"
    return figures(match.group(1))


# --- access -----------------------------------------------------------------------------------

def test_without_a_token_every_page_redirects_to_the_login_form(dash_app):
    client = dash_app.test_client()
    for page in PAGES:
        r = client.get(f"/dashboard{page}")
        assert r.status_code == 302
        assert r.headers["Location"].startswith("/dashboard/login?next=/dashboard")
    form = client.get("/dashboard/login")
    assert form.status_code == 200 and 'name="token"' in form.text and '<html lang="ar" dir="rtl">' in form.text


def test_a_wrong_token_is_a_401_form_error_and_no_session(dash_app):
    client = dash_app.test_client()
    r = client.post("/dashboard/login", data={"token": "not-the-token"})
    assert r.status_code == 401
    assert 'role="alert"' in r.text and "WORKBENCH_API_TOKEN" in r.text
    assert "Set-Cookie" not in r.headers
    assert client.get("/dashboard").status_code == 302
    assert client.post("/dashboard/login", data={}).status_code == 401


def test_the_right_token_sets_an_httponly_samesite_cookie_until_logout(dash_app):
    client = dash_app.test_client()
    r = client.post("/dashboard/login", data={"token": API_TOKEN, "next": "/dashboard/versions"})
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/versions"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    assert API_TOKEN not in cookie
    assert client.get("/dashboard").status_code == 200
    assert client.post("/dashboard/logout").status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_login_never_redirects_off_the_dashboard(dash_app):
    client = dash_app.test_client()
    for target in ("http://evil.example/", "//evil.example/dashboard", "/api/status"):
        r = client.post("/dashboard/login", data={"token": API_TOKEN, "next": target})
        assert r.headers["Location"] == "/dashboard"


def test_a_cookie_signed_with_another_key_is_refused(dash_app, state, tmp_path):
    other = create_app(make_settings(tmp_path, api_token="another-token"))
    client = other.test_client()
    client.post("/dashboard/login", data={"token": "another-token"})
    cookie = client.get_cookie("session", path="/dashboard")
    stranger = dash_app.test_client()
    stranger.set_cookie("session", cookie.value, path="/dashboard")
    assert stranger.get("/dashboard").status_code == 302


def test_bearer_token_works_without_a_session(dash_app):
    client = dash_app.test_client()
    for page in PAGES:
        assert client.get(f"/dashboard{page}", headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200
    assert client.get("/dashboard", headers={"Authorization": "Bearer wrong"}).status_code == 302


# --- figures ------------------------------------------------------------------------------------

def test_every_page_is_right_to_left_with_a_matplotlib_chart(logged_in):
    for page in PAGES:
        r = logged_in.get(f"/dashboard{page}")
        assert r.status_code == 200, page
        assert r.text.startswith("<!doctype html>\n<html lang=\"ar\" dir=\"rtl\">")
        assert '<div class="figure" dir="ltr"><svg' in r.text, page
        assert "Matplotlib" in r.text  # drawn by matplotlib, text left as SVG text
        assert "<script" not in r.text


def test_progress_shows_the_status_counts(logged_in, state):
    counts = workflow.status(state)["counts"]
    assert counts["accepted"] == 3 and counts["waiting"] == 0 and counts["releases"] == 2
    shown = figures(logged_in.get("/dashboard").text)
    assert {k[len("counts."):]: int(v[0]) for k, v in shown.items() if k.startswith("counts.")} == counts
    assert shown["latest_release"] == ["v0002"]


def test_api_stats_equals_the_pages_and_status(dash_app, state, auth):
    client = dash_app.test_client()
    assert client.get("/api/stats").status_code == 401
    body = client.get("/api/stats", headers=auth).get_json()
    assert set(body) == {"progress", "annotators", "agreement", "quality", "versions"}
    assert body["progress"]["counts"] == workflow.status(state)["counts"]
    last = body["progress"]["timeline"][-1]
    assert {k: last[k] for k in ("ingested", "preannotated", "pushed", "annotated", "released")} == {
        "ingested": 3, "preannotated": 3, "pushed": 3, "annotated": 5, "released": 2}
    only = client.get("/api/stats?section=versions", headers=auth).get_json()
    assert only == {"versions": body["versions"]}
    r = client.get("/api/stats?section=bogus", headers=auth)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_input"


def test_annotators_tasks_lead_time_and_agreement(logged_in, dash_app, auth):
    html = logged_in.get("/dashboard/annotators").text
    alice, bob = row(html, "data-annotator", "alice"), row(html, "data-annotator", "bob")
    assert (alice["tasks"], alice["accepted"], alice["median_lead_time"]) == (["3"], ["1"], ["50.0"])
    assert (bob["tasks"], bob["accepted"], bob["median_lead_time"]) == (["2"], ["2"], ["30.0"])
    # task 101 agrees fully; on 102 alice has 3 of bob's 4 spans (F1 6/7) and one of two stances
    assert alice["mean_span_f1_with_others"] == bob["mean_span_f1_with_others"] == [str(round((1 + 6 / 7) / 2, 4))]
    assert alice["stance_agreement_with_others"] == ["0.75"]
    api = dash_app.test_client().get("/api/stats?section=annotators", headers=auth).get_json()["annotators"]
    assert [(a["annotator"], a["tasks"], a["median_lead_time"]) for a in api] == [("alice", 3, 50.0), ("bob", 2, 30.0)]


def test_agreement_matches_the_release_and_links_low_tasks_to_label_studio(logged_in, state, dash_app, auth):
    released = json.loads((state.exports_dir / "v0002" / "agreement.json").read_text(encoding="utf-8"))
    report = dash_app.test_client().get("/api/stats?section=agreement", headers=auth).get_json()["agreement"]
    links = [t.pop("link") for t in report["low_agreement_tasks"]]
    assert report == released
    assert links == [f"{LS_URL}/projects/{LS_PROJECT_ID}/data?task=102"]
    html = logged_in.get("/dashboard/agreement").text
    shown = figures(html)
    assert shown["tasks_with_multiple_annotations"] == [str(released["tasks_with_multiple_annotations"])] == ["2"]
    assert shown["span_f1.exact.ALL"] == [str(released["span_f1"]["alice | bob"]["exact"]["ALL"])]
    assert shown["stance_alpha"] == [str(a) if a is not None else "غير معرّفة" for a in released["stance_alpha"].values()]
    assert f'href="{LS_URL}/projects/{LS_PROJECT_ID}/data?task=102"' in html


def test_quality_per_model_version_and_correction_effort(logged_in, dash_app, auth):
    quality = {q["model_version"]: q for q in
               dash_app.test_client().get("/api/stats?section=quality", headers=auth).get_json()["quality"]}
    m1, m2 = quality["m1"], quality["m2"]
    # a1: بوتين kept, روسيا LOC->GPE relabelled, الحرب deleted, أوكرانيا added; a2: two kept, واشنطن
    # moved, البيت الأبيض added; a3: الناتو kept, two added
    assert m1["tasks"] == 3
    assert m1["corrections"] == {"kept": 4, "relabelled": 1, "moved": 1, "deleted": 1, "added": 4}
    assert {label: (s["precision"], s["recall"]) for label, s in m1["labels"].items()} == {
        "GPE": (0.0, 0.0), "LOC": (0.0, None), "ORG": (0.5, 0.5), "PER": (1.0, 1.0)}
    assert (m2["tasks"], m2["corrections"]["kept"], m2["overall"]["precision"], m2["overall"]["recall"]) == (
        1, 3, 1.0, 1.0)
    html = logged_in.get("/dashboard/quality").text
    table = re.search(r'<table data-model-version="m1">(.*?)</table>\s*<table>(.*?)</table>', html, re.S)
    shown = figures(table.group(1) + table.group(2))
    assert shown["precision.ORG"] == ["0.5"] and shown["recall.LOC"] == ["—"]
    assert {k: int(v[0]) for k, v in shown.items() if k.startswith("corrections.")} == {
        f"corrections.{k}": n for k, n in m1["corrections"].items()}


def test_versions_show_the_release_files(logged_in, state):
    html = logged_in.get("/dashboard/versions").text
    for version, parent in (("v0001", None), ("v0002", "v0001")):
        manifest = json.loads((state.exports_dir / version / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["parent"] == parent
        shown = row(html, "data-version", version)
        assert shown["examples"] == [str(manifest["files"]["examples.jsonl"]["records"])]
        for label, n in manifest["stats"]["entity_labels"].items():
            assert re.search(rf'<tr data-version="{version}">.*?{label}: {n}\b.*?</tr>', html, re.S)
    assert row(html, "data-version", "v0002")["diff"] == ["+1 −0 ~0"]


def test_an_empty_database_renders_every_page(tmp_path):
    client = create_app(make_settings(tmp_path)).test_client()
    for page in PAGES:
        r = client.get(f"/dashboard{page}", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert r.status_code == 200, page
    assert figures(client.get("/dashboard", headers={"Authorization": f"Bearer {API_TOKEN}"}).text)[
        "counts.articles"] == ["0"]


# --- in a real browser ----------------------------------------------------------------------------

def test_browser_logs_in_and_reads_every_page(browser, dash_app, state):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    counts = workflow.status(state)["counts"]
    ARTIFACTS.mkdir(exist_ok=True)
    with served(dash_app) as url:
        browser.get(f"{url}/dashboard/agreement")
        assert "/dashboard/login" in browser.current_url
        browser.find_element(By.NAME, "token").send_keys(API_TOKEN)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(browser, 30).until(lambda d: "/dashboard/login" not in d.current_url)
        assert browser.current_url == f"{url}/dashboard/agreement"
        assert "session" not in browser.execute_script("return document.cookie")  # HttpOnly
        for page in PAGES:
            browser.get(f"{url}/dashboard{page}")
            name = page.strip("/") or "progress"
            assert browser.execute_script("return getComputedStyle(document.body).direction") == "rtl"
            charts = browser.find_elements(By.CSS_SELECTOR, ".figure svg")
            assert charts and all(c.size["width"] > 300 for c in charts), name
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= 1366, f"{name} scrolls sideways on a laptop screen ({width}px)"
            browser.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))
            if name == "progress":
                shown = browser.find_element(By.CSS_SELECTOR, '[data-figure="counts.accepted"]').text
                assert shown == str(counts["accepted"])
            if name == "agreement":
                link = browser.find_element(By.CSS_SELECTOR, "a.task-link").get_attribute("href")
                assert link == f"{LS_URL}/projects/{LS_PROJECT_ID}/data?task=102"
    assert (ARTIFACTS / "dashboard-quality.png").stat().st_size > 20_000
