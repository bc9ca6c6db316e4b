"""The bridge's state on PostgreSQL: a throwaway server started from the machine's PostgreSQL
binaries (initdb/pg_ctl), used through a postgresql+psycopg URL."""
import glob
import os
import shutil
import subprocess
import tempfile

import pytest
from conftest import make_settings
from test_label_studio import test_end_to_end_spans_and_stances_come_out_of_the_feed as end_to_end

from workbench import stack, workflow
from workbench.db import dispose_engines, session_scope
from workbench.models import Article


def postgres_binary(name):
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="session")
def postgres_url():
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed on this machine")
    root = tempfile.mkdtemp(prefix="wb-pg-")
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), stack.free_port()
    subprocess.run(as_user + [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(as_user + [pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "start", "-o",
                              f"-p {port} -k {root} -c listen_addresses=127.0.0.1"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        dispose_engines()
        subprocess.run(as_user + [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_settings(tmp_path, postgres_url, label_studio):
    import sqlalchemy
    database = f"t{os.urandom(4).hex()}"
    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {database}"))
    engine.dispose()
    return make_settings(tmp_path, database_url=postgres_url.rsplit("/", 1)[0] + f"/{database}",
                         label_studio_url=label_studio["url"], label_studio_token=label_studio["token"],
                         project_title=f"pg {database}")


@pytest.mark.label_studio
def test_whole_loop_on_postgresql(pg_settings, sample_corpus, annotator, gold):
    end_to_end(pg_settings, sample_corpus, annotator, gold)
    with session_scope(pg_settings) as session:
        article = session.get(Article, gold[0]["id"])
        assert article.current.text == gold[0]["text"]


def test_revisions_on_postgresql(pg_settings, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("نص أول", encoding="utf-8")
    workflow.ingest_paths(pg_settings, [path])
    path.write_text("نص ثان", encoding="utf-8")
    assert workflow.ingest_paths(pg_settings, [path]).revised == ["a"]
    assert workflow.status(pg_settings)["counts"]["revisions"] == 2
