"""The training-data feed: files of a version, deltas since a version, and load() over HTTP."""
import hashlib
import json

import pytest
from conftest import API_TOKEN, served
from test_releases import decision, distinct, release

from workbench import feed, releases
from workbench.errors import InputError, NotFound


@pytest.fixture
def two_versions(settings):
    """v0001: a, b, c; v0002: a changed, c, d (b removed)."""
    release(settings, [decision("a"), distinct("b"), distinct("c")])
    release(settings, [decision("a", stance={"روسيا": "AGAINST", "أوكرانيا": "FAVOR"}), distinct("c"), distinct("d")])
    return settings


def test_delta_since_a_version_has_added_changed_and_removed(two_versions):
    rows = feed.load("v0002", since="v0001", exports_dir=two_versions.exports_dir)
    assert rows == [r for r in feed.load("v0002", exports_dir=two_versions.exports_dir) if r["id"] in ("a", "d")] + \
        [{"id": "b", "removed": True}]
    assert feed.load("latest", since="v0002", exports_dir=two_versions.exports_dir) == []


def test_delta_of_one_split_includes_examples_that_left_it(two_versions, monkeypatch):
    exports = two_versions.exports_dir
    for split in ("train", "dev", "test"):
        rows = feed.load("v0002", split=split, since="v0001", exports_dir=exports)
        new = [r for r in rows if not r.get("removed")]
        assert all(r["split"] == split for r in new)
        removed = {r["id"] for r in rows if r.get("removed")}
        assert removed == ({"b"} if releases.split_of("b") == split else set())


def test_delta_refuses_unknown_versions(two_versions):
    with pytest.raises(NotFound):
        feed.iter_delta_lines(two_versions.exports_dir, "v0002", "v0042")
    with pytest.raises(InputError):
        feed.iter_delta_lines(two_versions.exports_dir, "v0002", "v0001", split="all")


def test_files_route_serves_listed_files_with_their_hash_as_etag(client, auth, two_versions):
    manifest = client.get("/api/releases/v0001", headers=auth).get_json()
    for name in ("examples.parquet", "examples.conll", "README.md", "records.jsonl"):
        with client.get(f"/api/releases/v0001/files/{name}", headers=auth) as r:
            assert r.status_code == 200 and hashlib.sha256(r.data).hexdigest() == manifest["files"][name]["sha256"]
            assert r.headers["ETag"].strip('"') == manifest["files"][name]["sha256"]
        conditional = {**auth, "If-None-Match": r.headers["ETag"]}
        with client.get(f"/api/releases/v0001/files/{name}", headers=conditional) as again:
            assert again.status_code == 304
    with client.get("/api/releases/latest/files/manifest.json", headers=auth) as r:
        assert r.status_code == 200 and r.get_json()["version"] == "v0002"


def test_files_route_refuses_what_the_manifest_does_not_list(client, auth, two_versions):
    for name in ("secrets.txt", "..%2F..%2Fworkbench.db"):
        r = client.get(f"/api/releases/v0001/files/{name}", headers=auth)
        assert r.status_code == 404 and r.get_json()["code"] == "not_found"
    assert client.get("/api/releases/v0001/files/README.md").status_code == 401


def test_examples_route_streams_the_delta_with_its_own_etag(client, auth, two_versions):
    full = client.get("/api/releases/v0002/examples", headers=auth)
    delta = client.get("/api/releases/v0002/examples?since=v0001", headers=auth)
    assert [json.loads(x)["id"] for x in delta.data.decode().splitlines()] == ["a", "d", "b"]
    assert delta.headers["ETag"] != full.headers["ETag"]
    again = client.get("/api/releases/v0002/examples?since=v0001",
                       headers={**auth, "If-None-Match": delta.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/api/releases/v0002/examples?since=v0009", headers=auth).status_code == 404


@pytest.fixture
def bridge(app):
    with served(app) as url:
        yield url


def test_load_over_http_equals_load_from_disk(bridge, two_versions):
    exports = two_versions.exports_dir
    for kwargs in ({"version": "latest"}, {"version": "v0001", "split": "train"},
                   {"version": "v0002", "since": "v0001"}):
        assert feed.load(url=bridge, token=API_TOKEN, **kwargs) == feed.load(exports_dir=exports, **kwargs)


def test_load_over_http_raises_the_error_contract(bridge, two_versions):
    with pytest.raises(NotFound, match="feed answered 404"):
        feed.load("v0042", url=bridge, token=API_TOKEN)
    with pytest.raises(InputError, match="split must be"):
        feed.load("latest", split="all", url=bridge, token=API_TOKEN)
    with pytest.raises(Exception, match="401"):
        feed.load("latest", url=bridge, token="wrong")
