"""The local stack of `./scripts/up` / `./scripts/down`, run as a user runs it."""
import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests

from workbench import stack


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
