"""Checking and comparing released versions, streamed: `verify` recomputes every hash of a
version, `diff` compares two versions record by record (both are sorted by id, so a merge
join needs no memory beyond the changed ids). A file that is missing, unreadable or not what
it should be is named in an IntegrityError (an InputError: the CLI prints it and exits 1)."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq

from .errors import InputError, IntegrityError
from .digests import file_digest

_MISSING = object()


def read_records(path: Path) -> Iterator[tuple[str, dict]]:
    """(id, record) of a records.jsonl; the file is opened here, so a missing one raises at once."""
    label = f"{path.parent.name}/{path.name}"
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise IntegrityError(f"{label} is missing or unreadable: {exc.strerror}",
                             errors={"version": path.parent.name, "file": path.name, "problem": exc.strerror})
    return parse_records(_closing_lines(handle), label)


def _closing_lines(handle) -> Iterator[bytes]:
    with handle:
        yield from handle


def parse_records(lines: Iterable[bytes], label: str) -> Iterator[tuple[str, dict]]:
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            yield record["id"], record
        except (ValueError, KeyError, TypeError) as exc:
            version, _, name = label.partition("/")
            raise IntegrityError(f"{label} line {number} is not a record: {exc!r}",
                                 errors={"version": version, "file": name, "line": number})


def merge_by_id(left: Iterator[tuple[str, object]], right: Iterator[tuple[str, object]]):
    """(id, left item or None, right item or None) for every id of either sorted stream."""
    a, b = next(left, _MISSING), next(right, _MISSING)
    while a is not _MISSING or b is not _MISSING:
        if b is _MISSING or (a is not _MISSING and a[0] < b[0]):
            yield a[0], a[1], None
            a = next(left, _MISSING)
        elif a is _MISSING or b[0] < a[0]:
            yield b[0], None, b[1]
            b = next(right, _MISSING)
        else:
            yield a[0], a[1], b[1]
            a, b = next(left, _MISSING), next(right, _MISSING)


def diff(folder_a: Path, folder_b: Path) -> dict:
    """Examples added, removed and changed from version A to B, and label-count deltas."""
    added, removed, changed, unchanged = [], [], [], 0
    stats_a, stats_b = (_stats(f) for f in (folder_a, folder_b))
    for id_, a, b in merge_by_id(read_records(folder_a / "records.jsonl"), read_records(folder_b / "records.jsonl")):
        if a is None:
            added.append(id_)
        elif b is None:
            removed.append(id_)
        elif a["sha256"] != b["sha256"]:
            changed.append(id_)
        else:
            unchanged += 1
    return {"from": folder_a.name, "to": folder_b.name, "added": added, "removed": removed, "changed": changed,
            "unchanged": unchanged, "entity_label_delta": _delta(stats_a["entity_labels"], stats_b["entity_labels"]),
            "stance_delta": {t: _delta(stats_a["stance"].get(t, {}), stats_b["stance"].get(t, {}))
                             for t in sorted(set(stats_a["stance"]) | set(stats_b["stance"]))},
            "split_delta": _delta(stats_a["splits"], stats_b["splits"])}


def _delta(a: dict, b: dict) -> dict:
    return {k: b.get(k, 0) - a.get(k, 0) for k in sorted(set(a) | set(b)) if b.get(k, 0) != a.get(k, 0)}


def _manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{folder.name}/manifest.json cannot be read: {exc}", errors={"manifest.json": str(exc)})
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IntegrityError(f"{folder.name}/manifest.json is not an object with a `files` object",
                             errors={"manifest.json": "no files"})
    return manifest


def _stats(folder: Path) -> dict:
    stats = _manifest(folder).get("stats")
    if not isinstance(stats, dict) or not all(isinstance(stats.get(k), dict)
                                              for k in ("entity_labels", "stance", "splits")):
        raise IntegrityError(f"{folder.name}/manifest.json has no complete `stats`", errors={"manifest.json": "stats"})
    return stats


def verify(folder: Path) -> dict:
    """Recompute every hash, size and count the manifest states; raise naming each file that differs."""
    if folder.is_symlink():
        raise IntegrityError(f"{folder.name} is a symlink: a release folder is never followed",
                             code="verify_failed", errors={"version": folder.name})
    manifest = _manifest(folder)
    problems = {}
    for name, expected in manifest["files"].items():
        if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
            problems[name] = "not a plain file name in the version folder (never read)"
            continue
        problem = _file_problem(folder / name, expected if isinstance(expected, dict) else {})
        if problem:
            problems[name] = problem
    listed = {*manifest["files"], "manifest.json"}
    for extra in sorted(p.name for p in folder.iterdir() if p.name not in listed):
        problems[extra] = "file not listed in manifest.json"
    for name in sorted({"examples.jsonl", "records.jsonl"} - set(manifest["files"])):
        problems[name] = "not listed in manifest.json"
    if not {"examples.jsonl", "records.jsonl"} & set(problems):
        problems.update(_record_problems(folder))
    if problems:
        raise InputError(f"{folder.name} does not match its manifest: {', '.join(problems)}",
                         code="verify_failed", errors=problems)
    return {"version": folder.name, "files": len(manifest["files"]),
            "records": manifest["files"]["examples.jsonl"].get("records")}


def _file_problem(path: Path, expected: dict) -> str | None:
    if path.is_symlink():
        return "a symlink (never followed)"
    if not path.is_file():
        return "missing"
    try:
        actual = file_digest(path)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if actual["bytes"] != expected.get("bytes"):
        return f"size {actual['bytes']} bytes, manifest says {expected.get('bytes')}"
    if actual["sha256"] != expected.get("sha256"):
        return f"sha256 {actual['sha256']}, manifest says {expected.get('sha256')}"
    count = _count_records(path)
    if expected.get("records") is not None and count != expected["records"]:
        return f"{count} records, manifest says {expected['records']}"
    return None


def _count_records(path: Path) -> int | None:
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".conll":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.startswith(b"# id = "))
    return None


def _record_problems(folder: Path) -> dict:
    """Each examples.jsonl line against its per-record hash in records.jsonl."""
    bad = Counter()
    first: dict[str, str] = {}
    with (folder / "examples.jsonl").open("rb") as examples:
        for line, (id_, record) in zip(examples, read_records(folder / "records.jsonl")):
            if hashlib.sha256(line).hexdigest() != record["sha256"] or json.loads(line)["id"] != id_:
                bad["examples.jsonl"] += 1
                first.setdefault("examples.jsonl", id_)
    return {name: f"{n} record(s) do not match records.jsonl, first: {first[name]}" for name, n in bad.items()}
