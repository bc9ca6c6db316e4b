"""Push and pull throughput of the bridge next to a raw label_studio_sdk bulk import and a raw
project export of the same tasks, measured in one run against one fresh local Label Studio.

    .venv/bin/python benchmarks/labelstudio_bench.py --tasks 1000

Prints a Markdown table (tasks/s). The bridge's push includes validating every prediction,
reconciling the task map and recording task ids; its pull includes storing raw and parsed
annotations, checking every span and reviewing."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench import stack, workflow  # noqa: E402
from workbench.db import session_scope  # noqa: E402
from workbench.labelstudio import LabelStudioClient  # noqa: E402
from workbench.models import ArticleRevision, PreAnnotation  # noqa: E402
from workbench.scheme import load_scheme  # noqa: E402
from workbench.settings import load_settings  # noqa: E402
from workbench.tasks import labeling_config, prediction_payload, task_payload  # noqa: E402


def synthetic_articles(count: int) -> list[dict]:
    corpus = sorted((ROOT / "tasks" / "corpus").glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in corpus]
    return [{"id": f"bench-{i:06d}", "text": texts[i % len(texts)] + f"\n(نسخة {i})\n"} for i in range(count)]


def timed(label, fn):
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.1f} s", file=sys.stderr)
    return value, seconds


def annotate_all(url, token, project_id):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    tasks, page = [], 1
    while True:
        body = session.get(f"{url}/api/tasks", params={"project": project_id, "page": page, "page_size": 500,
                                                       "fields": "all"}).json()
        tasks += body["tasks"]
        if len(tasks) >= body["total"]:
            break
        page += 1
    for task in tasks:
        result = [r for r in task["predictions"][0]["result"]]
        session.post(f"{url}/api/tasks/{task['id']}/annotations", json={"result": result}).raise_for_status()
    return session


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    ls = {"port": stack.free_port(), "username": "bench@example.com", "password": "bench-password-1",
          "token": uuid.uuid4().hex + "abcd1234", "data_dir": str(work / "ls")}
    ls["url"] = f"http://127.0.0.1:{ls['port']}"
    process = stack.start_label_studio(ls, work / "ls.log")
    try:
        stack.wait_until_healthy(ls["url"], process.pid, work / "ls.log", "Label Studio")
        settings = load_settings(environ={"WORKBENCH_VAR_DIR": str(work / "var"),
                                          "WORKBENCH_EXPORTS_DIR": str(work / "exports"),
                                          "WORKBENCH_LABEL_STUDIO_URL": ls["url"],
                                          "WORKBENCH_LABEL_STUDIO_TOKEN": ls["token"],
                                          "WORKBENCH_PROJECT_TITLE": "bench bridge"})
        print(f"{args.tasks} tasks of {sum(len(a['text']) for a in synthetic_articles(5)) // 5} characters "
              "on average, each with one prediction", file=sys.stderr)
        workflow.ingest_records(settings, synthetic_articles(args.tasks))
        workflow.preannotate(settings)
        payloads = raw_payloads(settings)
        _, push_s = timed("bridge push", lambda: workflow.push(settings))
        raw_import_s = raw_import(ls, settings, payloads)
        project_id = workflow.status(settings)["label_studio"]["project_id"]
        timed("annotating every task through the API", lambda: annotate_all(ls["url"], ls["token"], project_id))
        _, pull_s = timed("bridge pull (full)", lambda: workflow.pull(settings, full=True))
        _, export_s = timed("raw JSON export", lambda: raw_export(ls, project_id))
        n = args.tasks
        print("| operation | seconds | tasks/s |\n|---|---|---|")
        for label, seconds in (("bridge push (validate, import in batches of 100, record task map)", push_s),
                               ("raw SDK bulk import (batches of 100)", raw_import_s),
                               ("bridge pull, full (store raw + parsed, check spans, review)", pull_s),
                               ("raw project export (JSON, one request)", export_s)):
            print(f"| {label} | {seconds:.1f} | {n / seconds:.0f} |")
    finally:
        process.terminate()
        process.wait(timeout=60)


def raw_payloads(settings):
    scheme = load_scheme(settings.tasks_dir)
    with session_scope(settings) as session:
        rows = session.query(ArticleRevision, PreAnnotation).join(
            PreAnnotation, PreAnnotation.revision_id == ArticleRevision.id).all()
        return [task_payload(rev, [prediction_payload(pre, rev, scheme)]) for rev, pre in rows]


def raw_import(ls, settings, payloads):
    scheme = load_scheme(settings.tasks_dir)
    with LabelStudioClient(ls["url"], ls["token"]) as client:
        project_id = client.create_project("bench raw", labeling_config(scheme, settings.tasks_dir), "")

        def run():
            for i in range(0, len(payloads), 100):
                client.import_tasks(project_id, payloads[i:i + 100])
        return timed("raw SDK bulk import", run)[1]


def raw_export(ls, project_id):
    r = requests.get(f"{ls['url']}/api/projects/{project_id}/export", params={"exportType": "JSON"},
                     headers={"Authorization": f"Token {ls['token']}"}, timeout=600)
    r.raise_for_status()
    return len(r.content)


if __name__ == "__main__":
    main()
