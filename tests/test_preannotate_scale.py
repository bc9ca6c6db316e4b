"""`workbench preannotate` at corpus scale: commits in batches (an interrupted run keeps what it
finished, a rerun does only the rest), a progress bar over the pending articles, and the same
results on Dask: a real LocalCluster, and a real scheduler and worker started here as processes."""
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from conftest import make_settings
from workbench import parallel, stack, workflow
from workbench.cli import main
from workbench.db import session_scope
from workbench.models import ArticleRevision, PreAnnotation
from workbench.preannotate import configured_preannotator, preannotate_pending
from workbench.scheme import load_scheme
from workbench.settings import PROJECT_ROOT


def paragraphs() -> list[dict]:
    """Distinct texts: every paragraph of the five sample articles that is long enough (36 or so)."""
    records = []
    for path in sorted((PROJECT_ROOT / "tasks" / "corpus").glob("*.txt")):
        for n, paragraph in enumerate(path.read_text(encoding="utf-8").split("\n\n")):
            if len(paragraph.strip()) > 80:
                records.append({"id": f"{path.stem}-{n:02d}", "text": paragraph})
    return records


def stored(settings) -> list[tuple]:
    with session_scope(settings) as session:
        rows = session.execute(select(ArticleRevision.article_id, PreAnnotation.model_version, PreAnnotation.entities,
                                      PreAnnotation.stance, PreAnnotation.score)
                               .join(PreAnnotation, PreAnnotation.revision_id == ArticleRevision.id)
                               .order_by(ArticleRevision.article_id))
        return [tuple(row) for row in rows]


@pytest.fixture(scope="module")
def records():
    found = paragraphs()
    assert len(found) >= 20
    return found


@pytest.fixture(scope="module")
def single_process(records, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("single"))
    workflow.ingest_records(settings, records)
    workflow.preannotate(settings)
    return stored(settings)


class Interrupted(Exception):
    pass


def interrupted_after(count: int):
    """A runner that stops (as Ctrl-C or a killed worker would) after `count` predictions."""
    def runner(annotator, texts):
        for n, prediction in enumerate(parallel.local_runner(annotator, texts)):
            if n == count:
                raise Interrupted
            yield prediction
    return runner


def test_an_interrupted_run_keeps_its_committed_batches_and_a_rerun_does_only_the_rest(settings, records,
                                                                                        single_process):
    workflow.ingest_records(settings, records)
    scheme = load_scheme(settings.tasks_dir)
    with pytest.raises(Interrupted):
        with session_scope(settings) as session:
            annotator = configured_preannotator(settings, scheme.target_names, session)
            preannotate_pending(session, annotator, scheme.entity_labels, runner=interrupted_after(11),
                                commit=session.commit, commit_every=4)
    kept = stored(settings)
    assert len(kept) == 8  # two batches of 4 committed; the 3 after them rolled back
    assert kept == single_process[:8]
    report = workflow.preannotate(settings)
    assert report.already_done == 8
    assert report.annotated == [r["id"] for r in sorted(records, key=lambda r: r["id"])][8:]
    assert stored(settings) == single_process


def test_the_progress_bar_sees_every_pending_article_once(settings, records):
    workflow.ingest_records(settings, records[:5])
    workflow.preannotate(settings)
    workflow.ingest_records(settings, records)
    seen = []

    def progress(items):
        items = list(items)
        seen.append(len(items))
        yield from items
    report = workflow.preannotate(settings, progress)
    assert seen == [len(records) - 5] and len(report.annotated) == len(records) - 5


def test_the_cli_bar_shows_rate_and_eta(settings_env, records, tmp_path):
    from workbench.cli import progress
    bar = progress("pre-annotating")
    assert list(bar(range(3))) == [0, 1, 2]
    result = CliRunner().invoke(main, ["preannotate", "--workers", "none"])
    assert result.exit_code == 2 and "'none' is not a number of workers (1 or more, or 'all')" in result.output


def test_a_local_dask_cluster_stores_exactly_what_one_process_does(tmp_path, records, single_process):
    settings = make_settings(tmp_path)
    workflow.ingest_records(settings, records)
    report = workflow.preannotate(settings, workers=2, commit_every=7)
    assert len(report.annotated) == len(records)
    assert stored(settings) == single_process


@pytest.fixture
def dask_scheduler(tmp_path):
    """A real Dask scheduler and one worker, as separate processes (as on other machines)."""
    port = stack.free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    bin_dir = os.path.dirname(sys.executable)
    logs = [open(tmp_path / name, "w") for name in ("scheduler.log", "worker.log")]
    scheduler = subprocess.Popen([os.path.join(bin_dir, "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                  str(port), "--no-dashboard"], env=env, stdout=logs[0], stderr=subprocess.STDOUT)
    worker = subprocess.Popen([os.path.join(bin_dir, "dask"), "worker", address, "--nworkers", "1", "--nthreads",
                               "1", "--no-dashboard"], env=env, cwd=tmp_path, stdout=logs[1],
                              stderr=subprocess.STDOUT)
    try:
        from distributed import Client
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def test_an_existing_scheduler_named_by_the_setting_or_the_cli_runs_it(tmp_path, records, single_process,
                                                                      dask_scheduler, settings_env, monkeypatch):
    settings = make_settings(tmp_path / "by-setting", dask_scheduler=dask_scheduler)
    workflow.ingest_records(settings, records[:10])
    assert len(workflow.preannotate(settings, workers=1).annotated) == 10
    workflow.ingest_records(settings, records)
    assert len(workflow.preannotate(settings, scheduler=dask_scheduler).annotated) == len(records) - 10
    assert stored(settings) == single_process

    workflow.ingest_records(load_settings_from(settings_env), records)
    result = CliRunner().invoke(main, ["preannotate", "--scheduler", dask_scheduler])
    assert result.exit_code == 0, result.output
    assert f"annotated {len(records)} article(s)" in result.output
    assert stored(load_settings_from(settings_env)) == single_process


def load_settings_from(env: dict):
    from workbench.settings import load_settings
    return load_settings(environ=env)


def test_an_unreachable_scheduler_is_a_clear_error(settings_env, records, monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 2)
    workflow.ingest_records(load_settings_from(settings_env), records[:3])
    address = f"tcp://127.0.0.1:{stack.free_port()}"
    began = time.monotonic()
    result = CliRunner().invoke(main, ["preannotate", "--scheduler", address])
    assert result.exit_code == 1, result.output
    assert f"cannot reach the Dask scheduler {address}" in result.output
    assert "Traceback" not in result.output and time.monotonic() - began < 60
    assert stored(load_settings_from(settings_env)) == []
