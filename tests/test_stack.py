"""The local stack of `./scripts/up` / `./scripts/down`, run as a user runs it."""
import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests
import sqlalchemy

from workbench import stack
from workbench.db import dispose_engines
from workbench.errors import ConfigError
from workbench.settings import describe, load_settings


def test_down_never_stops_a_process_it_did_not_start(tmp_path):
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        stack.write_pid(tmp_path, "label-studio", stranger.pid)
        assert stack.stop(tmp_path, "label-studio", stack.LS_MARKER) is False
        assert stranger.poll() is None
        assert not stack.pid_file(tmp_path, "label-studio").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_ends_the_whole_process_group(tmp_path):
    child = stack.start_process([sys.executable, "-c", "import time; time.sleep(60)  # workbench serve"],
                                tmp_path / "log" / "x.log", {})
    stack.write_pid(tmp_path, "bridge", child.pid)
    deadline = time.monotonic() + 10  # until the child has exec'd its own command line
    while stack.read_pid(tmp_path, "bridge", stack.BRIDGE_MARKER) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.read_pid(tmp_path, "bridge", stack.BRIDGE_MARKER) == child.pid
    assert stack.stop(tmp_path, "bridge", stack.BRIDGE_MARKER) is True
    assert child.wait(timeout=10) is not None


def test_credentials_are_generated_once_and_private(tmp_path):
    first = stack.load_or_create_stack(tmp_path)
    assert stack.load_or_create_stack(tmp_path) == first
    assert oct((tmp_path / "stack.json").stat().st_mode & 0o777) == "0o600"
    assert len(first["label_studio"]["token"]) == 40 and first["bridge"]["api_token"]


def run_workbench(env, *args):
    return subprocess.run([sys.executable, "-m", "workbench", *args], env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.label_studio
def test_up_twice_duplicates_nothing_and_down_stops_what_it_started(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_VAR_DIR=str(tmp_path / "var"), WORKBENCH_EXPORTS_DIR=str(tmp_path / "exports"))
    try:
        first = run_workbench(env, "up")
        assert first.returncode == 0, first.stderr
        conf = json.loads((tmp_path / "var" / "stack.json").read_text())
        ls, bridge = conf["label_studio"], conf["bridge"]
        assert f"Label Studio: {ls['url']}/projects/" in first.stdout
        assert f"login: {ls['username']}  password: {ls['password']}" in first.stdout
        assert f"Bridge: {bridge['url']}" in first.stdout
        assert "5 new task(s)" in first.stdout
        project_id = int(re.search(r"/projects/(\d+)", first.stdout).group(1))
        tasks = requests.get(f"{ls['url']}/api/tasks", params={"project": project_id},
                             headers={"Authorization": f"Token {ls['token']}"}, timeout=30).json()
        assert tasks["total"] == 5
        assert requests.get(f"{bridge['url']}/api/status", timeout=10).status_code == 401
        status = requests.get(f"{bridge['url']}/api/status", timeout=10,
                              headers={"Authorization": f"Bearer {bridge['api_token']}"}).json()
        assert status["counts"]["tasks"] == 5 and status["label_studio"]["project_id"] == project_id

        second = run_workbench(env, "up")
        assert second.returncode == 0, second.stderr
        assert "Label Studio already running" in second.stdout and "the bridge already running" in second.stdout
        assert "0 new task(s), 5 present" in second.stdout
        assert json.loads(run_workbench(env, "status", "--json").stdout)["counts"]["tasks"] == 5
    finally:
        down = run_workbench(env, "down")
    assert down.returncode == 0
    assert "bridge: stopped" in down.stdout and "label-studio: stopped" in down.stdout
    assert not stack.is_healthy(ls["url"]) and not stack.is_healthy(bridge["url"])


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://host-only", "postgresql:///nohost", "not a url", ""])
def test_up_postgres_refuses_what_is_not_a_postgresql_database_url(url):
    with pytest.raises(ConfigError, match="--postgres must be a PostgreSQL URL with a database"):
        stack.postgres_databases(url)


def test_up_postgres_names_the_bridge_and_label_studio_databases():
    databases = stack.postgres_databases("postgresql://team:s3cret@db.local:6543/news")
    assert databases["bridge"] == "postgresql+psycopg://team:s3cret@db.local:6543/news"
    assert databases["label_studio"] == {"DJANGO_DB": "postgresql", "POSTGRE_NAME": "news_labelstudio",
                                         "POSTGRE_USER": "team", "POSTGRE_PASSWORD": "s3cret",
                                         "POSTGRE_HOST": "db.local", "POSTGRE_PORT": "6543"}


def test_a_sqlite_stack_is_not_switched_to_postgresql(tmp_path):
    conf = stack.load_or_create_stack(tmp_path)
    (tmp_path / "workbench.db").write_bytes(b"")
    with pytest.raises(ConfigError, match="already runs on SQLite"):
        stack.choose_database(conf, tmp_path, "postgresql://u@h/db")
    assert "database" not in json.loads((tmp_path / "stack.json").read_text())
    assert stack.choose_database(conf, tmp_path, None) is None


def test_a_postgresql_stack_remembers_its_database_and_masks_its_password(tmp_path):
    conf = stack.load_or_create_stack(tmp_path)
    chosen = stack.choose_database(conf, tmp_path, "postgresql://u:pw@h/db")
    again = stack.load_or_create_stack(tmp_path)
    assert stack.choose_database(again, tmp_path, None) == chosen
    assert stack.choose_database(again, tmp_path, "postgresql://u:pw@h/db") == chosen
    with pytest.raises(ConfigError, match="already runs on PostgreSQL at h/db"):
        stack.choose_database(again, tmp_path, "postgresql://u:pw@h/other")
    settings = load_settings({"WORKBENCH_VAR_DIR": str(tmp_path), "WORKBENCH_HOME": str(tmp_path)})
    assert settings.database_url == "postgresql+psycopg://u:pw@h/db"
    assert settings.sources["database_url"] == "var/stack.json"
    shown = {row["name"]: row["value"] for row in describe(settings)}["database_url"]
    assert shown == "postgresql+psycopg://u:********@h/db"


@pytest.mark.label_studio
def test_up_postgres_runs_label_studio_and_the_bridge_on_postgresql(tmp_path, postgres_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_VAR_DIR=str(tmp_path / "var"), WORKBENCH_EXPORTS_DIR=str(tmp_path / "exports"))
    server = postgres_url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
    try:
        first = run_workbench(env, "up", "--postgres", f"{server}/wbstack")
        assert first.returncode == 0, first.stderr
        assert "bridge in wbstack, Label Studio in wbstack_labelstudio (created wbstack, wbstack_labelstudio)" \
            in first.stdout
        assert "5 new task(s)" in first.stdout
        assert not (tmp_path / "var" / "workbench.db").exists()
        assert not (tmp_path / "var" / "label-studio" / "label_studio.sqlite3").exists()
        for database, table, expected in (("wbstack", "articles", 5), ("wbstack_labelstudio", "task", 5)):
            engine = sqlalchemy.create_engine(postgres_url.rsplit("/", 1)[0] + f"/{database}")
            with engine.connect() as conn:
                assert conn.scalar(sqlalchemy.text(f"SELECT count(*) FROM {table}")) == expected
            engine.dispose()
        # the CLI and a second `up` use the database the stack recorded, without --postgres
        assert json.loads(run_workbench(env, "status", "--json").stdout)["counts"]["tasks"] == 5
        second = run_workbench(env, "up")
        assert second.returncode == 0, second.stderr
        assert "0 new task(s), 5 present" in second.stdout
        refused = run_workbench(env, "up", "--postgres", f"{server}/another")
        assert refused.returncode != 0 and "already runs on PostgreSQL" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        down = run_workbench(env, "down")
        dispose_engines()
    assert down.returncode == 0
