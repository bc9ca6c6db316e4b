"""One writer at a time: a lock row in the bridge's own database (so it works across processes and
machines, on SQLite and PostgreSQL alike) for each project's push and pull.

Taking the lock is an INSERT of a row whose primary key is the lock's name: the database lets one
process win. The holder refreshes the row's heartbeat while it runs. A lock whose holder died
(a crash, a kill -9) is taken over when its process is gone from this host, or when its heartbeat is
older than STALE_AFTER; the take-over is a compare-and-swap on the holder's token, so two processes
recovering the same stale lock cannot both win."""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .db import engine_for
from .errors import WorkbenchError
from .models import RunLock, utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=90)
HEARTBEAT_SECONDS = 15.0
NAME_MAX = 300


class RunInProgress(WorkbenchError):
    code = "run_in_progress"
    status = 409


@dataclass(frozen=True)
class Holder:
    token: str
    pid: int
    host: str


@dataclass(frozen=True)
class Acquired:
    name: str
    recovered_from: dict | None  # the dead holder whose lock was taken over, if any


def lock_name(kind: str, *scope: str) -> str:
    """`push:<Label Studio URL>:<project title>`; hashed when too long for the key column."""
    name = ":".join((kind, *scope))
    return name if len(name) <= NAME_MAX else f"{kind}:{hashlib.sha256(name.encode()).hexdigest()}"


@contextmanager
def run_lock(database_url: str, name: str, what: str, *, wait: float = 0.0, poll: float = 0.2):
    """Hold the lock `name` for the block, or raise RunInProgress naming the holder once `wait`
    seconds have passed. `what` says what runs ("push", "pull"), for the message others get."""
    engine = engine_for(database_url)
    holder = Holder(uuid.uuid4().hex, os.getpid(), socket.gethostname())
    deadline = time.monotonic() + wait
    while True:
        acquired, current = _try_acquire(engine, name, holder, what)
        if acquired is not None:
            break
        if time.monotonic() >= deadline:
            raise _busy(name, what, current)
        time.sleep(poll)
    if acquired.recovered_from:
        log.warning("took over the %s lock of pid %s on %s, which is gone", what,
                    acquired.recovered_from["pid"], acquired.recovered_from["host"])
    beat = _Heartbeat(engine, name, holder.token)
    beat.start()
    try:
        yield acquired
    finally:
        beat.stop()
        with engine.begin() as conn:
            conn.execute(delete(RunLock).where(RunLock.name == name, RunLock.token == holder.token))


def current_holder(database_url: str, name: str) -> dict | None:
    with engine_for(database_url).connect() as conn:
        row = conn.execute(select(RunLock).where(RunLock.name == name)).mappings().first()
    return dict(row) if row else None


def _try_acquire(engine: Engine, name: str, holder: Holder, what: str) -> tuple[Acquired | None, dict | None]:
    now = utcnow()
    values = {"name": name, "token": holder.token, "pid": holder.pid, "host": holder.host, "purpose": what,
              "acquired_at": now, "heartbeat_at": now}
    try:
        with engine.begin() as conn:
            conn.execute(insert(RunLock).values(**values))
        return Acquired(name, None), None
    except IntegrityError:
        pass
    with engine.connect() as conn:
        current = conn.execute(select(RunLock).where(RunLock.name == name)).mappings().first()
    if current is None:  # released between our insert and our read: try again at once
        return _try_acquire(engine, name, holder, what)
    current = dict(current)
    if not is_stale(current):
        return None, current
    with engine.begin() as conn:
        taken = conn.execute(update(RunLock).where(RunLock.name == name, RunLock.token == current["token"])
                             .values(**{k: v for k, v in values.items() if k != "name"})).rowcount
    return (Acquired(name, current), None) if taken == 1 else (None, current)


def is_stale(row: dict, now: datetime | None = None) -> bool:
    """The holder is gone: its process no longer exists on this host, or it stopped beating."""
    if row["host"] == socket.gethostname() and not pid_alive(row["pid"]):
        return True
    return (now or utcnow()) - _aware(row["heartbeat_at"]) > STALE_AFTER


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) holds nothing
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite returns naive times


def _busy(name: str, what: str, current: dict | None) -> RunInProgress:
    if current is None:
        return RunInProgress(f"another {what} holds the lock {name}", errors={"lock": name})
    since = _aware(current["acquired_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    return RunInProgress(
        f"another {current['purpose']} is running since {since}, pid {current['pid']} on {current['host']}; "
        f"wait for it to finish (a crashed run's lock is taken over after {int(STALE_AFTER.total_seconds())} s "
        "without a heartbeat, or at once when its process is gone from this host)",
        errors={"lock": name, "pid": current["pid"], "host": current["host"], "since": since})


class _Heartbeat:
    """Refreshes the lock row while its holder works; a failed beat is logged, not fatal."""

    def __init__(self, engine: Engine, name: str, token: str, every: float | None = None):
        self._engine, self._name, self._token = engine, name, token
        self._every = HEARTBEAT_SECONDS if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-heartbeat {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                with self._engine.begin() as conn:
                    kept = conn.execute(update(RunLock).where(RunLock.name == self._name,
                                                              RunLock.token == self._token)
                                        .values(heartbeat_at=utcnow())).rowcount
                if not kept:
                    log.error("lost the lock %s: another process took it over", self._name)
                    return
            except Exception:  # noqa: BLE001 - a busy database must not kill the run
                log.warning("could not refresh the lock %s", self._name, exc_info=True)
