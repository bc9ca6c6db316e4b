"""The jobs table (workbench/jobs.py): webhook pulls queued in the database, coalesced, claimed by
exactly one worker, taken over when a worker's lease expires, recorded when they fail; and the bridge
under gunicorn (`workbench serve --workers 2`) losing and doubling nothing when events arrive at once.
Real pulls against Label Studio after a webhook are in test_bridge_labelstudio.py."""
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update
from conftest import API_TOKEN, make_settings

from workbench import jobs, stack
from workbench.db import engine_for
from workbench.models import Job, utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def any_settings(request, tmp_path):
    if request.param == "sqlite":
        return make_settings(tmp_path)
    return make_settings(tmp_path, database_url=request.getfixturevalue("pg_database_url"))


def all_jobs(settings):
    return sorted(jobs.list_jobs(settings.database_url, limit=10000), key=lambda job: job["id"])


def test_a_second_event_merges_into_the_queued_pull(settings):
    first = jobs.enqueue_pull(settings, [4, 2], [])
    second = jobs.enqueue_pull(settings, [2, 9], [7])
    assert first == second
    [job] = all_jobs(settings)
    assert job["status"] == "queued" and job["payload"] == {"task_ids": [2, 4, 9], "annotation_ids": [7]}
    assert job["revision"] == 1


def test_while_a_pull_runs_one_more_waits(settings):
    running = jobs.claim(settings.database_url)
    assert running is None  # nothing queued yet
    first = jobs.enqueue_pull(settings, [1], [])
    claimed = jobs.claim(settings.database_url, worker="w1")
    assert claimed["id"] == first and claimed["payload"]["task_ids"] == [1]
    waiting = jobs.enqueue_pull(settings, [2], [])
    assert jobs.enqueue_pull(settings, [3], []) == waiting != first
    statuses = {job["id"]: (job["status"], job["payload"]["task_ids"]) for job in all_jobs(settings)}
    assert statuses == {first: ("running", [1]), waiting: ("queued", [2, 3])}


def test_racing_enqueuers_lose_no_task_id(any_settings):
    ids = list(range(1, 25))
    barrier = threading.Barrier(8)

    def send(chunk):
        barrier.wait()
        for task_id in chunk:
            jobs.enqueue_pull(any_settings, [task_id], [])

    threads = [threading.Thread(target=send, args=(ids[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [job] = all_jobs(any_settings)  # nobody claimed: everything coalesced into one queued job
    assert job["payload"]["task_ids"] == ids


def test_racing_claimers_run_each_job_once(any_settings):
    for task_id in (1, 2, 3):  # one queued job; claim it, queue the next, so three jobs exist
        jobs.enqueue_pull(any_settings, [task_id], [])
        if task_id < 3:
            jobs.claim(any_settings.database_url, worker="earlier")
    engine = engine_for(any_settings.database_url)
    with engine.begin() as conn:  # the two earlier ones back to queued, as if never claimed
        conn.execute(update(Job).where(Job.status == "running").values(status="queued", token=None))
    won, barrier = [], threading.Barrier(6)

    def claimer(name):
        barrier.wait()
        while (job := jobs.claim(any_settings.database_url, worker=name)) is not None:
            won.append(job["id"])

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [job["id"] for job in all_jobs(any_settings)] and len(won) == 3


def test_an_expired_lease_is_taken_over_and_the_old_claimer_cannot_finish(settings):
    jobs.enqueue_pull(settings, [5], [])
    old = jobs.claim(settings.database_url, worker="died")
    assert jobs.claim(settings.database_url) is None  # its lease is fresh
    assert jobs.heartbeat(settings.database_url, old)
    with engine_for(settings.database_url).begin() as conn:
        conn.execute(update(Job).values(heartbeat_at=utcnow() - jobs.LEASE - timedelta(seconds=1)))
    new = jobs.claim(settings.database_url, worker="alive")
    assert new["id"] == old["id"] and new["token"] != old["token"] and new["attempts"] == 2
    assert not jobs.finish(settings.database_url, old, result={"late": True})
    assert not jobs.heartbeat(settings.database_url, old)
    assert jobs.finish(settings.database_url, new, result={"ok": 1})
    [job] = all_jobs(settings)
    assert (job["status"], job["worker"], job["result"]) == ("done", "alive", {"ok": 1})


def test_a_failing_job_is_recorded_and_the_next_one_still_runs(settings, monkeypatch):
    ran = []

    def execute(_settings, job):
        ran.append(job["payload"]["task_ids"])
        if job["payload"]["task_ids"] == [1]:
            raise RuntimeError("Label Studio went away")
        return {"pulled": job["payload"]["task_ids"]}

    monkeypatch.setattr(jobs, "execute", execute)
    jobs.enqueue_pull(settings, [1], [])
    jobs.claim(settings.database_url)  # running: the next event queues a second job
    with engine_for(settings.database_url).begin() as conn:
        conn.execute(update(Job).values(status="queued", token=None))
    jobs.enqueue_pull(settings, [2], [])
    assert jobs.run_pending(settings) == 2
    assert ran == [[1], [2]]
    failed, done = all_jobs(settings)
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: Label Studio went away"
    assert done["status"] == "done" and done["result"] == {"pulled": [2]} and done["finished_at"] is not None
    assert jobs.run_pending(settings) == 0  # a failed job is not retried in a loop


def test_an_unknown_kind_fails_its_job_with_a_message(settings):
    with engine_for(settings.database_url).begin() as conn:
        conn.execute(Job.__table__.insert().values(kind="frobnicate", payload={}, status="queued", attempts=0,
                                                   revision=0, created_at=utcnow()))
    assert jobs.run_pending(settings) == 1
    [job] = all_jobs(settings)
    assert job["status"] == "failed" and "unknown job kind 'frobnicate'" in job["error"]


def test_the_worker_thread_runs_what_is_queued(settings, monkeypatch):
    done = threading.Event()
    monkeypatch.setattr(jobs, "execute", lambda _s, job: done.set() or {"ok": True})
    worker = jobs.Worker(settings, poll=0.05).start()
    try:
        jobs.enqueue_pull(settings, [8], [])
        assert done.wait(10)
    finally:
        worker.stop(timeout=10)
    assert not worker.thread.is_alive()
    deadline = time.monotonic() + 10
    while all_jobs(settings)[0]["status"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all_jobs(settings)[0]["status"] == "done"


def test_a_queued_job_outlives_the_process_that_queued_it(settings, tmp_path):
    job_id = jobs.enqueue_pull(settings, [3, 1], [])
    script = ("import json, workbench.jobs as j; from workbench.settings import load_settings\n"
              "j.execute = lambda s, job: {'pid': __import__('os').getpid(), **job['payload']}\n"
              "print(j.run_pending(load_settings()))\n")
    env = {**os.environ, "WORKBENCH_DATABASE_URL": settings.database_url, "WORKBENCH_VAR_DIR": str(tmp_path / "var")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    [job] = all_jobs(settings)
    assert job["id"] == job_id and job["status"] == "done"
    assert job["result"]["task_ids"] == [1, 3] and job["result"]["pid"] != os.getpid()


def test_jobs_cli_lists_and_runs(settings_env, tmp_path):
    from click.testing import CliRunner
    from workbench.cli import main
    runner = CliRunner()
    settings = make_settings(tmp_path)
    assert runner.invoke(main, ["jobs", "list"]).output == ""
    jobs.enqueue_pull(settings, [6], [])
    listed = runner.invoke(main, ["jobs", "list", "--json"])
    assert listed.exit_code == 0 and '"status": "queued"' in listed.output
    ran = runner.invoke(main, ["jobs", "run"])  # no Label Studio configured: the pull fails, recorded
    assert ran.exit_code == 0 and ran.output.strip() == "ran 1 job(s)"
    [job] = all_jobs(settings)
    assert job["status"] == "failed" and job["error"]
    assert "failed" in runner.invoke(main, ["jobs", "list"]).output


def test_gunicorn_workers_lose_and_double_no_webhook_pull(tmp_path):
    """`workbench serve --workers 2` (gunicorn): 40 events at once from 8 threads. Label Studio is not
    reachable, so every pull fails; each still ran exactly once and every task id is in a job."""
    port = stack.free_port()
    env = {**os.environ, "WORKBENCH_DATABASE_URL": f"sqlite:///{tmp_path / 'workbench.db'}",
           "WORKBENCH_VAR_DIR": str(tmp_path / "var"), "WORKBENCH_EXPORTS_DIR": str(tmp_path / "exports"),
           "WORKBENCH_API_TOKEN": API_TOKEN, "WORKBENCH_WEBHOOK_SECRET": "s3cret",
           "WORKBENCH_LABEL_STUDIO_URL": f"http://127.0.0.1:{stack.free_port()}",
           "WORKBENCH_LABEL_STUDIO_TOKEN": "nobody"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--workers", "2", "--port", str(port)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until_healthy(url, server.pid, log, "the bridge (gunicorn)", timeout=60)
        ids, barrier = list(range(1, 41)), threading.Barrier(8)
        answers = []

        def send(chunk):
            barrier.wait()
            for task_id in chunk:
                answers.append(requests.post(f"{url}/webhooks/label-studio", timeout=10,
                                             headers={"X-Workbench-Webhook-Secret": "s3cret"},
                                             json={"action": "ANNOTATION_CREATED", "task": {"id": task_id},
                                                   "annotation": {"id": 1000 + task_id, "task": task_id}}))

        threads = [threading.Thread(target=send, args=(ids[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r.status_code for r in answers] == [202] * 40
        settings = make_settings(tmp_path)
        deadline = time.monotonic() + 90
        while any(job["status"] in ("queued", "running") for job in all_jobs(settings)):
            assert time.monotonic() < deadline, all_jobs(settings)
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)
    found = all_jobs(settings)
    seen = [task_id for job in found for task_id in job["payload"]["task_ids"]]
    assert sorted(seen) == ids  # every id queued, none in two jobs
    assert all(job["status"] == "failed" and job["attempts"] == 1 for job in found)
    assert "Booting worker" in log.read_text()
