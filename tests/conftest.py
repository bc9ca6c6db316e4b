import dataclasses
import glob
import json
import os
import shutil
import tempfile
import signal
import subprocess
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy
from werkzeug.serving import make_server

from workbench import stack
from workbench.db import dispose_engines
from workbench.web import create_app
from workbench.settings import PROJECT_ROOT, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
API_TOKEN = "test-api-token"


def make_settings(tmp_path: Path, **overrides):
    env = {"WORKBENCH_HOME": str(PROJECT_ROOT), "WORKBENCH_VAR_DIR": str(tmp_path / "var"),
           "WORKBENCH_DATABASE_URL": f"sqlite:///{tmp_path / 'workbench.db'}",
           "WORKBENCH_EXPORTS_DIR": str(tmp_path / "exports"), "WORKBENCH_API_TOKEN": API_TOKEN}
    env.update({f"WORKBENCH_{k.upper()}": str(v) for k, v in overrides.items()})
    return load_settings(environ=env)


@pytest.fixture(autouse=True, scope="session")
def close_database_connections():
    yield
    dispose_engines()


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def settings_env(tmp_path, monkeypatch):
    """The same settings as environment variables, for CLI tests."""
    env = {"WORKBENCH_HOME": str(PROJECT_ROOT), "WORKBENCH_VAR_DIR": str(tmp_path / "var"),
           "WORKBENCH_DATABASE_URL": f"sqlite:///{tmp_path / 'workbench.db'}",
           "WORKBENCH_EXPORTS_DIR": str(tmp_path / "exports"), "WORKBENCH_API_TOKEN": API_TOKEN}
    for key in [k for k in os.environ if k.startswith("WORKBENCH_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@contextmanager
def served(app, port: int = 0):
    """The app behind werkzeug's real HTTP server (the one `workbench serve` runs), in a thread;
    yields its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="session")
def gold():
    return [json.loads(line) for line in (FIXTURES / "sample_gold.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """A real Label Studio server for the whole session: free port, temporary data dir."""
    data_dir = tmp_path_factory.mktemp("label-studio")
    ls = {"port": stack.free_port(), "username": "annotator@example.com", "password": "test-password-123",
          "token": uuid.uuid4().hex + "abcd1234", "data_dir": str(data_dir / "data")}
    ls["url"] = f"http://127.0.0.1:{ls['port']}"
    ls["log"] = data_dir / "label-studio.log"
    start_label_studio_server(ls)
    try:
        yield ls
    finally:
        stop_label_studio_server(ls, signal.SIGTERM)


def start_label_studio_server(ls: dict) -> None:
    """Start (or, after a kill, restart on the same data dir and port) the session's Label Studio."""
    ls["process"] = stack.start_label_studio(ls, ls["log"])
    stack.wait_until_healthy(ls["url"], ls["process"].pid, ls["log"], "Label Studio (test fixture)")


def stop_label_studio_server(ls: dict, sig=signal.SIGKILL) -> None:
    """Stop the session's Label Studio; SIGKILL is a crash, as the fault tests need."""
    process = ls.get("process")
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def ls_settings(tmp_path, label_studio):
    """Settings pointing at the real server, with a project title of this test's own."""
    return make_settings(tmp_path, label_studio_url=label_studio["url"], label_studio_token=label_studio["token"],
                         project_title=f"test {uuid.uuid4().hex[:12]}")


@pytest.fixture
def bridge(ls_settings):
    """The bridge served over real HTTP on a free port, so Label Studio can call it."""
    port = stack.free_port()
    settings = dataclasses.replace(ls_settings, bridge_url=f"http://127.0.0.1:{port}", webhook_secret="s3cret")
    app = create_app(settings)
    with served(app, port):
        yield settings, app
    app.extensions["workbench_pulls"].shutdown(wait=True)


class LabelStudioAnnotator:
    """Acts in Label Studio as a person would, over its REST API (deliberately not through the bridge)."""

    def __init__(self, ls: dict):
        self.url = ls["url"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {ls['token']}"

    def tasks(self, project_id: int) -> list[dict]:
        out, page = [], 1
        while True:
            r = self.session.get(f"{self.url}/api/tasks", params={"project": project_id, "page": page,
                                                                 "page_size": 100, "fields": "all"})
            if r.status_code == 404:
                return out
            r.raise_for_status()
            body = r.json()
            out += body["tasks"]
            if len(out) >= body.get("total", len(out)) or not body["tasks"]:
                return out
            page += 1

    def project(self, project_id: int) -> dict:
        r = self.session.get(f"{self.url}/api/projects/{project_id}")
        r.raise_for_status()
        return r.json()

    def annotate(self, task_id: int, result: list[dict], **extra) -> dict:
        r = self.session.post(f"{self.url}/api/tasks/{task_id}/annotations", json={"result": result, **extra})
        r.raise_for_status()
        return r.json()

    def update(self, annotation_id: int, **fields) -> dict:
        r = self.session.patch(f"{self.url}/api/annotations/{annotation_id}", json=fields)
        r.raise_for_status()
        return r.json()

    def delete(self, annotation_id: int) -> None:
        self.session.delete(f"{self.url}/api/annotations/{annotation_id}").raise_for_status()


@pytest.fixture
def annotator(label_studio):
    annotator = LabelStudioAnnotator(label_studio)
    yield annotator
    annotator.session.close()


def gold_result(example: dict, targets=(("أوكرانيا", "ukraine"), ("روسيا", "russia"))) -> list[dict]:
    """A gold example as the Label Studio result an annotator would submit."""
    result = [{"from_name": "entities", "to_name": "text", "type": "labels",
               "value": {"start": e["start"], "end": e["end"], "text": e["text"], "labels": [e["label"]]}}
              for e in example["entities"]]
    for target, key in targets:
        result.append({"from_name": f"stance_{key}", "to_name": "text", "type": "choices",
                       "value": {"choices": [example["stance"][target]]}})
    return result


@pytest.fixture
def sample_corpus(tmp_path):
    target = tmp_path / "corpus"
    shutil.copytree(PROJECT_ROOT / "tasks" / "corpus", target)
    return target


# --- PostgreSQL: a throwaway server from the machine's binaries (initdb/pg_ctl) -------------------

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
def pg_database_url(postgres_url):
    name = f"m{os.urandom(4).hex()}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # screenshots the browser tests keep
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1366,900"]  # a laptop screen


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by Selenium (Debian's chromium and chromium-driver)."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (./scripts/test installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
