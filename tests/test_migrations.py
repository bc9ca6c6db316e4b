"""Schema migrations: a database the pre-Alembic workbench made (tests/fixtures/schema_v0_*.sql, the DDL its
create_all emitted, with a row in every table) upgrades to head on SQLite and PostgreSQL and keeps every row;
an empty one is created at head; two processes opening one database at once both succeed; a database newer
than the code is refused with a ConfigError; and the schema the revisions build is exactly models.py's."""
import hashlib
import multiprocessing
import shutil
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session
from conftest import FIXTURES

from workbench.cli import main as cli_main
from workbench.db import dispose_engines, engine_for
from workbench.errors import ConfigError
from workbench import migrations
from workbench.migrations import VERSION_TABLE, alembic_config, describe_difference, head_revisions, schema_differences
from workbench.migrations.__main__ import main as migrations_main
from workbench.models import Base, Release

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
PACKAGED_VERSIONS = migrations.VERSIONS
V0_TABLES = ["articles", "article_revisions", "preannotations", "ls_projects", "ls_tasks",
             "annotation_snapshots", "annotations", "pull_runs", "releases"]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def build_v0_schema(engine, dialect: str) -> None:
    ddl = (FIXTURES / f"schema_v0_{dialect}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(None, (s.strip() for s in body.split(";"))):
            conn.exec_driver_sql(statement)


def insert_v0_rows(engine) -> None:
    """One row in every table of the previous schema, inserted through that schema (reflected)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables

    def add(conn, table, **values):
        return conn.execute(t[table].insert().values(**values)).inserted_primary_key[0]

    with engine.begin() as conn:
        add(conn, "articles", id="a1", external_id="ext-1", title="عنوان الخبر", source="وكالة", published="2026-01-01",
            url="https://example.org/a1", created_at=WHEN)
        revision = add(conn, "article_revisions", article_id="a1", number=1, text="قال الوزير إن الاتفاق قريب",
                       text_sha256=sha("قال الوزير إن الاتفاق قريب"), origin="feed", created_at=WHEN)
        add(conn, "preannotations", revision_id=revision, model_version="crf-1",
            entities=[{"start": 4, "end": 10, "label": "PER", "text": "الوزير"}], stance={"الاتفاق": "favor"},
            score=0.75, created_at=WHEN)
        project = add(conn, "ls_projects", ls_url="http://127.0.0.1:8080", ls_project_id=7, title="أخبار",
                      config_sha256=sha("config"), created_at=WHEN)
        task = add(conn, "ls_tasks", project_id=project, revision_id=revision, ls_task_id=11, task_key="a1:1",
                   model_versions=["crf-1"], pushed_at=WHEN)
        snapshot = add(conn, "annotation_snapshots", task_id=task, ls_annotation_id=21,
                       raw={"id": 21, "result": []}, raw_sha256=sha("raw"), pulled_at=WHEN)
        add(conn, "annotations", snapshot_id=snapshot, task_id=task, ls_annotation_id=21, annotator="ann@example.org",
            entities=[{"start": 4, "end": 10, "label": "PER"}], stance={"الاتفاق": "favor"}, problems=[],
            was_cancelled=False, deleted=False, ground_truth=True, ls_updated_at="2026-01-02T03:04:05Z",
            review="ACCEPT", last_action="accepted")
        add(conn, "pull_runs", project_id=project, mode="full", started_at=WHEN, watermark="2026-01-02T03:04:05Z",
            tasks_seen=1, new_snapshots=1)
        add(conn, "releases", version="v0001", created_at=WHEN, examples=1, examples_sha256=sha("examples"),
            review_policy="accepted")


def all_rows(engine, tables=V0_TABLES) -> dict:
    meta = sa.MetaData()
    meta.reflect(engine, only=tables)
    with engine.connect() as conn:
        return {name: [dict(row._mapping) for row in conn.execute(sa.select(meta.tables[name]))] for name in tables}


def assert_schema_matches_models(engine) -> None:
    with engine.connect() as conn:
        differences = schema_differences(conn)
    assert not differences, (
        "the schema the migrations build differs from workbench/models.py:\n"
        + "\n".join(f"  {describe_difference(difference)}" for difference in differences)
        + '\nadd a revision: .venv/bin/python -m workbench.migrations revision "what changed" (then review it)')


def recorded_revisions(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def upgrade_previous_schema_with_rows(url: str, dialect: str) -> None:
    old = sa.create_engine(url)
    build_v0_schema(old, dialect)
    insert_v0_rows(old)
    before = all_rows(old)
    old.dispose()
    assert all(len(rows) == 1 for rows in before.values())

    engine = engine_for(url)
    assert all_rows(engine) == before
    assert recorded_revisions(engine) == list(head_revisions())
    assert_schema_matches_models(engine)
    with Session(engine) as session:  # and the workbench goes on writing to it
        session.add(Release(version="v0002", examples=2, examples_sha256=sha("2"), review_policy="accepted"))
        session.commit()
        assert [r.version for r in session.query(Release).order_by(Release.id)] == ["v0001", "v0002"]


def test_previous_schema_with_rows_upgrades_on_sqlite(tmp_path):
    upgrade_previous_schema_with_rows(f"sqlite:///{tmp_path / 'v0.db'}", "sqlite")


def test_previous_schema_with_rows_upgrades_on_postgresql(pg_database_url):
    upgrade_previous_schema_with_rows(pg_database_url, "postgresql")


def test_fresh_database_is_created_by_the_migrations_at_head(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert set(sa.inspect(engine).get_table_names()) == set(Base.metadata.tables) | {VERSION_TABLE}
    assert recorded_revisions(engine) == list(head_revisions())
    assert_schema_matches_models(engine)


def test_head_read_from_the_files_is_alembics_head():
    from alembic.script import ScriptDirectory
    assert head_revisions() == tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))
    assert len(head_revisions()) == 1


def test_opening_a_database_at_head_does_not_even_import_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine_for(url)
    probe = ("import sys; from workbench.db import engine_for; engine_for(sys.argv[1]); "
             "print(sorted(m for m in sys.modules if m.startswith('alembic')))")
    done = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _open_in_another_process(url, barrier, results):
    barrier.wait()
    try:
        engine_for(url)
        results.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(f"{type(exc).__name__}: {exc}")


def open_at_once_in_two_processes(url) -> list[str]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_open_in_another_process, args=(url, barrier, results)) for _ in range(2)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return outcomes


def test_two_processes_opening_a_fresh_sqlite_database_at_once_both_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    assert open_at_once_in_two_processes(url) == ["ok", "ok"]
    assert_one_complete_schema(engine_for(url), engine_for(f"sqlite:///{tmp_path / 'alone.db'}"))


def assert_one_complete_schema(engine, made_alone) -> None:
    assert recorded_revisions(engine) == list(head_revisions())
    tables = sa.inspect(made_alone).get_table_names()
    assert sorted(sa.inspect(engine).get_table_names()) == sorted(tables) and len(tables) > 1
    for table in tables:
        names = [[c["name"] for c in sa.inspect(e).get_columns(table)] for e in (engine, made_alone)]
        assert names[0] == names[1], table


def test_two_processes_opening_a_fresh_postgresql_database_at_once_both_succeed(pg_database_url, tmp_path):
    assert open_at_once_in_two_processes(pg_database_url) == ["ok", "ok"]
    assert_one_complete_schema(engine_for(pg_database_url), engine_for(f"sqlite:///{tmp_path / 'alone.db'}"))


def stamp_unknown_revision(url: str) -> None:
    engine_for(url)
    dispose_engines()
    raw = sa.create_engine(url)
    with raw.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00dfeed'"))
    raw.dispose()


def test_database_newer_than_the_code_is_a_config_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    stamp_unknown_revision(url)
    with pytest.raises(ConfigError) as caught:
        engine_for(url)
    assert "WORKBENCH_DATABASE_URL" in caught.value.message and "f00dfeed" in caught.value.message
    assert "Upgrade the workbench" in caught.value.message
    assert caught.value.errors == {"WORKBENCH_DATABASE_URL": "schema revision f00dfeed is newer than this workbench"}


def test_cli_on_a_database_newer_than_the_code_says_so_without_a_traceback(settings_env):
    stamp_unknown_revision(settings_env["WORKBENCH_DATABASE_URL"])
    result = CliRunner().invoke(cli_main, ["status"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "error: the database at WORKBENCH_DATABASE_URL" in result.stderr and "f00dfeed" in result.stderr


def test_check_entry_point_finds_models_and_revisions_in_step(capsys):
    code = migrations_main(["check"])
    out = capsys.readouterr()
    assert code == 0, f"models.py and the revisions differ:\n{out.out}{out.err}"
    assert migrations_main(["heads"]) == 0 and capsys.readouterr().out.split() == list(head_revisions())


@pytest.fixture
def scripts_copy(tmp_path, monkeypatch):
    """The migration scripts copied to tmp_path and used from there, so that a test can add revisions."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "SCRIPT_LOCATION", copy)
    monkeypatch.setattr(migrations, "VERSIONS", copy / "versions")
    migrations.head_revisions.cache_clear()
    yield copy
    migrations.head_revisions.cache_clear()


@pytest.fixture
def model_with_a_new_table():
    table = sa.Table("scratch_locks", Base.metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("holder", sa.String(64), nullable=False, index=True))
    yield table
    Base.metadata.remove(table)


def test_revision_entry_point_writes_the_next_numbered_revision_for_a_model_change(
        scripts_copy, model_with_a_new_table, tmp_path, capsys):
    before = head_revisions()
    assert migrations_main(["revision", "add scratch locks"]) == 0
    written = scripts_copy / "versions" / f"{int(before[0]) + 1:04d}_add_scratch_locks.py"
    assert f"wrote {written}" in capsys.readouterr().out
    source = written.read_text(encoding="utf-8")
    assert f"down_revision = {before[0]!r}" in source and "op.create_table('scratch_locks'" in source
    assert head_revisions() == (f"{int(before[0]) + 1:04d}",)
    engine = engine_for(f"sqlite:///{tmp_path / 'next.db'}")  # the new revision runs and matches the model
    assert "scratch_locks" in sa.inspect(engine).get_table_names()
    assert_schema_matches_models(engine)
    assert migrations_main(["check"]) == 0


def test_revision_entry_point_refuses_an_empty_autogenerated_revision(scripts_copy, capsys):
    if migrations_main(["check"]) != 0:
        pytest.skip("models.py has changes no revision makes: test_check_entry_point... lists them")
    capsys.readouterr()
    assert migrations_main(["revision", "nothing changed"]) == 1
    assert "nothing to generate" in capsys.readouterr().err
    assert sorted(p.name for p in (scripts_copy / "versions").glob("*.py")) == sorted(
        p.name for p in PACKAGED_VERSIONS.glob("*.py"))
