"""Engine and sessions for the bridge's database (SQLite by default, PostgreSQL by URL)."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import ConfigError
from .models import Base


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
    _ENGINES.append(engine)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        Base.metadata.create_all(engine)
        add_missing_columns(engine)
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database at WORKBENCH_DATABASE_URL ({parsed.render_as_string()}): "
                          f"{exc.orig}", errors={"WORKBENCH_DATABASE_URL": "unreachable"})
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and processes that switch databases)."""
    for engine in _ENGINES:
        engine.dispose()
    _ENGINES.clear()
    engine_for.cache_clear()


_ENGINES: list[Engine] = []


def add_missing_columns(engine: Engine) -> list[str]:
    """Additive schema upgrades: columns a newer model has and an older database lacks are added
    (they must be nullable or have a server default). Nothing is ever dropped or changed."""
    inspector, added = inspect(engine), []
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    ddl = column.type.compile(engine.dialect)
                    default = f" DEFAULT {column.server_default.arg}" if column.server_default is not None else ""
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {ddl}{default}')
                    added.append(f"{table.name}.{column.name}")
    return added


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


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
