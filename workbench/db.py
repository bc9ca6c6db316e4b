"""Engine and sessions for the bridge's database (SQLite by default, PostgreSQL by URL).

Opening a database brings its schema to the newest migration (workbench/migrations)."""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import ConfigError
from .migrations import upgrade_to_head


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"WORKBENCH_DATABASE_URL is not a valid SQLAlchemy URL: {exc}",
                          errors={"WORKBENCH_DATABASE_URL": "invalid"})
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        upgrade_to_head(engine)
    except OperationalError as exc:
        engine.dispose()
        raise ConfigError(f"cannot open the database at WORKBENCH_DATABASE_URL ({parsed.render_as_string()}): "
                          f"{exc.orig}", errors={"WORKBENCH_DATABASE_URL": "unreachable"})
    except BaseException:
        engine.dispose()
        raise
    _ENGINES.append(engine)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and processes that switch databases)."""
    for engine in _ENGINES:
        engine.dispose()
    _ENGINES.clear()
    engine_for.cache_clear()


_ENGINES: list[Engine] = []


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    _use_wal(cur)
    cur.close()


def _use_wal(cur, wait_seconds: float = 10.0) -> None:
    """Switch to WAL mode. While another process is switching a new database, SQLite answers "database is
    locked" at once (the busy timeout does not apply): try again until it has finished."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def session_scope(settings):
    """A session that commits on success and rolls back on any error."""
    session: Session = sessionmaker(engine_for(settings.database_url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
