"""The feed serves only what was released: tampered, missing and symlinked files are refused,
broken versions are listed as broken without breaking the list, and files stream in constant
memory (issue 11, points 3 and 4)."""
import hashlib
import json
import os
import shutil
import threading
import tracemalloc

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from conftest import API_TOKEN, make_settings, served
from test_releases import decision, distinct, release

from workbench import feed, releases
from workbench.cli import main
from workbench.errors import IntegrityError, WorkbenchError


@pytest.fixture
def two_versions(settings):
    """v0001: a, b, c; v0002: a changed, c, d."""
    release(settings, [decision("a"), distinct("b"), distinct("c")])
    release(settings, [decision("a", stance={"روسيا": "AGAINST", "أوكرانيا": "FAVOR"}), distinct("c"), distinct("d")])
    return settings


def flip_byte(path, at=None):
    """Change one byte, same size; returns the original bytes."""
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 2 if at is None else at] ^= 1
    path.write_bytes(bytes(data))
    return original


def error_of(response, status):
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"}
    return body


def test_a_tampered_examples_file_is_refused_everywhere_until_restored(client, auth, two_versions):
    exports = two_versions.exports_dir
    path = exports / "v0001" / "examples.jsonl"
    good = client.get("/api/releases/v0001/examples", headers=auth)
    assert good.status_code == 200
    etag = good.headers["ETag"]
    original = flip_byte(path)

    for url in ("/api/releases/v0001/examples", "/api/releases/v0001/examples?split=train",
                "/api/releases/v0001/files/examples.jsonl", "/api/releases/v0001/files/manifest.json",
                "/api/releases/v0001", "/api/releases/v0002/examples?since=v0001"):
        body = error_of(client.get(url, headers=auth), 409)
        assert body["code"] == "integrity_error" and "v0001/examples.jsonl" in body["message"], url
        assert body["errors"]["file"] == "examples.jsonl" and body["errors"]["version"] == "v0001"
    body = error_of(client.get("/api/releases/v0001/examples", headers={**auth, "If-None-Match": etag}), 409)
    assert body["code"] == "integrity_error"  # no 304 for a file that no longer verifies
    conditional = {**auth, "If-None-Match": etag}
    assert client.get("/api/releases/v0001/files/examples.jsonl", headers=conditional).status_code == 409
    with pytest.raises(IntegrityError, match="v0001/examples.jsonl was changed after the release"):
        feed.load("v0001", exports_dir=exports)
    listed = {r["version"]: r for r in client.get("/api/releases", headers=auth).get_json()["releases"]}
    assert listed["v0001"]["broken"] is True and "examples.jsonl" in listed["v0001"]["problem"]
    assert listed["v0002"]["broken"] is False and listed["v0002"]["examples"] == 3

    path.write_bytes(original)
    again = client.get("/api/releases/v0001/examples", headers=auth)
    assert again.status_code == 200 and again.data == original and again.headers["ETag"] == etag
    assert client.get("/api/releases/v0001/examples", headers={**auth, "If-None-Match": etag}).status_code == 304
    assert [r["id"] for r in feed.load("v0001", exports_dir=exports)] == ["a", "b", "c"]


def test_load_over_http_raises_the_integrity_error(app, two_versions):
    with served(app) as url:
        flip_byte(two_versions.exports_dir / "v0002" / "examples.jsonl")
        with pytest.raises(IntegrityError, match="feed answered 409: v0002/examples.jsonl was changed") as caught:
            feed.load("v0002", url=url, token=API_TOKEN)
        assert caught.value.code == "integrity_error" and caught.value.errors["file"] == "examples.jsonl"


def test_a_file_is_hashed_once_per_change(two_versions, monkeypatch):
    exports = two_versions.exports_dir
    monkeypatch.setattr(feed, "RACY_SECONDS", 0)
    hashed = []
    real = feed._hash_file
    monkeypatch.setattr(feed, "_hash_file", lambda handle: hashed.append(handle.fileno()) or real(handle))
    feed._DIGESTS.clear()
    for _ in range(3):
        feed.load("v0001", exports_dir=exports)
    files = len(feed.read_manifest(exports, "v0001")["files"])
    assert len(hashed) == files  # each file of v0001 once, not once per load
    path = exports / "v0001" / "records.jsonl"
    path.write_bytes(path.read_bytes())  # same bytes, new mtime: hashed again, still valid
    feed.load("v0001", exports_dir=exports)
    assert len(hashed) == files + 1


def test_a_file_changed_while_it_streams_ends_the_stream_with_an_error(settings):
    text = "نص طويل عن الأخبار " * 100
    items = lambda: (({"id": f"m{i:03d}", "text": f"{i} {text}", "entities": [], "stance": {}, "split": None}, {})
                     for i in range(200))
    releases.write_version(settings.exports_dir, items, {})
    path = settings.exports_dir / "v0001" / "examples.jsonl"
    lines = feed.iter_example_lines(settings.exports_dir, "v0001")
    first = next(lines)
    assert first.startswith(b'{"id":"m000"')
    flip_byte(path, at=path.stat().st_size - 50)
    with pytest.raises(IntegrityError, match="changed while it was being read"):
        for _ in lines:
            pass


@pytest.mark.parametrize("name", ["manifest.json", "records.jsonl", "examples.parquet"])
def test_every_file_of_a_version_is_checked(client, auth, two_versions, name):
    flip_byte(two_versions.exports_dir / "v0002" / name, at=-3)
    body = error_of(client.get("/api/releases/v0002/examples", headers=auth), 409)
    assert body["code"] == "integrity_error" and "v0002/" in body["message"]
    assert client.get("/api/releases/v0001/examples", headers=auth).status_code == 200
    latest = client.get("/api/releases/latest/examples", headers=auth)
    assert latest.status_code == 200 and latest.headers["X-Workbench-Version"] == "v0001"


def test_broken_versions_are_listed_as_broken_and_the_good_ones_still_served(client, auth, two_versions):
    exports = two_versions.exports_dir
    release(two_versions, [distinct("e")])  # v0003
    release(two_versions, [distinct("f")])  # v0004
    (exports / "v0002" / "manifest.json").write_text("{not json")
    (exports / "v0003" / "records.jsonl").unlink()
    manifest = json.loads((exports / "v0004" / "manifest.json").read_text())
    del manifest["created_at"]
    (exports / "v0004" / "manifest.json").write_text(json.dumps(manifest))
    (exports / "v0099").mkdir()

    response = client.get("/api/releases", headers=auth)
    assert response.status_code == 200
    listed = {r["version"]: r for r in response.get_json()["releases"]}
    assert listed["v0001"]["broken"] is False and listed["v0001"]["examples"] == 3
    problems = {v: r["problem"] for v, r in listed.items() if r["broken"]}
    assert set(problems) == {"v0002", "v0003", "v0004", "v0099"}
    assert "manifest.json is not JSON" in problems["v0002"]
    assert problems["v0003"] == "v0003/records.jsonl is missing"
    assert "lacks created_at" in problems["v0004"]
    assert problems["v0099"] == "v0099 is an empty folder (no manifest.json)"
    for version in problems:
        assert error_of(client.get(f"/api/releases/{version}", headers=auth), 409)["code"] == "integrity_error"
        assert client.get(f"/api/releases/{version}/examples", headers=auth).status_code == 409
    assert client.get("/api/releases/latest", headers=auth).get_json()["version"] == "v0001"
    assert [r["id"] for r in feed.load(exports_dir=exports)] == ["a", "b", "c"]
    body = error_of(client.get("/api/releases/v0001/examples?since=v0003", headers=auth), 409)
    assert "v0003/records.jsonl is missing" in body["message"]


def test_no_intact_version_is_a_404_naming_the_broken_ones(client, auth, settings):
    release(settings, [decision("a")])
    (settings.exports_dir / "v0001" / "manifest.json").unlink()
    body = error_of(client.get("/api/releases/latest/examples", headers=auth), 404)
    assert body["errors"]["broken"] == ["v0001"]


def test_symlinks_are_never_followed(client, auth, two_versions, tmp_path):
    exports = two_versions.exports_dir
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(exports / "v0002", elsewhere / "v0003")
    manifest = json.loads((elsewhere / "v0003" / "manifest.json").read_text())
    (elsewhere / "v0003" / "manifest.json").write_text(json.dumps({**manifest, "version": "v0003"}))
    (exports / "v0003").symlink_to(elsewhere / "v0003", target_is_directory=True)
    copy = tmp_path / "examples-copy.jsonl"
    shutil.copy(exports / "v0001" / "examples.jsonl", copy)  # same bytes: only the link is wrong
    (exports / "v0001" / "examples.jsonl").unlink()
    (exports / "v0001" / "examples.jsonl").symlink_to(copy)

    listed = {r["version"]: r for r in client.get("/api/releases", headers=auth).get_json()["releases"]}
    assert listed["v0003"]["broken"] and "v0003 is a symlink" in listed["v0003"]["problem"]
    assert listed["v0001"]["broken"] and "v0001/examples.jsonl cannot be opened" in listed["v0001"]["problem"]
    assert listed["v0002"]["broken"] is False
    for url in ("/api/releases/v0003", "/api/releases/v0003/files/examples.jsonl",
                "/api/releases/v0001/examples", "/api/releases/v0001/files/examples.jsonl"):
        assert error_of(client.get(url, headers=auth), 409)["code"] == "integrity_error", url
    assert client.get("/api/releases/latest", headers=auth).get_json()["version"] == "v0002"
    with pytest.raises(IntegrityError, match="symlink"):
        feed.load("v0001", exports_dir=exports)


def test_dot_dot_tricks_serve_nothing_outside_the_version(client, auth, two_versions, tmp_path):
    exports = two_versions.exports_dir
    secret = tmp_path / "var" / "stack.json"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text('{"token": "secret"}')
    for url in ("/api/releases/v0001/files/..%2F..%2Fvar%2Fstack.json", "/api/releases/v0001/files/%2E%2E",
                "/api/releases/..%2Fvar/files/stack.json", "/api/releases/v0001%2F..%2F..%2Fvar/files/stack.json"):
        response = client.get(url, headers=auth)
        assert response.status_code in (404, 422) and b"secret" not in response.data, url
    # a manifest edited to list a file outside its folder, with that file's true hash
    manifest_path = exports / "v0002" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../../var/stack.json"] = {"sha256": hashlib.sha256(secret.read_bytes()).hexdigest(),
                                                 "bytes": secret.stat().st_size, "records": None}
    manifest_path.write_text(json.dumps(manifest))
    response = client.get("/api/releases/v0002/files/..%2F..%2Fvar%2Fstack.json", headers=auth)
    assert response.status_code == 404 and b"secret" not in response.data  # the route takes no "/"
    with pytest.raises(IntegrityError, match="not a plain file name"):
        feed.file_body(exports, "v0002", "../../var/stack.json")
    listed = {r["version"]: r for r in client.get("/api/releases", headers=auth).get_json()["releases"]}
    assert listed["v0002"]["broken"] and "../../var/stack.json" in listed["v0002"]["problem"]


def test_a_missing_records_file_is_named_by_verify_diff_and_since(client, auth, two_versions, settings_env):
    (two_versions.exports_dir / "v0001" / "records.jsonl").unlink()
    runner = CliRunner()
    verify = runner.invoke(main, ["verify", "v0001"], catch_exceptions=False)
    assert verify.exit_code == 1 and "error: v0001 does not match its manifest: records.jsonl" in verify.stderr
    assert '"records.jsonl": "missing"' in verify.stderr
    diff = runner.invoke(main, ["diff", "v0001", "v0002"], catch_exceptions=False)
    assert diff.exit_code == 1
    assert "error: v0001/records.jsonl is missing or unreadable: No such file or directory" in diff.stderr
    body = error_of(client.get("/api/releases/v0002/examples?since=v0001", headers=auth), 409)
    assert body["message"] == "v0001/records.jsonl is missing" and body["errors"]["file"] == "records.jsonl"


@pytest.mark.parametrize("name", ["manifest.json", "examples.jsonl"])
def test_verify_and_diff_name_a_missing_manifest_or_examples_file(two_versions, settings_env, name):
    (two_versions.exports_dir / "v0002" / name).unlink()
    runner = CliRunner()
    verify = runner.invoke(main, ["verify", "latest"], catch_exceptions=False)
    assert verify.exit_code == 1 and "error: v0002" in verify.stderr and name in verify.stderr
    diff = runner.invoke(main, ["diff", "v0001", "v0002"], catch_exceptions=False)
    if name == "manifest.json":
        assert diff.exit_code == 1 and "error: v0002/manifest.json cannot be read" in diff.stderr
    else:  # diff compares records.jsonl and the manifests' counts: it does not need examples.jsonl
        assert diff.exit_code == 0


def test_a_corrupt_records_line_is_named_by_diff(two_versions, settings_env):
    path = two_versions.exports_dir / "v0002" / "records.jsonl"
    path.write_bytes(path.read_bytes() + b"{broken\n")
    diff = CliRunner().invoke(main, ["diff", "v0001", "v0002"], catch_exceptions=False)
    assert diff.exit_code == 1 and "error: v0002/records.jsonl line 4 is not a record" in diff.stderr


# --- large releases: constant memory, aborted transfers, readers beside a release ---------------

def big_items(count, chars, changed=()):
    """Synthetic examples of `chars` characters each (a few tens of MB in all)."""
    def items():
        for i in range(count):
            id_ = f"big-{i:05d}"
            unit = f"خبر عاجل رقم {i} {'معدل ' if i in changed else ''}{hashlib.sha256(id_.encode()).hexdigest()} "
            yield {"id": id_, "text": unit * (chars // len(unit)), "entities": [], "stance": {}, "split": None}, {}
    return items


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """v0001 (~34 MB of examples) and v0002 (a few examples changed) in their own exports dir.
    MinHash signatures are replaced by a hash of the text: near-duplicate grouping is not what is
    tested here and would take most of the time."""
    tmp = tmp_path_factory.mktemp("big")
    settings = make_settings(tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(releases.dedup, "signature",
                      lambda text: np.frombuffer(hashlib.sha512(text.encode()).digest() * 4, dtype=np.uint64))
        releases.write_version(settings.exports_dir, big_items(300, 100_000), {})
        releases.write_version(settings.exports_dir, big_items(300, 100_000, changed={3, 150}), {})
    assert (settings.exports_dir / "v0001" / "examples.jsonl").stat().st_size > 30_000_000
    return settings


def body_peak(client, url) -> tuple[int, int, str]:
    """(bytes received, peak traced memory over the baseline while the body was iterated, sha256)."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        response = client.get(url, headers={"Authorization": f"Bearer {API_TOKEN}"}, buffered=False)
        assert response.status_code == 200, response.status_code
        digest, size = hashlib.sha256(), 0
        for chunk in response.response:
            digest.update(chunk)
            size += len(chunk)
        response.close()
        return size, tracemalloc.get_traced_memory()[1] - baseline, digest.hexdigest()
    finally:
        tracemalloc.stop()


def test_large_versions_stream_in_constant_memory(big):
    from workbench.web import create_app
    client = create_app(big).test_client()
    manifest = feed.read_manifest(big.exports_dir, "v0001")
    size, peak, sha = body_peak(client, "/api/releases/v0001/examples")
    assert size == manifest["files"]["examples.jsonl"]["bytes"] and sha == manifest["files"]["examples.jsonl"]["sha256"]
    assert peak < 5_000_000, f"serving v0001 took {peak} bytes"
    for url in ("/api/releases/v0001/examples?split=train", "/api/releases/v0002/examples?since=v0001",
                "/api/releases/v0002/examples?since=v0001&split=dev", "/api/releases/v0001/files/examples.parquet",
                "/api/releases/v0001/files/examples.conll"):
        size, peak, _ = body_peak(client, url)
        assert peak < 5_000_000, f"{url}: {peak} bytes"
        assert "since" in url or size > 1_000_000, url
    delta = client.get("/api/releases/v0002/examples?since=v0001", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert [json.loads(line)["id"] for line in delta.data.splitlines()] == ["big-00003", "big-00150"]
    response = client.get("/api/releases/v0001/files/examples.parquet",
                          headers={"Authorization": f"Bearer {API_TOKEN}"}, buffered=False)
    assert response.headers["Content-Length"] == str(manifest["files"]["examples.parquet"]["bytes"])
    response.close()


@pytest.fixture
def big_bridge(big):
    from workbench.web import create_app
    with served(create_app(big)) as url:
        yield url


@pytest.mark.parametrize("url", ["/api/releases/v0001/files/examples.jsonl",
                                 "/api/releases/v0001/examples?split=train"])
def test_a_file_changed_during_an_http_transfer_cuts_the_transfer(big, big_bridge, url):
    path = big.exports_dir / "v0001" / "examples.jsonl"
    original = path.read_bytes()
    try:
        with requests.get(big_bridge + url, headers={"Authorization": f"Bearer {API_TOKEN}"}, stream=True,
                          timeout=60) as response:
            assert response.status_code == 200
            pieces = response.iter_content(65536)
            next(pieces)
            flip_byte(path, at=len(original) - 100)
            with pytest.raises(requests.RequestException):
                for _ in pieces:
                    pass
    finally:
        path.write_bytes(original)


def test_load_over_http_reports_a_cut_transfer(big, big_bridge, monkeypatch):
    path = big.exports_dir / "v0001" / "examples.jsonl"
    original = path.read_bytes()
    real = feed._checked

    def tamper_after_the_first_line(pieces, expected, label):
        for number, piece in enumerate(real(pieces, expected, label)):
            if number == 1 and label == "v0001/examples.jsonl":
                flip_byte(path, at=len(original) - 100)
            yield piece
    monkeypatch.setattr(feed, "_checked", tamper_after_the_first_line)
    try:
        with pytest.raises(WorkbenchError, match="cut the transfer of v0001 short") as caught:
            feed.load("v0001", url=big_bridge, token=API_TOKEN)
        assert caught.value.code == "feed_interrupted"
    finally:
        path.write_bytes(original)


def test_a_reader_streams_a_version_while_another_release_is_written(big, tmp_path):
    settings = make_settings(tmp_path)
    os.makedirs(settings.exports_dir)
    for version in ("v0001", "v0002"):
        shutil.copytree(big.exports_dir / version, settings.exports_dir / version)
    from workbench.web import create_app
    client = create_app(settings).test_client()
    started, released, result = threading.Event(), threading.Event(), {}

    def reader():
        response = client.get("/api/releases/v0002/examples", headers={"Authorization": f"Bearer {API_TOKEN}"},
                              buffered=False)
        digest = hashlib.sha256()
        for number, chunk in enumerate(response.response):
            digest.update(chunk)
            if number == 0:
                started.set()
                released.wait(60)
        response.close()
        result["sha256"] = digest.hexdigest()

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(60)
    try:
        version, _ = release(settings, [decision("a"), distinct("b")])
    finally:
        released.set()
        thread.join(60)
    assert version == "v0003"
    assert result["sha256"] == feed.read_manifest(settings.exports_dir, "v0002")["files"]["examples.jsonl"]["sha256"]
    assert [r["version"] for r in feed.list_releases(settings.exports_dir) if not r["broken"]] == \
        ["v0001", "v0002", "v0003"]
