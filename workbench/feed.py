"""Stage 7 — the training-data feed: released versions as the ML team reads them, from disk
(the HTTP feed in web/api.py serves the same functions) or from a bridge URL (`load(url=...)`)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import requests

from .errors import InputError, NotFound, WorkbenchError
from .release_check import merge_by_id, read_records
from .releases import VERSION_RE, existing_versions

SPLIT_NAMES = ("train", "dev", "test")


def resolve_version(exports_dir: Path, version: str) -> str:
    versions = existing_versions(exports_dir)
    if version == "latest":
        if not versions:
            raise NotFound("no release yet: run `workbench release`", errors={"version": version})
        return versions[-1]
    if not VERSION_RE.match(version):
        raise InputError(f"version must look like v0001 or be 'latest', got {version!r}", errors={"version": version})
    if version not in versions:
        raise NotFound(f"release {version} does not exist", errors={"version": version})
    return version


def read_manifest(exports_dir: Path, version: str) -> dict:
    version = resolve_version(exports_dir, version)
    return json.loads((exports_dir / version / "manifest.json").read_text(encoding="utf-8"))


def list_releases(exports_dir: Path) -> list[dict]:
    out = []
    for version in existing_versions(exports_dir):
        manifest = read_manifest(exports_dir, version)
        out.append({"version": version, "parent": manifest.get("parent"), "created_at": manifest["created_at"],
                    "examples": manifest["files"]["examples.jsonl"]["records"],
                    "sha256": manifest["files"]["examples.jsonl"]["sha256"]})
    return out


def iter_example_lines(exports_dir: Path, version: str, split: str | None = None) -> Iterator[bytes]:
    """The raw JSONL lines of a version, optionally of one split, streamed from disk.
    Bad arguments raise here, before the first line is read."""
    version = resolve_version(exports_dir, version)
    _check_split(split)
    return _lines(exports_dir / version / "examples.jsonl", split)


def _check_split(split: str | None) -> None:
    if split not in (None, *SPLIT_NAMES):
        raise InputError(f"split must be train, dev or test, got {split!r}", errors={"split": split})


def _lines(path: Path, split: str | None) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if split is None or json.loads(line)["split"] == split:
                yield line


def iter_delta_lines(exports_dir: Path, version: str, since: str, split: str | None = None) -> Iterator[bytes]:
    """What changed from `since` to `version`: the lines of added and changed examples as they
    are in `version`, then `{"id": ..., "removed": true}` for examples no longer there (or no
    longer in `split`)."""
    version, since = resolve_version(exports_dir, version), resolve_version(exports_dir, since)
    _check_split(split)
    return _delta(exports_dir / since, exports_dir / version, split)


def _delta(old: Path, new: Path, split: str | None) -> Iterator[bytes]:
    in_split = lambda record: record is not None and split in (None, record["split"])  # noqa: E731
    removed = []
    with (new / "examples.jsonl").open("rb") as examples:
        pairs = zip(examples, read_records(new / "records.jsonl"))
        new_items = ((id_, (record, line)) for line, (id_, record) in pairs)
        for id_, before, now in merge_by_id(read_records(old / "records.jsonl"), new_items):
            record, line = now or (None, None)
            if in_split(record) and (before is None or before["sha256"] != record["sha256"]):
                yield line
            elif in_split(before) and not in_split(record):
                removed.append(id_)
    for id_ in removed:
        yield json.dumps({"id": id_, "removed": True}, ensure_ascii=False).encode("utf-8") + b"\n"


def release_file(exports_dir: Path, version: str, name: str) -> tuple[Path, str]:
    """(path, sha256) of a file of a version; only the manifest and the files it lists."""
    manifest = read_manifest(exports_dir, version)
    folder = exports_dir / manifest["version"]
    if name == "manifest.json":
        return folder / name, hashlib.sha256((folder / name).read_bytes()).hexdigest()
    if name not in manifest["files"]:
        raise NotFound(f"release {manifest['version']} has no file {name!r}",
                       errors={"name": name, "files": sorted(manifest["files"])})
    return folder / name, manifest["files"][name]["sha256"]


def load(version: str = "latest", split: str | None = None, exports_dir: str | Path | None = None, *,
         url: str | None = None, token: str | None = None, since: str | None = None) -> list[dict]:
    """Examples of a released version as dicts: `load(version="latest", split="train")`, from
    exports/ or, with `url` and `token`, from a bridge's HTTP feed. With `since`, only what
    changed since that version (removed examples as {"id", "removed": True})."""
    if url is not None:
        return [json.loads(line) for line in _http_lines(url, token, version, split, since)]
    if exports_dir is None:
        from .settings import load_settings
        exports_dir = load_settings().exports_dir
    lines = (iter_example_lines(Path(exports_dir), version, split) if since is None
             else iter_delta_lines(Path(exports_dir), version, since, split))
    return [json.loads(line) for line in lines]


def _http_lines(url: str, token: str | None, version: str, split: str | None, since: str | None) -> Iterator[bytes]:
    params = {k: v for k, v in (("split", split), ("since", since)) if v}
    try:
        response = requests.get(f"{url.rstrip('/')}/api/releases/{version}/examples", params=params, stream=True,
                                headers={"Authorization": f"Bearer {token or ''}"}, timeout=60)
    except requests.RequestException as exc:
        raise WorkbenchError(f"cannot reach the bridge at {url}: {exc}", code="feed_unreachable", status=502)
    with response:
        if response.status_code != 200:
            raise _http_error(response)
        yield from (line for line in response.iter_lines() if line)


def _http_error(response) -> WorkbenchError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500]}
    error = {404: NotFound, 422: InputError}.get(response.status_code, WorkbenchError)
    return error(f"feed answered {response.status_code}: {body.get('message')}", errors=body.get("errors"),
                 code=body.get("code"), status=response.status_code)
