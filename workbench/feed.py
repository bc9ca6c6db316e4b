"""Stage 7 — the training-data feed: released versions as the ML team reads them, from disk
(the HTTP feed in web/api.py serves the same functions) or from a bridge URL (`load(url=...)`).

Only what was released is served. Every file is opened without following symlinks (neither the
version folder nor the file may be one) and checked against the size and SHA-256 its manifest.json
states before a byte is sent; the digest is cached per file by (size, mtime, ctime, inode), so a
file is hashed once per change, not once per request (a file changed in the last RACY_SECONDS
is hashed every time: file times have a coarse clock). While a file is streamed it is hashed again:
if it changed after the check, the stream ends with an IntegrityError instead of its last piece
(over HTTP the response has started, so the connection is cut and the client sees a failed
transfer, never a silently wrong 200). A version whose manifest is missing, unreadable or
incomplete, or any of whose files is missing, a symlink or changed, is listed as broken and
answered with IntegrityError (409 `integrity_error`); `latest` is the newest version that is not
broken."""
from __future__ import annotations

import copy
import hashlib
import json
import mimetypes
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests

from .errors import IntegrityError, InputError, NotFound, WorkbenchError
from .release_check import merge_by_id, parse_records
from .releases import VERSION_RE, existing_versions

SPLIT_NAMES = ("train", "dev", "test")
MANIFEST = "manifest.json"
CHUNK = 64 * 1024
MAX_MANIFEST_BYTES = 16 << 20
RACY_SECONDS = 2  # a file changed this recently is hashed again (file times have a coarse clock)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DIGESTS: dict[str, tuple[tuple, str]] = {}  # absolute path -> (stat key, sha256): one hash per change
_MANIFESTS: dict[str, tuple[tuple, dict, str]] = {}  # absolute path -> (stat key, manifest, sha256)


# --- opening and checking files -------------------------------------------------------------

def _open_in(folder: Path, name: str) -> BinaryIO:
    """A regular file directly inside `folder`, neither of them followed if a symlink."""
    label = f"{folder.name}/{name}"
    if not plain_name(name):
        raise IntegrityError(f"{label}: not a plain file name, not served", errors={"file": name})
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise NotFound(f"release {folder.name} does not exist", errors={"version": folder.name})
    except OSError as exc:
        raise IntegrityError(f"{folder.name} is a symlink or not a folder: not served ({exc.strerror})",
                             errors={"version": folder.name, "problem": "not a plain folder"})
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        raise IntegrityError(f"{label} is missing", errors={"version": folder.name, "file": name, "problem": "missing"})
    except OSError as exc:
        raise IntegrityError(f"{label} cannot be opened (a symlink is never followed): {exc.strerror}",
                             errors={"version": folder.name, "file": name, "problem": exc.strerror})
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IntegrityError(f"{label} is not a regular file", errors={"version": folder.name, "file": name})
    return os.fdopen(fd, "rb")


def plain_name(name: str) -> bool:
    """A file name with no folder part: nothing outside the version folder can be named."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def _stat_key(handle: BinaryIO) -> tuple:
    st = os.fstat(handle.fileno())
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def _digest(handle: BinaryIO, path: Path) -> str:
    """SHA-256 of the open file `path`, from the cache while its size, times and inode are unchanged."""
    path, key = os.path.abspath(path), _stat_key(handle)
    cached = _DIGESTS.get(path)
    if cached and cached[0] == key:
        return cached[1]
    sha256 = _hash_file(handle)
    if _stat_key(handle) == key and _settled(key):
        _DIGESTS[path] = (key, sha256)
    return sha256


def _settled(key: tuple) -> bool:
    """Changed long enough ago that a later write would change the key (not "racy")."""
    return time.time_ns() - max(key[1], key[2]) > RACY_SECONDS * 1_000_000_000


def _hash_file(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def verified(path: Path, expected_sha256: str, expected_bytes: int, *, deep: bool = True) -> BinaryIO:
    """`path` opened (never through a symlink), once its size and SHA-256 (only its size when not
    `deep`) are the expected ones; an IntegrityError naming the version and the file otherwise.
    The caller closes it."""
    handle = _open_in(path.parent, path.name)
    try:
        _check(handle, path, expected_sha256, expected_bytes, deep)
    except BaseException:
        handle.close()
        raise
    return handle


def _check(handle: BinaryIO, path: Path, expected_sha256: str, expected_bytes: int, deep: bool = True) -> None:
    version, name = path.parent.name, path.name
    label = f"{version}/{name}"
    size = _stat_key(handle)[0]
    if size != expected_bytes:
        raise IntegrityError(f"{label} was changed after the release: {size} bytes, the manifest says "
                             f"{expected_bytes}", errors={"version": version, "file": name, "bytes": size})
    actual = _digest(handle, path) if deep else expected_sha256
    if actual != expected_sha256:
        raise IntegrityError(f"{label} was changed after the release: sha256 {actual}, the manifest says "
                             f"{expected_sha256}", errors={"version": version, "file": name, "sha256": actual})


# --- manifests and versions ------------------------------------------------------------------

def _manifest(exports_dir: Path, version: str) -> tuple[dict, str]:
    """(manifest, SHA-256 of its bytes), parsed and checked for what the feed uses."""
    folder = exports_dir / version
    try:
        handle = _open_in(folder, MANIFEST)
    except IntegrityError as exc:
        if exc.errors.get("problem") == "missing" and not any(folder.iterdir()):
            raise IntegrityError(f"{version} is an empty folder (no manifest.json)",
                                 errors={"version": version, "problem": "empty folder"})
        raise
    with handle:
        key, path = _stat_key(handle), os.path.abspath(folder / MANIFEST)
        cached = _MANIFESTS.get(path)
        if cached and cached[0] == key:
            return cached[1], cached[2]
        if key[0] > MAX_MANIFEST_BYTES:
            raise IntegrityError(f"{version}/manifest.json is larger than {MAX_MANIFEST_BYTES} bytes",
                                 errors={"version": version, "file": MANIFEST, "bytes": key[0]})
        data = handle.read()  # read(n) would allocate n bytes first
    manifest, sha256 = _parsed_manifest(version, data), hashlib.sha256(data).hexdigest()
    if _settled(key):
        _MANIFESTS[path] = (key, manifest, sha256)
    return manifest, sha256


def _parsed_manifest(version: str, data: bytes) -> dict:
    def broken(problem: str) -> IntegrityError:
        return IntegrityError(f"{version}/manifest.json {problem}", errors={"version": version, "file": MANIFEST,
                                                                             "problem": problem})
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise broken(f"is not JSON: {exc}")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise broken("is not an object with a `files` object")
    missing = [k for k in ("version", "created_at") if not isinstance(manifest.get(k), str)]
    if missing:
        raise broken(f"lacks {', '.join(missing)}")
    if manifest["version"] != version:
        raise broken(f"names version {manifest['version']!r}, not the folder's")
    for name in ("examples.jsonl", "records.jsonl"):
        if name not in manifest["files"]:
            raise broken(f"does not list {name}")
    for name, entry in manifest["files"].items():
        if not plain_name(name):
            raise broken(f"lists {name!r}, which is not a plain file name in the version folder")
        if (name == MANIFEST or not isinstance(entry, dict) or not _SHA256.match(str(entry.get("sha256")))
                or type(entry.get("bytes")) is not int):
            raise broken(f"has no valid sha256 and bytes for {name!r}")
    if type(manifest["files"]["examples.jsonl"].get("records")) is not int:
        raise broken("has no record count for examples.jsonl")
    return manifest


def _check_version(exports_dir: Path, version: str, deep: bool = True) -> tuple[dict, str]:
    """The manifest (and its hash) once every file it lists is on disk as released (with
    deep=False: present, not a symlink, of the right size; no file is read)."""
    manifest, manifest_sha = _manifest(exports_dir, version)
    for name, entry in manifest["files"].items():
        verified(exports_dir / version / name, entry["sha256"], entry["bytes"], deep=deep).close()
    return manifest, manifest_sha


def version_problem(exports_dir: Path, version: str, deep: bool = True) -> str | None:
    """Why a version folder cannot be served, or None when it is intact."""
    try:
        _check_version(exports_dir, version, deep)
    except (IntegrityError, NotFound) as exc:
        return exc.message
    return None


def resolve_version(exports_dir: Path, version: str, intact: bool = True) -> str:
    """A version name, `latest` resolved: the newest intact version (with intact=False, the
    newest version folder, as `verify` and `diff` want)."""
    versions = existing_versions(exports_dir)
    if version == "latest":
        for candidate in reversed(versions):
            if not intact or version_problem(exports_dir, candidate) is None:
                return candidate
        if versions:
            raise NotFound(f"no intact release: every version is broken ({', '.join(versions)}; see GET /api/releases)",
                           errors={"version": version, "broken": versions})
        raise NotFound("no release yet: run `workbench release`", errors={"version": version})
    if not VERSION_RE.match(version):
        raise InputError(f"version must look like v0001 or be 'latest', got {version!r}", errors={"version": version})
    if version not in versions:
        raise NotFound(f"release {version} does not exist", errors={"version": version})
    return version


def read_manifest(exports_dir: Path, version: str) -> dict:
    """The manifest of an intact version; IntegrityError for a broken one."""
    return copy.deepcopy(_check_version(exports_dir, resolve_version(exports_dir, version))[0])


def list_releases(exports_dir: Path, deep: bool = True) -> list[dict]:
    """Every version folder: intact ones with their counts, broken ones with the problem. With
    deep=False (`workbench status`, a fresh process each time) file hashes are not checked, only
    the manifests, the files' presence and sizes."""
    out = []
    for version in existing_versions(exports_dir):
        try:
            manifest = _check_version(exports_dir, version, deep)[0]
        except (IntegrityError, NotFound) as exc:
            out.append({"version": version, "broken": True, "problem": exc.message})
            continue
        examples = manifest["files"]["examples.jsonl"]
        out.append({"version": version, "broken": False, "parent": manifest.get("parent"),
                    "created_at": manifest["created_at"], "examples": examples["records"],
                    "sha256": examples["sha256"]})
    return out


# --- streams ---------------------------------------------------------------------------------

def _checked(pieces: Iterable[bytes], expected_sha256: str, label: str) -> Iterator[bytes]:
    """The pieces, hashed as they pass, the last one held back until the whole digest is known:
    if the file changed while it was read, an IntegrityError comes instead of the last piece (so
    the receiver always misses data, even where the length was announced)."""
    digest, held = hashlib.sha256(), None
    for piece in pieces:
        digest.update(piece)
        if held is not None:
            yield held
        held = piece
    if digest.hexdigest() == expected_sha256:
        if held is not None:
            yield held
    else:
        version, name = label.split("/", 1)
        raise IntegrityError(f"{label} changed while it was being read: the stream was cut off",
                             errors={"version": version, "file": name, "sha256": digest.hexdigest()})


def _pieces(path: Path, expected_sha256: str, expected_bytes: int, chunks: bool = False) -> Iterator[bytes]:
    """A file's lines (or CHUNK-sized pieces), opened at the first read and checked again then
    (a cache hit unless it changed since the version was checked), hashed while they pass."""
    with verified(path, expected_sha256, expected_bytes) as handle:
        pieces = iter(lambda: handle.read(CHUNK), b"") if chunks else handle
        yield from _checked(pieces, expected_sha256, f"{path.parent.name}/{path.name}")


def _listed(exports_dir: Path, version: str, manifest: dict, name: str, chunks: bool = False) -> Iterator[bytes]:
    entry = manifest["files"][name]
    return _pieces(exports_dir / version / name, entry["sha256"], entry["bytes"], chunks)


def _check_split(split: str | None) -> None:
    if split not in (None, *SPLIT_NAMES):
        raise InputError(f"split must be train, dev or test, got {split!r}", errors={"split": split})


def _in_split(lines: Iterator[bytes], split: str | None) -> Iterator[bytes]:
    for line in lines:
        if split is None or json.loads(line)["split"] == split:
            yield line


def iter_example_lines(exports_dir: Path, version: str, split: str | None = None) -> Iterator[bytes]:
    """The raw JSONL lines of a version, optionally of one split, streamed from disk. Bad
    arguments and a broken version raise here, before the first line is read."""
    _check_split(split)
    version = resolve_version(exports_dir, version)
    manifest = _check_version(exports_dir, version)[0]
    return _in_split(_listed(exports_dir, version, manifest, "examples.jsonl"), split)


def iter_delta_lines(exports_dir: Path, version: str, since: str, split: str | None = None) -> Iterator[bytes]:
    """What changed from `since` to `version`: the lines of added and changed examples as they
    are in `version`, then `{"id": ..., "removed": true}` for examples no longer there (or no
    longer in `split`). Both versions are checked first."""
    _check_split(split)
    version, since = resolve_version(exports_dir, version), resolve_version(exports_dir, since)
    new, old = _check_version(exports_dir, version)[0], _check_version(exports_dir, since)[0]
    examples = _listed(exports_dir, version, new, "examples.jsonl")
    new_records = parse_records(_listed(exports_dir, version, new, "records.jsonl"), f"{version}/records.jsonl")
    old_records = parse_records(_listed(exports_dir, since, old, "records.jsonl"), f"{since}/records.jsonl")
    return _delta(examples, new_records, old_records, split)


def _delta(examples: Iterator[bytes], new_records, old_records, split: str | None) -> Iterator[bytes]:
    in_split = lambda record: record is not None and split in (None, record["split"])  # noqa: E731
    removed = []
    new_items = ((id_, (record, line)) for line, (id_, record) in zip(examples, new_records))
    for id_, before, now in merge_by_id(old_records, new_items):
        record, line = now or (None, None)
        if in_split(record) and (before is None or before["sha256"] != record["sha256"]):
            yield line
        elif in_split(before) and not in_split(record):
            removed.append(id_)
    for id_ in removed:
        yield json.dumps({"id": id_, "removed": True}, ensure_ascii=False).encode("utf-8") + b"\n"


@dataclass
class Body:
    """What the HTTP feed sends: the version, the ETag (file hashes from the manifest), the
    stream (a generator: files are opened at its first read, closed with it) and, when known,
    its length."""
    version: str
    etag: str
    stream: Iterator[bytes]
    length: int | None = None
    mimetype: str = "application/x-ndjson"


def examples_body(exports_dir: Path, version: str, split: str | None = None, since: str | None = None) -> Body:
    """The examples of a version (all, one split, or the delta since a version), checked."""
    _check_split(split)
    version = resolve_version(exports_dir, version)
    manifest = _check_version(exports_dir, version)[0]
    entry = manifest["files"]["examples.jsonl"]
    etag, length = entry["sha256"], None
    if since:
        since = resolve_version(exports_dir, since)
        etag += "-since-" + _check_version(exports_dir, since)[0]["files"]["examples.jsonl"]["sha256"]
        stream = iter_delta_lines(exports_dir, version, since, split)
    elif split:
        stream = iter_example_lines(exports_dir, version, split)
    else:
        stream, length = _listed(exports_dir, version, manifest, "examples.jsonl", chunks=True), entry["bytes"]
    return Body(version, etag + (f"-{split}" if split else ""), stream, length)


def file_body(exports_dir: Path, version: str, name: str) -> Body:
    """One file of a version: the manifest or a file it lists (nothing else), checked."""
    version = resolve_version(exports_dir, version)
    manifest, manifest_sha = _check_version(exports_dir, version)
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name != MANIFEST and name not in manifest["files"]:
        raise NotFound(f"release {version} has no file {name!r}",
                       errors={"name": name, "files": sorted(manifest["files"])})
    if name == MANIFEST:
        sha, size = manifest_sha, _manifest_size(exports_dir, version)
        return Body(version, sha, _pieces(exports_dir / version / MANIFEST, sha, size, chunks=True), size, mimetype)
    entry = manifest["files"][name]
    return Body(version, entry["sha256"], _listed(exports_dir, version, manifest, name, chunks=True),
                entry["bytes"], mimetype)


def _manifest_size(exports_dir: Path, version: str) -> int:
    with _open_in(exports_dir / version, MANIFEST) as handle:
        return _stat_key(handle)[0]


# --- loading ---------------------------------------------------------------------------------

def load(version: str = "latest", split: str | None = None, exports_dir: str | Path | None = None, *,
         url: str | None = None, token: str | None = None, since: str | None = None) -> list[dict]:
    """Examples of a released version as dicts: `load(version="latest", split="train")`, from
    exports/ or, with `url` and `token`, from a bridge's HTTP feed. With `since`, only what
    changed since that version (removed examples as {"id", "removed": True}). A version that is
    not as released raises IntegrityError."""
    if url is not None:
        return [json.loads(line) for line in _http_lines(url, token, version, split, since)]
    if exports_dir is None:
        from .settings import load_settings
        exports_dir = load_settings().exports_dir
    lines = (iter_example_lines(Path(exports_dir), version, split) if since is None
             else iter_delta_lines(Path(exports_dir), version, since, split))
    with closing(lines):
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
        try:
            yield from (line for line in response.iter_lines() if line)
        except requests.RequestException as exc:
            raise WorkbenchError(f"the bridge cut the transfer of {version} short (a file that changed while it "
                                 f"was sent is cut off, see the bridge's log): {exc}", code="feed_interrupted",
                                 status=502)


def _http_error(response) -> WorkbenchError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500]}
    error = {404: NotFound, 409: IntegrityError, 422: InputError}.get(response.status_code, WorkbenchError)
    return error(f"feed answered {response.status_code}: {body.get('message')}", errors=body.get("errors"),
                 code=body.get("code"), status=response.status_code)
