"""The whole loop on a real newsroom corpus (SaudiNewsNet: a folder of its zips, or a .jsonl of
articles), each stage run as a user runs it (the `workbench` command, a fresh process, its own
peak memory), next to its anchor measured in the same run on the same data:

    ingest          every article                        (no anchor)
    preannotate     every ingested article               one worker on a sample of the same articles
                    (--workers N: on a Dask LocalCluster)   (only with --workers; else it is the anchor)
    push            --push N tasks, least confident first a raw SDK bulk import of the same N tasks
    annotate        --annotate-share of them through Label Studio's API (setting up, not timed as a stage)
    pull (full)     every task                           Label Studio's own JSON export of the project
    pull (incr.)    after 10 more annotations            the full pull
    release         every accepted article               (no anchor)

Label Studio is a fresh local server (SQLite) started by the script; the bridge's database is a
fresh SQLite file, or with --postgres a throwaway PostgreSQL server this script starts
(initdb + pg_ctl on a free port). Throughput counts distinct articles only (ingest drops exact
duplicates and blank texts). Prints a Markdown table and writes the figures as JSON (--json).
Nothing derived from the corpus is kept outside the work directory (default: a new folder in /tmp).

Stage times are those of the workflow call each `workbench` command makes, in a fresh process
(Python's start-up and imports excluded), with that process's peak RSS.

Usage: python benchmarks/corpus_scale.py /work/shared/data/saudinewsnet [--articles N] [--push 5000]
           [--annotate-share 0.2] [--workers N] [--anchor-sample 1000] [--postgres] [--json out.json]"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_speed import to_jsonl  # noqa: E402
from workbench import stack, workflow  # noqa: E402
from workbench.db import dispose_engines, session_scope  # noqa: E402
from workbench.labelstudio import LabelStudioClient  # noqa: E402
from workbench.models import ArticleRevision, LabelStudioTask, PreAnnotation  # noqa: E402
from workbench.scheme import load_scheme  # noqa: E402
from workbench.settings import load_settings  # noqa: E402
from workbench.tasks import labeling_config, prediction_payload, task_payload  # noqa: E402

STAGES = {
    "ingest": lambda settings, arg: workflow.ingest_paths(settings, [Path(arg)]),
    "preannotate": lambda settings, arg: workflow.preannotate(
        settings, workers=None if arg is None else (os.cpu_count() if arg == "all" else int(arg))),
    "push": lambda settings, arg: workflow.push(settings, least_confident_first=True, limit=int(arg)),
    "pull": lambda settings, arg: workflow.pull(settings, full=arg == "full"),
    "release": lambda settings, arg: workflow.release(settings),
}


def run_stage(name: str, stage: str, arg, env: dict, log: Path) -> dict:
    """One stage (the workflow function its `workbench` command calls) in a fresh process: the
    seconds of the call itself (not Python's start-up and imports) and the process's peak RSS."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {stage} {arg or ''}\n")
        out.flush()
        process = subprocess.Popen([sys.executable, __file__, "--stage", stage, str(arg)],
                                   env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=out, text=True)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name}: stage {stage} failed (see {log})")
    seconds = json.loads(output.strip().splitlines()[-1])["seconds"]
    print(f"  {name}: {seconds:.1f} s, peak {usage.ru_maxrss / 1024:.0f} MB", file=sys.stderr)
    return {"seconds": seconds, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def child_stage(stage: str, arg: str) -> int:
    settings = load_settings()
    began = time.perf_counter()
    STAGES[stage](settings, None if arg == "None" else arg)
    print(json.dumps({"seconds": time.perf_counter() - began}))
    return 0


def timed(name: str, fn):
    began = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - began
    print(f"  {name}: {seconds:.1f} s", file=sys.stderr)
    return value, seconds


def corpus_lines(corpus: Path, work: Path, articles: int | None) -> Path:
    source = to_jsonl(corpus, work) if corpus.is_dir() else corpus
    if articles is None:
        return source
    return first_lines(source, work / "articles.jsonl", articles)


def first_lines(source: Path, out: Path, count: int) -> Path:
    with source.open(encoding="utf-8") as lines, out.open("w", encoding="utf-8") as kept:
        for n, line in enumerate(lines):
            if n == count:
                break
            kept.write(line)
    return out


@contextmanager
def label_studio(work: Path):
    ls = {"port": stack.free_port(), "username": "bench@example.com", "password": "bench-password-1",
          "token": uuid.uuid4().hex + "abcd1234", "data_dir": str(work / "label-studio")}
    ls["url"] = f"http://127.0.0.1:{ls['port']}"
    process = stack.start_label_studio(ls, work / "label-studio.log")
    try:
        yield ls, process
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def postgres(work: Path):
    """A throwaway PostgreSQL server (initdb, pg_ctl) on a free port; yields its SQLAlchemy URL."""
    def binary(name):
        found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if not found:
            raise SystemExit(f"--postgres: {name} not found (install PostgreSQL)")
        return found if isinstance(found, str) else found[-1]
    data, port = work / "postgres", stack.free_port()
    data.mkdir()
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_user + [binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(as_user + [binary("pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {data} -h 127.0.0.1",
                              "-l", str(data / "log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        dispose_engines()
        subprocess.run(as_user + [binary("pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)


def environment(work: Path, name: str, database_url: str, ls: dict | None, title: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update({"WORKBENCH_HOME": str(ROOT), "WORKBENCH_VAR_DIR": str(work / name / "var"),
                "WORKBENCH_EXPORTS_DIR": str(work / name / "exports"), "WORKBENCH_DATABASE_URL": database_url,
                "WORKBENCH_PROJECT_TITLE": title, "PYTHONPATH": str(ROOT)})
    if ls:
        env.update({"WORKBENCH_LABEL_STUDIO_URL": ls["url"], "WORKBENCH_LABEL_STUDIO_TOKEN": ls["token"]})
    return env


def pushed_payloads(settings) -> list[dict]:
    """The tasks the bridge pushed, as the payloads a raw import of the same tasks sends."""
    scheme = load_scheme(settings.tasks_dir)
    with session_scope(settings) as session:
        rows = session.execute(select(ArticleRevision, PreAnnotation)
                               .join(LabelStudioTask, LabelStudioTask.revision_id == ArticleRevision.id)
                               .join(PreAnnotation, PreAnnotation.revision_id == ArticleRevision.id)).all()
        return [task_payload(revision, [prediction_payload(pre, revision, scheme)]) for revision, pre in rows]


def raw_import(ls: dict, settings, payloads: list[dict], batch: int = 100) -> float:
    scheme = load_scheme(settings.tasks_dir)
    with LabelStudioClient(ls["url"], ls["token"]) as client:
        project_id = client.create_project("anchor: raw SDK import", labeling_config(scheme, settings.tasks_dir), "")

        def run():
            for begin in range(0, len(payloads), batch):
                client.import_tasks(project_id, payloads[begin:begin + batch])
        return timed("anchor: raw SDK bulk import", run)[1]


def project_tasks(session: requests.Session, url: str, project_id: int) -> list[dict]:
    tasks, page = [], 1
    while True:
        body = session.get(f"{url}/api/tasks", params={"project": project_id, "page": page, "page_size": 500,
                                                       "fields": "all"}, timeout=600).json()
        tasks += body["tasks"]
        if len(tasks) >= body["total"] or not body["tasks"]:
            return tasks
        page += 1


def annotate(session: requests.Session, url: str, tasks: list[dict], rng: random.Random) -> None:
    """Submit an annotation per task: its prediction, one span in five deleted (a corrected task)."""
    for task in tasks:
        result = list(task["predictions"][0]["result"]) if task["predictions"] else []
        result = [r for r in result if r["type"] != "labels" or rng.random() > 0.2]
        session.post(f"{url}/api/tasks/{task['id']}/annotations", json={"result": result, "lead_time": 30},
                     timeout=60).raise_for_status()


def raw_export(ls: dict, project_id: int) -> int:
    response = requests.get(f"{ls['url']}/api/projects/{project_id}/export", params={"exportType": "JSON"},
                            headers={"Authorization": f"Token {ls['token']}"}, timeout=3600)
    response.raise_for_status()
    return len(response.content)


def count(settings, what: str) -> int:
    return workflow.status(settings)["counts"][what]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="SaudiNewsNet folder of zips, or a .jsonl of articles")
    parser.add_argument("--articles", type=int, help="only the first N lines of the corpus (default: all)")
    parser.add_argument("--push", type=int, default=5000, help="tasks to push (default 5000)")
    parser.add_argument("--annotate-share", type=float, default=0.2, help="share of pushed tasks annotated")
    parser.add_argument("--workers", help="preannotate --workers N|all (Dask); default one process")
    parser.add_argument("--anchor-sample", type=int, default=1000,
                        help="articles the one-worker anchor pre-annotates (with --workers)")
    parser.add_argument("--postgres", action="store_true", help="the bridge's database on a throwaway PostgreSQL")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--work", type=Path, help="work directory (default: a new one under /tmp)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        parser.error(f"{args.corpus} does not exist")
    if args.push < 20 or not 0 < args.annotate_share <= 1:
        parser.error("--push must be at least 20 and --annotate-share in (0, 1]")
    work = args.work or Path(tempfile.mkdtemp(prefix="wb-corpus-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "stages.log"
    print(f"work directory {work} (stage output in {log})", file=sys.stderr)
    rng = random.Random(args.seed)
    lines = corpus_lines(args.corpus, work, args.articles)
    with label_studio(work) as (ls, ls_process), \
            (postgres(work) if args.postgres else _sqlite(work)) as database_url:
        env = environment(work, "bridge", database_url, ls, "corpus scale")
        settings = load_settings(environ=env)
        stages: dict[str, dict] = {}
        # Label Studio's start-up takes a core for most of a minute: no stage runs beside it
        stack.wait_until_healthy(ls["url"], ls_process.pid, work / "label-studio.log", "Label Studio")
        stages["ingest"] = run_stage("ingest", "ingest", lines, env, log)
        articles = count(settings, "articles")
        stages["ingest"].update(items=articles, unit="articles")

        stages["preannotate"] = run_stage("preannotate", "preannotate", args.workers, env, log)
        stages["preannotate"].update(items=count(settings, "preannotated"), unit="articles")
        if args.workers:
            stages["preannotate"]["anchor"] = one_worker_anchor(work, lines, args.anchor_sample, log)

        stages["push"] = run_stage("push", "push", args.push, env, log)
        payloads = pushed_payloads(settings)
        stages["push"].update(items=len(payloads), unit="tasks")
        stages["push"]["anchor"] = {"name": "raw SDK bulk import, same tasks, batches of 100",
                                    "seconds": raw_import(ls, settings, payloads)}

        project_id = workflow.status(settings)["label_studio"]["project_id"]
        http = requests.Session()
        http.headers["Authorization"] = f"Token {ls['token']}"
        tasks = project_tasks(http, ls["url"], project_id)
        share = max(11, round(len(tasks) * args.annotate_share))
        chosen = rng.sample(tasks, min(share, len(tasks)))
        _, annotate_s = timed(f"annotating {len(chosen) - 10} tasks through Label Studio's API",
                              lambda: annotate(http, ls["url"], chosen[10:], rng))

        stages["pull (full)"] = run_stage("pull (full)", "pull", "full", env, log)
        stages["pull (full)"].update(items=len(tasks), unit="tasks")
        _, export_s = timed("anchor: Label Studio JSON export", lambda: raw_export(ls, project_id))
        stages["pull (full)"]["anchor"] = {"name": "Label Studio's JSON export of the project", "seconds": export_s}

        annotate(http, ls["url"], chosen[:10], rng)
        stages["pull (incremental)"] = run_stage("pull (incremental)", "pull", "incremental", env, log)
        stages["pull (incremental)"].update(items=10, unit="changed tasks")
        stages["pull (incremental)"]["anchor"] = {"name": "the full pull above",
                                                  "seconds": stages["pull (full)"]["seconds"]}

        stages["release"] = run_stage("release", "release", None, env, log)
        released = json.loads((Path(env["WORKBENCH_EXPORTS_DIR"]) / "v0001" / "manifest.json").read_text())
        stages["release"].update(items=released["files"]["examples.jsonl"]["records"], unit="examples")
    result = {"corpus": str(args.corpus), "database": "postgresql" if args.postgres else "sqlite",
              "articles_in_corpus_lines": sum(1 for _ in lines.open(encoding="utf-8")),
              "annotated": len(chosen), "annotate_seconds": round(annotate_s, 1), "workers": args.workers or "1",
              "stages": stages}
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


@contextmanager
def _sqlite(work: Path):
    yield f"sqlite:///{work / 'bridge.db'}"


def one_worker_anchor(work: Path, lines: Path, sample: int, log: Path) -> dict:
    """`workbench preannotate` in one process over the first `sample` distinct articles, in a database of its own."""
    subset = first_lines(lines, work / "anchor-articles.jsonl", sample)
    env = environment(work, "anchor", f"sqlite:///{work / 'anchor.db'}", None, "anchor")
    run_stage("anchor: ingest", "ingest", subset, env, log)
    figures = run_stage("anchor: preannotate, one worker", "preannotate", None, env, log)
    figures.update(name=f"one worker, first {sample} lines", items=count(load_settings(environ=env), "preannotated"))
    return figures


def table(result: dict) -> str:
    rows = ["| stage | items | seconds | per second | peak RSS | anchor | anchor seconds | ratio to anchor |",
            "|---|---|---|---|---|---|---|---|"]
    for name, stage in result["stages"].items():
        rate = stage["items"] / stage["seconds"]
        anchor = stage.get("anchor")
        if anchor is None:
            tail = "– | – | –"
        elif "items" in anchor:  # a throughput anchor: compare rates
            anchor_rate = anchor["items"] / anchor["seconds"]
            tail = f"{anchor['name']} ({anchor_rate:,.1f}/s) | {anchor['seconds']:.1f} | {rate / anchor_rate:.2f}x the rate"
        else:
            tail = f"{anchor['name']} | {anchor['seconds']:.1f} | {stage['seconds'] / anchor['seconds']:.2f}x the time"
        rows.append(f"| {name} | {stage['items']:,} {stage['unit']} | {stage['seconds']:.1f} | {rate:,.1f} | "
                    f"{stage['peak_rss_mb']:.0f} MB | {tail} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stage"]:  # one stage, in the child process run_stage starts
        sys.exit(child_stage(*sys.argv[2:4]))
    sys.exit(main())
