"""The local stack behind `workbench up` / `workbench down`: a Label Studio server (SQLite, data
in var/label-studio, loopback only, no version check or error reporting) and the bridge, each
started in its own process group with its PID kept in var/pids/, so `down` stops exactly
what `up` started. Credentials are generated on the first run and kept in var/stack.json."""
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

from .errors import WorkbenchError

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


def start_label_studio(ls: dict, log_path: Path) -> subprocess.Popen:
    Path(ls["data_dir"]).mkdir(parents=True, exist_ok=True)
    env = {**LABEL_STUDIO_ENV, "LABEL_STUDIO_BASE_DATA_DIR": ls["data_dir"]}
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


def up(settings, echo) -> dict:
    """Start (or reuse) Label Studio and the bridge, then ingest, pre-annotate and push the sample corpus."""
    from . import workflow
    from .settings import load_settings

    conf = load_or_create_stack(settings.var_dir)
    ls, bridge = conf["label_studio"], conf["bridge"]
    ensure_running(settings.var_dir, "label-studio", LS_MARKER, ls["url"],
                   lambda log: start_label_studio(ls, log), "Label Studio", echo)
    bridge_cmd = [sys.executable, "-m", "workbench", "serve", "--port", str(bridge["port"])]
    ensure_running(settings.var_dir, "bridge", BRIDGE_MARKER, bridge["url"],
                   lambda log: start_process(bridge_cmd, log, {"WORKBENCH_API_TOKEN": bridge["api_token"],
                                                               "WORKBENCH_WEBHOOK_SECRET": bridge["webhook_secret"]}),
                   "the bridge", echo)
    local = load_settings(label_studio_url=ls["url"], label_studio_token=ls["token"], api_token=bridge["api_token"],
                          bridge_url=bridge["url"], webhook_secret=bridge["webhook_secret"])
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
