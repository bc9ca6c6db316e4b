"""A release killed at any step leaves nothing that disagrees for long: the next release (or
`workbench status`) records a folder whose row was never committed, reports a row whose folder
is gone, and removes temporary folders nobody writes any more (issue 11, point 6)."""
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from test_releases import decision, distinct

from workbench import feed, releases, workflow
from workbench.db import session_scope
from workbench.models import Release


@pytest.fixture
def releasable(settings, monkeypatch):
    """workflow.release without Label Studio: the project and its reviewed decisions are given
    (what is tested here is the release's bookkeeping, not the review)."""
    decisions = [decision("a"), distinct("b")]
    monkeypatch.setattr(workflow, "current_project",
                        lambda session, s: SimpleNamespace(ls_url="http://ls.invalid", ls_project_id=1))
    monkeypatch.setattr(workflow.review, "review_project", lambda session, project, s, targets: decisions)
    monkeypatch.setattr(workflow, "_agreement_tasks", lambda session, project: [])
    return settings


def rows(settings) -> dict[str, str]:
    with session_scope(settings) as session:
        return {r.version: r.examples_sha256 for r in session.scalars(select(Release))}


def manifest(settings, version) -> dict:
    return json.loads((settings.exports_dir / version / "manifest.json").read_text())


def temp_folders(settings) -> list[str]:
    return sorted(p.name for p in settings.exports_dir.glob(releases.TMP_PREFIX + "*"))


def crash(*_args, **_kwargs):
    raise KeyboardInterrupt("killed")


def assert_next_release_repairs(settings, expected_before: list[str]):
    version, new = workflow.release(settings)
    versions = [*expected_before, version]
    assert version == f"v{len(versions):04d}" and new["parent"] == (expected_before[-1] if expected_before else None)
    assert rows(settings) == {v: manifest(settings, v)["files"]["examples.jsonl"]["sha256"] for v in versions}
    assert releases.existing_versions(settings.exports_dir) == versions and temp_folders(settings) == []


def test_a_crash_while_the_files_are_written_leaves_nothing(releasable, monkeypatch):
    monkeypatch.setattr(releases, "_group_counts", crash)  # after the data files, before the manifest
    with pytest.raises(KeyboardInterrupt):
        workflow.release(releasable)
    assert releases.existing_versions(releasable.exports_dir) == [] and temp_folders(releasable) == []
    monkeypatch.undo()
    assert rows(releasable) == {}


def test_a_crash_between_the_rename_and_the_row_is_recorded_by_the_next_release(releasable, monkeypatch):
    real = releases._move_into_place

    def rename_then_die(tmp, folder):
        real(tmp, folder)
        raise KeyboardInterrupt("killed after the rename")
    monkeypatch.setattr(releases, "_move_into_place", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        workflow.release(releasable)
    monkeypatch.setattr(releases, "_move_into_place", real)
    assert releases.existing_versions(releasable.exports_dir) == ["v0001"] and rows(releasable) == {}
    assert_next_release_repairs(releasable, ["v0001"])


def test_a_crash_between_the_row_and_the_commit_is_recorded_by_the_next_release(releasable, monkeypatch):
    real = releases.write_release

    def write_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt("killed before the commit")
    monkeypatch.setattr(workflow.releases, "write_release", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        workflow.release(releasable)
    monkeypatch.setattr(workflow.releases, "write_release", real)
    assert releases.existing_versions(releasable.exports_dir) == ["v0001"] and rows(releasable) == {}
    assert_next_release_repairs(releasable, ["v0001"])


def test_a_crash_after_the_commit_needs_no_repair(releasable):
    workflow.release(releasable)
    assert_next_release_repairs(releasable, ["v0001"])


KILLED_WRITER = """
import os, sys
from pathlib import Path
from workbench import releases
step = sys.argv[2]
if step == "writing":
    releases.ReleaseWriter.close = lambda self: os._exit(9)
else:
    releases._move_into_place = lambda tmp, folder: os._exit(9)
items = lambda: iter([({"id": "a", "text": "نص قصير", "entities": [], "stance": {}, "split": None}, {})])
releases.write_version(Path(sys.argv[1]), items, {})
"""


def kill_a_release(settings, step: str) -> str:
    settings.exports_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(settings.exports_dir), step],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    [left] = temp_folders(settings)
    return left


def test_a_killed_release_leaves_a_temporary_folder_the_next_release_removes(releasable):
    left = kill_a_release(releasable, "writing")
    assert (releasable.exports_dir / left / releases.WRITER_LOCK).exists()  # its writer is dead: not held
    assert_next_release_repairs(releasable, [])


def test_a_release_killed_just_before_its_rename_is_removed_once_stale(releasable):
    left = kill_a_release(releasable, "rename")
    folder = releasable.exports_dir / left
    assert not (folder / releases.WRITER_LOCK).exists() and (folder / "manifest.json").exists()
    assert releases.clean_stale_temp(releasable.exports_dir) == []  # lockless and recent: perhaps renaming now
    old = time.time() - releases.STALE_AFTER - 60
    os.utime(folder, (old, old))
    assert releases.clean_stale_temp(releasable.exports_dir) == [left]
    assert_next_release_repairs(releasable, [])


def test_a_temporary_folder_held_by_a_live_writer_is_kept(settings):
    settings.exports_dir.mkdir(parents=True)
    live = settings.exports_dir / (releases.TMP_PREFIX + "live")
    live.mkdir()
    fd = os.open(live / releases.WRITER_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    old = time.time() - releases.STALE_AFTER - 60
    os.utime(live, (old, old))
    try:
        releases.write_version(settings.exports_dir, lambda: iter([(
            {"id": "a", "text": "نص", "entities": [], "stance": {}, "split": None}, {})]), {})
        assert temp_folders(settings) == [live.name]
    finally:
        os.close(fd)
    assert releases.clean_stale_temp(settings.exports_dir) == [live.name]


def test_status_reports_a_row_whose_folder_is_gone_and_keeps_the_row(releasable):
    workflow.release(releasable)
    workflow.release(releasable)
    (releasable.exports_dir / "v0002").rename(releasable.exports_dir.parent / "moved-away")
    state = workflow.status(releasable)
    assert state["release_records"]["missing_folders"] == ["v0002"]
    assert state["latest_release"] == "v0001" and state["counts"]["releases"] == 2
    assert set(rows(releasable)) == {"v0001", "v0002"}


def test_status_records_a_folder_without_a_row_unless_a_release_is_running(releasable, monkeypatch):
    real = releases.write_release
    monkeypatch.setattr(workflow.releases, "write_release",
                        lambda *a, **k: (real(*a, **k), crash())[0])
    with pytest.raises(KeyboardInterrupt):
        workflow.release(releasable)
    with releases.release_lock(releasable.exports_dir):
        held = workflow.status(releasable)
    assert held["release_records"]["unrecorded"] == ["v0001"] and rows(releasable) == {}
    state = workflow.status(releasable)
    assert state["release_records"]["recorded"] == ["v0001"] and state["counts"]["releases"] == 1
    assert set(rows(releasable)) == {"v0001"}


def test_a_changed_manifest_is_reported_against_its_row(releasable):
    workflow.release(releasable)
    path = releasable.exports_dir / "v0001" / "manifest.json"
    data = json.loads(path.read_text())
    data["files"]["examples.jsonl"]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    state = workflow.status(releasable)
    assert state["release_records"]["mismatched"] == ["v0001"] and set(rows(releasable)) == {"v0001"}
    assert state["broken_releases"] == {}  # status checks sizes, not hashes; the feed does both:
    assert "v0001/examples.jsonl was changed" in feed.version_problem(releasable.exports_dir, "v0001")


def test_status_lists_a_version_with_a_missing_file_as_broken(releasable):
    workflow.release(releasable)
    workflow.release(releasable)
    (releasable.exports_dir / "v0002" / "examples.conll").unlink()
    state = workflow.status(releasable)
    assert state["broken_releases"] == {"v0002": "v0002/examples.conll is missing"}
    assert state["latest_release"] == "v0001"


def test_two_releases_at_once_both_succeed(releasable):
    results, errors = [], []

    def run():
        try:
            results.append(workflow.release(releasable)[0])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and sorted(results) == ["v0001", "v0002"]
    assert set(rows(releasable)) == {"v0001", "v0002"} and temp_folders(releasable) == []
    assert manifest(releasable, "v0002")["parent"] == "v0001"
