"""The fault suite against the real Label Studio: two pushes at once, two pulls at once, a pull racing
the webhook, the bridge killed mid-push, Label Studio killed mid-push and mid-pull. Each test ends by
counting: tasks in Label Studio = articles, no duplicate wb_key, annotations in the bridge = annotations
in Label Studio."""
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading

import pytest
from conftest import PROJECT_ROOT, gold_result, start_label_studio_server, stop_label_studio_server
from ls_proxy import ForwardingProxy
from sqlalchemy import func, select
from test_bridge_labelstudio import wait_for

from workbench import workflow
from workbench.db import session_scope
from workbench.errors import LabelStudioError
from workbench.models import Annotation, AnnotationSnapshot, LabelStudioProject, LabelStudioTask

pytestmark = pytest.mark.label_studio

ARTICLES = 150


@pytest.fixture
def many_articles(tmp_path):
    """ARTICLES distinct articles: the sample articles' paragraphs, each with its own number."""
    paragraphs = [p for path in sorted((PROJECT_ROOT / "tasks" / "corpus").glob("*.txt"))
                  for p in path.read_text(encoding="utf-8").split("\n") if len(p) > 80]
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(ARTICLES):
        text = f"{paragraphs[i % len(paragraphs)]}\n\nالخبر رقم {i} من نشرة اليوم."
        (folder / f"a{i:04d}.txt").write_text(text, encoding="utf-8")
    return folder


def prepared(settings, folder):
    workflow.ingest_paths(settings, [folder])
    workflow.preannotate(settings)


def env_of(settings) -> dict:
    """The settings as the environment of a `workbench` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update({"WORKBENCH_HOME": str(settings.home), "WORKBENCH_VAR_DIR": str(settings.var_dir),
                "WORKBENCH_DATABASE_URL": settings.database_url, "WORKBENCH_EXPORTS_DIR": str(settings.exports_dir),
                "WORKBENCH_API_TOKEN": settings.api_token, "WORKBENCH_LABEL_STUDIO_URL": settings.label_studio_url,
                "WORKBENCH_LABEL_STUDIO_TOKEN": settings.label_studio_token,
                "WORKBENCH_PROJECT_TITLE": settings.project_title})
    return env


def workbench_process(settings, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench", *args], env=env_of(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def project_id_of(settings, annotator):
    found = annotator.session.get(f"{annotator.url}/api/projects",
                                  params={"title": settings.project_title}).json()["results"]
    return found[0]["id"] if found else None


def assert_tasks_match_articles(settings, annotator, articles=ARTICLES):
    keys = [t["data"]["wb_key"] for t in annotator.tasks(project_id_of(settings, annotator))]
    assert len(keys) == articles, f"{len(keys)} tasks in Label Studio for {articles} articles"
    assert len(set(keys)) == len(keys), "duplicate wb_key in Label Studio"
    with session_scope(settings) as session:  # the task map of this server's project agrees
        mapped = select(func.count(LabelStudioTask.id)).join(LabelStudioProject).where(
            LabelStudioProject.ls_url == settings.label_studio_url, LabelStudioProject.title == settings.project_title)
        assert session.scalar(mapped) == articles


def assert_annotations_match(settings, annotator):
    in_ls = {a["id"] for t in annotator.tasks(project_id_of(settings, annotator)) for a in t["annotations"]}
    with session_scope(settings) as session:
        latest = {}
        for row in session.scalars(select(Annotation).order_by(Annotation.id)):
            latest[row.ls_annotation_id] = row
        live = {i for i, row in latest.items() if not row.deleted}
        snapshots = session.execute(select(AnnotationSnapshot.task_id, AnnotationSnapshot.ls_annotation_id,
                                           AnnotationSnapshot.raw_sha256)).all()
    assert live == in_ls
    assert len(snapshots) == len(set(snapshots))


def test_two_push_processes_at_once_import_every_task_once(ls_settings, many_articles, annotator):
    prepared(ls_settings, many_articles)
    first = workbench_process(ls_settings, "push", "--batch-size", "5")
    second = workbench_process(ls_settings, "push", "--batch-size", "5")
    outcomes = [(p.wait(300), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _out, _err in outcomes)
    refused = [err for code, _out, err in outcomes if code == 1]
    assert codes in ([0, 0], [0, 1]), outcomes
    for err in refused:
        assert "error: another push is running since " in err and "pid " in err and "Traceback" not in err
    if not refused:  # the second started after the first ended: it had nothing left to import
        assert any("imported 0 task(s)" in out for _code, out, _err in outcomes)
    assert_tasks_match_articles(ls_settings, annotator)
    assert workflow.push(ls_settings).imported == 0


def test_the_bridge_killed_mid_push_resumes_without_duplicates(ls_settings, many_articles, annotator):
    prepared(ls_settings, many_articles)
    push = workbench_process(ls_settings, "push", "--batch-size", "5")

    def imported_some():
        assert push.poll() is None, f"push ended early: {push.communicate()}"
        project = project_id_of(ls_settings, annotator)
        return project is not None and len(annotator.tasks(project)) >= 20

    try:
        wait_for(imported_some, "the push to import 20 tasks", timeout=300)
    finally:
        push.send_signal(signal.SIGKILL)
        push.communicate()
    assert len(annotator.tasks(project_id_of(ls_settings, annotator))) < ARTICLES
    again = workflow.push(ls_settings)  # the dead push's lock is taken over: its pid is gone
    assert again.duplicates == []
    assert_tasks_match_articles(ls_settings, annotator)


class KillingProxy(ForwardingProxy):
    """Kills Label Studio (SIGKILL) when the `kill_at`-th request whose path contains `marker`
    arrives, once armed: a crash of the server at a known point of a push or a pull."""

    def __init__(self, ls: dict, marker: str, kill_at: int, armed: bool = True):
        self.ls, self.marker, self.kill_at, self.seen, self.armed = ls, marker, kill_at, 0, armed
        super().__init__(ls["url"])

    def intercept(self, path):
        if self.armed and self.marker in path:
            self.seen += 1
            if self.seen == self.kill_at:
                stop_label_studio_server(self.ls, signal.SIGKILL)
        return None


@pytest.fixture
def killing_proxy(label_studio):
    proxies = []

    def make(marker, kill_at, armed=True):
        proxies.append(KillingProxy(label_studio, marker, kill_at, armed))
        return proxies[-1], proxies[-1].url

    yield make
    for proxy in proxies:
        proxy.close()
    if label_studio["process"].poll() is not None:
        start_label_studio_server(label_studio)


def test_label_studio_killed_mid_push_then_restarted(ls_settings, many_articles, annotator, label_studio,
                                                     killing_proxy):
    prepared(ls_settings, many_articles)
    _proxy, url = killing_proxy("/import", kill_at=6)
    through_proxy = dataclasses.replace(ls_settings, label_studio_url=url)
    with pytest.raises(LabelStudioError, match="cannot reach Label Studio|answered 5"):
        workflow.push(through_proxy, batch_size=10)
    start_label_studio_server(label_studio)
    # the project was recorded under the proxy's URL; the rerun goes to the server directly, finds the
    # project by its title and the tasks by their wb_key
    again = workflow.push(ls_settings, batch_size=10)
    assert again.recovered == 50 and again.imported == ARTICLES - 50
    assert_tasks_match_articles(ls_settings, annotator)


def test_label_studio_killed_mid_pull_loses_nothing(ls_settings, many_articles, annotator, label_studio,
                                                    killing_proxy, gold):
    proxy, url = killing_proxy("/api/tasks", kill_at=2, armed=False)  # armed: the 2nd page of a full pull
    settings = dataclasses.replace(ls_settings, label_studio_url=url)
    prepared(settings, many_articles)
    report = workflow.push(settings)
    tasks = sorted(annotator.tasks(report.project_id), key=lambda t: t["id"])
    for task in tasks[:30] + tasks[-30:]:  # on both pages of the task list
        annotator.annotate(task["id"], gold_result({"entities": [], "stance": gold[0]["stance"]}))
    assert workflow.pull(settings, full=True)["new_snapshots"] == 60
    for task in tasks[-10:]:
        annotator.annotate(task["id"], gold_result({"entities": [], "stance": gold[1]["stance"]}))
    proxy.armed = True
    with pytest.raises(LabelStudioError):
        workflow.pull(settings, full=True)
    assert label_studio["process"].poll() is not None  # it was killed mid-pull
    start_label_studio_server(label_studio)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count(AnnotationSnapshot.id))) == 60  # the first pull's, intact
    assert workflow.pull(settings, full=True)["new_snapshots"] == 10
    assert_annotations_match(settings, annotator)


def test_two_pulls_at_once_store_each_version_once(ls_settings, sample_corpus, annotator, gold):
    prepared(ls_settings, sample_corpus)
    report = workflow.push(ls_settings)
    for task, example in zip(sorted(annotator.tasks(report.project_id), key=lambda t: t["data"]["article_id"]),
                             sorted(gold, key=lambda g: g["id"])):
        annotator.annotate(task["id"], gold_result(example))
    results, errors = [], []

    def pull():
        try:
            results.append(workflow.pull(ls_settings, full=True))
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r["new_snapshots"] for r in results) == [0, 0, 5]
    assert_annotations_match(ls_settings, annotator)


def test_a_pull_racing_the_webhook_neither_crashes_nor_duplicates(bridge, many_articles, annotator, gold,
                                                                  caplog):
    settings, app = bridge
    prepared(settings, many_articles)
    report = workflow.push(settings)
    tasks = annotator.tasks(report.project_id)[:24]
    caplog.set_level(logging.ERROR, logger="workbench.web.webhooks")
    stop, pulls, errors = threading.Event(), [], []

    def pull_repeatedly():
        while not stop.is_set():
            try:
                pulls.append(workflow.pull(settings))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    puller = threading.Thread(target=pull_repeatedly)
    puller.start()
    try:
        for i, task in enumerate(tasks):  # each submission fires a webhook event at the bridge
            annotator.annotate(task["id"], gold_result({"entities": [], "stance": gold[i % 5]["stance"]}))
    finally:
        stop.set()
        puller.join()
    app.extensions["workbench_pulls"].submit(lambda: None).result(timeout=300)  # the queued webhook pulls ran
    workflow.pull(settings)
    assert errors == [] and len(pulls) >= 1
    assert [r.getMessage() for r in caplog.records if "webhook pull" in r.getMessage()] == []
    assert_annotations_match(settings, annotator)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count(func.distinct(Annotation.ls_annotation_id)))) == len(tasks)
