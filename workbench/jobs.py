"""Background jobs in the bridge's own database (table `jobs`), so several bridge processes, a
`workbench jobs run` worker and a restart share one queue and never lose or double a queued pull.

Enqueueing coalesces: a queued job holds its `queue_key` (unique), so a second webhook merges its
task ids into the queued job instead of adding one; at most one job per key runs and one waits.
Claiming is a compare-and-swap (UPDATE ... WHERE id = :id AND status/token still what we read;
rowcount 1 wins), the same on SQLite and PostgreSQL. The claimer refreshes `heartbeat_at` while it
runs; a running job whose heartbeat is older than LEASE is taken over by the next claimer."""
from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from datetime import timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .db import engine_for
from .models import Job, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=90)
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 1.0
PULL = "pull"
WEBHOOK_PULL_WAIT_SECONDS = 600.0


def enqueue_pull(settings, task_ids: list[int], annotation_ids: list[int]) -> int:
    """Queue a pull of these tasks/annotations, merged into the queued pull if there is one; its id."""
    from .workflow import project_lock
    engine = engine_for(settings.database_url)
    key = project_lock(settings, PULL)
    for _ in range(20):  # the queued job may be claimed between our insert and our merge: retry
        with engine.begin() as conn:  # FOR UPDATE serialises mergers on PostgreSQL
            row = conn.execute(select(Job.id, Job.payload, Job.revision).where(Job.queue_key == key)
                               .with_for_update()).first()
            if row is not None:
                merged = {"task_ids": sorted(set(row.payload.get("task_ids", [])) | set(task_ids)),
                          "annotation_ids": sorted(set(row.payload.get("annotation_ids", [])) | set(annotation_ids))}
                # still queued and nobody merged since we read it (SQLite has no FOR UPDATE)
                if conn.execute(update(Job).where(Job.id == row.id, Job.queue_key == key, Job.revision == row.revision)
                                .values(payload=merged, revision=row.revision + 1)).rowcount == 1:
                    return row.id
        if row is not None:
            continue
        try:
            with engine.begin() as conn:
                return conn.execute(insert(Job).values(
                    kind=PULL, queue_key=key, status="queued", attempts=0, revision=0, created_at=utcnow(),
                    payload={"task_ids": sorted(set(task_ids)), "annotation_ids": sorted(set(annotation_ids))})
                ).inserted_primary_key[0]
        except IntegrityError:
            continue
    raise RuntimeError(f"could not queue a pull job for {key}")


def claim(database_url: str, worker: str | None = None) -> dict | None:
    """Take the oldest queued job, or a running one whose lease expired; None when there is none."""
    engine = engine_for(database_url)
    worker = worker or f"pid {os.getpid()} on {socket.gethostname()}"
    for _ in range(20):
        now = utcnow()
        claimable = or_(Job.status == "queued", and_(Job.status == "running", Job.heartbeat_at < now - LEASE))
        with engine.begin() as conn:
            row = conn.execute(select(Job).where(claimable).order_by(Job.id).limit(1)).mappings().first()
        if row is None:
            return None
        token = uuid.uuid4().hex
        same = Job.token.is_(None) if row["token"] is None else Job.token == row["token"]
        with engine.begin() as conn:
            won = conn.execute(update(Job).where(Job.id == row["id"], Job.status == row["status"], same, claimable)
                               .values(status="running", token=token, worker=worker, queue_key=None,
                                       attempts=row["attempts"] + 1, claimed_at=now, heartbeat_at=now)).rowcount
        if won == 1:
            if row["status"] == "running":
                log.warning("took over job %s from %s, whose lease expired", row["id"], row["worker"])
            return {**dict(row), "token": token, "status": "running", "worker": worker, "queue_key": None,
                    "attempts": row["attempts"] + 1, "claimed_at": now, "heartbeat_at": now}
    return None


def finish(database_url: str, job: dict, result: dict | None = None, error: str | None = None) -> bool:
    """Mark the job done (or failed with `error`), if we still hold it."""
    with engine_for(database_url).begin() as conn:
        return conn.execute(update(Job).where(Job.id == job["id"], Job.token == job["token"]).values(
            status="failed" if error is not None else "done", error=error, result=result,
            finished_at=utcnow())).rowcount == 1


def heartbeat(database_url: str, job: dict) -> bool:
    with engine_for(database_url).begin() as conn:
        return conn.execute(update(Job).where(Job.id == job["id"], Job.token == job["token"])
                            .values(heartbeat_at=utcnow())).rowcount == 1


def run_job(settings, job: dict) -> None:
    """Run a claimed job, beating its lease; failures are recorded on the job, not raised."""
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                heartbeat(settings.database_url, job)
            except Exception:  # noqa: BLE001 - a busy database must not kill the job
                log.warning("could not refresh job %s", job["id"], exc_info=True)

    beater = threading.Thread(target=beat, name=f"job-heartbeat {job['id']}", daemon=True)
    beater.start()
    try:
        result = execute(settings, job)
    except Exception as exc:  # noqa: BLE001 - recorded on the job; the next job must still run
        log.error("job %s (%s) failed: %s", job["id"], job["kind"], "".join(traceback.format_exception(exc)))
        finish(settings.database_url, job, error=f"{type(exc).__name__}: {exc}")
    else:
        finish(settings.database_url, job, result=result)
    finally:
        stop.set()
        beater.join()


def execute(settings, job: dict) -> dict:
    if job["kind"] != PULL:
        raise ValueError(f"unknown job kind {job['kind']!r}")
    from . import workflow
    payload = job["payload"]
    return workflow.pull(settings, task_ids=payload.get("task_ids") or [],
                         annotation_ids=payload.get("annotation_ids") or [], wait=WEBHOOK_PULL_WAIT_SECONDS)


def run_pending(settings, limit: int | None = None) -> int:
    """Claim and run jobs until none is left (or `limit` ran); how many ran."""
    count = 0
    while limit is None or count < limit:
        job = claim(settings.database_url)
        if job is None:
            break
        run_job(settings, job)
        count += 1
    return count


class Worker:
    """A daemon thread polling the table and running what it claims (one per bridge process)."""

    def __init__(self, settings, poll: float = POLL_SECONDS):
        self._settings, self._poll = settings, poll
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="workbench-jobs", daemon=True)

    def start(self) -> "Worker":
        self.thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_pending(self._settings, limit=1)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
                log.warning("job worker could not poll the jobs table", exc_info=True)
                ran = 0
            if not ran:
                self._stop.wait(self._poll)


def list_jobs(database_url: str, limit: int = 50) -> list[dict]:
    with engine_for(database_url).connect() as conn:
        rows = conn.execute(select(Job).order_by(Job.id.desc()).limit(limit)).mappings().all()
    return [dict(row) for row in rows]
