"""The local stack behind `workbench up` / `workbench down`: a Label Studio server (SQLite, data
in var/label-studio, loopback only, no version check or error reporting) and the bridge (gunicorn
workers, see web/serve.py), each started in its own process group with its PID kept in var/pids/,
so `down` stops exactly what `up` started. Credentials are generated on the first run and kept in
var/stack.json. `up --postgres URL` runs both on PostgreSQL instead: the bridge in URL's database,
Label Studio in a second one beside it (`<database>_labelstudio`); the stack remembers the choice."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .errors import ConfigError, WorkbenchError

LABEL_STUDIO_ENV = {
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    "SSRF_PROTECTION_ENABLED": "false",
    "ML_BLOCK_LOCAL_IP": "false",
    "LATEST_VERSION_CHECK": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "COLLECT_ANALYTICS": "false",
}
HEALTH_TIMEOUT_SECONDS = 300


class StackError(WorkbenchError):
    code = "stack_error"
    status = 500


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return sock.getsockname()[1]
            except OSError:
                continue
    raise StackError("no free port on 127.0.0.1")


def new_stack(var_dir: Path) -> dict:
    return {
        "label_studio": {"port": free_port(8080), "username": "admin@workbench.local",
                         "password": secrets.token_urlsafe(12), "token": secrets.token_hex(20),
                         "data_dir": str(var_dir / "label-studio")},
        "bridge": {"port": free_port(5055), "api_token": secrets.token_urlsafe(24),
                   "webhook_secret": secrets.token_urlsafe(24)},
    }


def load_or_create_stack(var_dir: Path) -> dict:
    path = var_dir / "stack.json"
    if path.exists():
        stack = json.loads(path.read_text(encoding="utf-8"))
        if "webhook_secret" not in stack["bridge"]:  # written by an older version
            stack["bridge"]["webhook_secret"] = secrets.token_urlsafe(24)
            path.write_text(json.dumps(stack, indent=2) + "\n", encoding="utf-8")
        return stack
    var_dir.mkdir(parents=True, exist_ok=True)
    stack = new_stack(var_dir)
    stack["label_studio"]["url"] = f"http://127.0.0.1:{stack['label_studio']['port']}"
    stack["bridge"]["url"] = f"http://127.0.0.1:{stack['bridge']['port']}"
    path.touch(mode=0o600)
    path.write_text(json.dumps(stack, indent=2) + "\n", encoding="utf-8")
    return stack


def postgres_databases(url: str) -> dict:
    """{"bridge": SQLAlchemy URL, "label_studio": Django's POSTGRE_* settings} for `up --postgres URL`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    problem = "a PostgreSQL URL with a database, e.g. postgresql://user:password@host:5432/workbench"
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() != "postgresql" or not parsed.database or not parsed.host:
        raise ConfigError(f"--postgres must be {problem}, got {url!r}", errors={"--postgres": problem})
    parsed = parsed.set(drivername="postgresql+psycopg")  # the driver requirements.txt installs
    return {"bridge": parsed.render_as_string(hide_password=False),
            "label_studio": {"DJANGO_DB": "postgresql", "POSTGRE_NAME": f"{parsed.database}_labelstudio",
                             "POSTGRE_USER": parsed.username or "", "POSTGRE_PASSWORD": parsed.password or "",
                             "POSTGRE_HOST": parsed.host, "POSTGRE_PORT": str(parsed.port or 5432)}}


def create_missing_databases(databases: dict) -> list[str]:
    """Create the bridge's and Label Studio's databases where they do not exist yet; the names created."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    url = make_url(databases["bridge"])
    wanted = [url.database, databases["label_studio"]["POSTGRE_NAME"]]
    admin = sqlalchemy.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    created = []
    try:
        with admin.connect() as conn:
            for name in wanted:
                if conn.scalar(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
                    quoted = '"' + name.replace('"', '""') + '"'
                    conn.execute(sqlalchemy.text(f"CREATE DATABASE {quoted} ENCODING 'UTF8' TEMPLATE template0"))
                    created.append(name)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StackError(f"cannot prepare the PostgreSQL databases {', '.join(wanted)} on {url.host}: {reason}")
    finally:
        admin.dispose()
    return created


def choose_database(conf: dict, var_dir: Path, postgres_url: str | None) -> dict | None:
    """The stack's PostgreSQL databases (None: SQLite), recording a first choice in var/stack.json.
    A stack keeps the database it was created on: switching is refused, nothing is migrated."""
    recorded = conf.get("database")
    if postgres_url is None:
        return recorded
    databases = postgres_databases(postgres_url)
    if recorded and recorded != databases:
        raise ConfigError(f"this stack already runs on PostgreSQL at {recorded['bridge'].split('@')[-1]}; "
                          f"run `workbench up` without --postgres, or use another WORKBENCH_VAR_DIR",
                          errors={"--postgres": "the stack's database is another one"})
    sqlite_files = [var_dir / "workbench.db", Path(conf["label_studio"]["data_dir"]) / "label_studio.sqlite3"]
    if not recorded and any(p.exists() for p in sqlite_files):
        raise ConfigError(f"this stack already runs on SQLite ({', '.join(str(p) for p in sqlite_files if p.exists())}); "
                          f"`workbench down` and use another WORKBENCH_VAR_DIR for a PostgreSQL stack "
                          f"(nothing is moved between databases)", errors={"--postgres": "the stack runs on SQLite"})
    if not recorded:
        conf["database"] = databases
        (var_dir / "stack.json").write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")
    return databases


def label_studio_command(ls: dict) -> list[str]:
    binary = Path(sys.executable).with_name("label-studio")
    return [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(ls["port"]),
            "--data-dir", ls["data_dir"], "--username", ls["username"], "--password", ls["password"],
            "--user-token", ls["token"], "--log-level", "WARNING"]


def start_process(command: list[str], log_path: Path, env: dict) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env}, start_new_session=True)


def start_label_studio(ls: dict, log_path: Path, database: dict | None = None) -> subprocess.Popen:
    Path(ls["data_dir"]).mkdir(parents=True, exist_ok=True)
    env = {**LABEL_STUDIO_ENV, "LABEL_STUDIO_BASE_DATA_DIR": ls["data_dir"], **(database or {})}
    return start_process(label_studio_command(ls), log_path, env)


def is_healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).ok
    except requests.RequestException:
        return False


def wait_until_healthy(url: str, pid: int, log_path: Path, what: str, tick=None,
                       timeout: float = HEALTH_TIMEOUT_SECONDS) -> float:
    """Seconds it took for `url`/health to answer; StackError if the process dies or time runs out."""
    started = time.monotonic()
    while not is_healthy(url):
        elapsed = time.monotonic() - started
        if not pid_alive(pid):
            raise StackError(f"{what} exited while starting; last lines of {log_path}:\n{tail(log_path)}")
        if elapsed > timeout:
            raise StackError(f"{what} did not answer at {url}/health within {timeout:.0f} s; see {log_path}")
        if tick:
            tick(elapsed)
        time.sleep(1)
    return time.monotonic() - started


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie child still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def pid_file(var_dir: Path, name: str) -> Path:
    return var_dir / "pids" / f"{name}.pid"


def read_pid(var_dir: Path, name: str, marker: str) -> int | None:
    """The recorded PID if that process still runs and is the one we started (its command line has `marker`)."""
    path = pid_file(var_dir, name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    return pid if pid and pid_alive(pid) and marker in cmdline else None


def write_pid(var_dir: Path, name: str, pid: int) -> None:
    path = pid_file(var_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def stop(var_dir: Path, name: str, marker: str, timeout: float = 20) -> bool:
    """Stop the process group we started under `name`; False when nothing of ours was running."""
    pid = read_pid(var_dir, name, marker)
    pid_file(var_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def ensure_running(var_dir: Path, name: str, marker: str, url: str, start, what: str, echo) -> None:
    if read_pid(var_dir, name, marker) and is_healthy(url):
        echo(f"{what} already running at {url}")
        return
    if is_healthy(url):
        raise StackError(f"something else already answers at {url}; stop it or change the port in var/stack.json")
    log_path = var_dir / "log" / f"{name}.log"
    process = start(log_path)
    write_pid(var_dir, name, process.pid)
    echo(f"starting {what} (log: {log_path}) ...")
    seconds = wait_until_healthy(url, process.pid, log_path, what,
                                 tick=lambda s: echo(f"  still starting, {s:.0f} s") if int(s) % 15 == 14 else None)
    echo(f"{what} is up at {url} after {seconds:.0f} s")


LS_MARKER, BRIDGE_MARKER = "label-studio", "workbench serve"


def up(settings, echo, postgres_url: str | None = None) -> dict:
    """Start (or reuse) Label Studio and the bridge, then ingest, pre-annotate and push the sample corpus."""
    from . import workflow
    from .settings import load_settings

    conf = load_or_create_stack(settings.var_dir)
    ls, bridge = conf["label_studio"], conf["bridge"]
    databases = choose_database(conf, settings.var_dir, postgres_url)
    database_url = databases["bridge"] if databases else settings.database_url
    if databases:
        created = create_missing_databases(databases)
        echo(f"PostgreSQL: bridge in {databases['bridge'].rsplit('/', 1)[-1]}, Label Studio in "
             f"{databases['label_studio']['POSTGRE_NAME']}" + (f" (created {', '.join(created)})" if created else ""))
    ensure_running(settings.var_dir, "label-studio", LS_MARKER, ls["url"],
                   lambda log: start_label_studio(ls, log, databases and databases["label_studio"]),
                   "Label Studio", echo)
    bridge_cmd = [sys.executable, "-m", "workbench", "serve", "--port", str(bridge["port"])]
    bridge_env = {"WORKBENCH_API_TOKEN": bridge["api_token"], "WORKBENCH_WEBHOOK_SECRET": bridge["webhook_secret"],
                  "WORKBENCH_DATABASE_URL": database_url}
    ensure_running(settings.var_dir, "bridge", BRIDGE_MARKER, bridge["url"],
                   lambda log: start_process(bridge_cmd, log, bridge_env), "the bridge", echo)
    local = load_settings(label_studio_url=ls["url"], label_studio_token=ls["token"], api_token=bridge["api_token"],
                          bridge_url=bridge["url"], webhook_secret=bridge["webhook_secret"], database_url=database_url)
    report = workflow.ingest_paths(local, [local.tasks_dir / "corpus"])
    echo(f"ingested sample corpus: {len(report.new)} new, {len(report.revised)} revised, "
         f"{len(report.unchanged)} unchanged")
    pre = workflow.preannotate(local)
    echo(f"pre-annotated {len(pre.annotated)} article(s) with {pre.model_version}")
    pushed = workflow.push(local)
    echo(f"pushed to project {pushed.project_id}: {pushed.imported} new task(s), {pushed.already_present} present")
    return {"project_url": pushed.project_url, "username": ls["username"], "password": ls["password"],
            "bridge_url": bridge["url"], "api_token": bridge["api_token"]}


def down(settings) -> dict:
    return {"bridge": stop(settings.var_dir, "bridge", BRIDGE_MARKER),
            "label-studio": stop(settings.var_dir, "label-studio", LS_MARKER)}
