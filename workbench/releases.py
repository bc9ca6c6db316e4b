"""Stage 6 — training-set versions: accepted annotations released as an immutable folder
exports/vNNNN/ (files in release_files.py, data card in datacard.py, checks in release_check.py).

A release is written to a temporary folder and renamed into place; an existing version is
never overwritten (the rename fails and the next number is taken). Examples are streamed
twice — once to group duplicates, once to write — so memory does not grow with the texts.

Crash safety: the temporary folder holds a lock file (flock) for as long as its writer lives;
the next release removes every `.tmp-release-*` folder whose lock nobody holds (or, without a
lock file, older than STALE_AFTER seconds). The releases table is made to agree with the folders
by `reconcile`, run at the start of every release (under the exports lock, `release_lock`, so two
releases never interleave) and by `workbench status`: a folder with a valid manifest but no row
(a crash between the rename and the commit) gets its row; a row whose folder is gone is reported,
never deleted."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import charts, datacard, dedup
from .errors import ConfigError, InputError, OffsetError
from .models import Release
from .digests import file_digest
from .release_files import ReleaseWriter
from .review import Decision

VERSION_RE = re.compile(r"^v(\d{4,})$")
TMP_PREFIX = ".tmp-release-"
WRITER_LOCK = ".writer.lock"
RELEASE_LOCK = ".release.lock"
STALE_AFTER = 600  # seconds: a temporary folder without a lock file older than this is abandoned
SPLITS = (("train", 80), ("dev", 90), ("test", 100))
SPLIT_METHOD = ("sha256(article id) % 100: <80 train, <90 dev, else test; exact and near-duplicate articles "
                "(dedup.py: normalised-text hash, MinHash LSH over character 5-grams) take the split of "
                "their group's smallest id")
Items = Callable[[], Iterable[tuple[dict, dict]]]


def split_of(article_id: str) -> str:
    """train/dev/test (80/10/10) from a stable hash of the article id: an article never changes split."""
    bucket = int(hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return next(name for name, upper in SPLITS if bucket < upper)


def example_from(decision: Decision) -> dict:
    """The canonical example (fixed key order; split filled in when the release is written)."""
    revision = decision.task.revision
    return {"id": revision.article_id, "text": revision.text,
            "entities": [{k: s[k] for k in ("start", "end", "label", "text")} for s in decision.annotation.entities],
            "stance": dict(sorted(decision.annotation.stance.items())), "split": None}


def meta_from(decision: Decision) -> dict:
    task, annotation = decision.task, decision.annotation
    return {"task_id": getattr(task, "ls_task_id", None),
            "annotation_id": getattr(annotation, "ls_annotation_id", None),
            "annotator": getattr(annotation, "annotator", None),
            "model_versions": getattr(task, "model_versions", None) or [],
            "source": getattr(getattr(task.revision, "article", None), "source", None)}


def existing_versions(exports_dir: Path) -> list[str]:
    if not exports_dir.exists():
        return []
    return sorted((p.name for p in exports_dir.iterdir() if p.is_dir() and VERSION_RE.match(p.name)),
                  key=lambda v: int(v[1:]))


def write_release(session: Session, exports_dir: Path, decisions: list[Decision], lineage: dict,
                  agreement: dict | None = None) -> tuple[str, dict]:
    """Write the accepted decisions as the next version; returns (version, manifest)."""
    accepted = sorted((d for d in decisions if d.accepted), key=lambda d: d.task.revision.article_id)
    if not accepted:
        raise InputError("nothing to release: no accepted annotations (run `workbench pull` and see its report)",
                         errors={"accepted": 0}, code="nothing_to_release")
    taken = [int(v[1:]) for v in session.scalars(select(Release.version))]
    version, manifest = write_version(exports_dir, lambda: ((example_from(d), meta_from(d)) for d in accepted),
                                      lineage, agreement, taken)
    session.add(Release(version=version, examples=manifest["files"]["examples.jsonl"]["records"],
                        examples_sha256=manifest["files"]["examples.jsonl"]["sha256"],
                        review_policy=lineage.get("review_policy", "")))
    session.flush()
    return version, manifest


def write_version(exports_dir: Path, items: Items, lineage: dict, agreement: dict | None = None,
                  taken: Iterable[int] = ()) -> tuple[str, dict]:
    """The core of a release. `items()` must yield the same (example, meta) pairs, sorted by id,
    each time it is called."""
    ids, leaders, targets = _scan(items())
    exports_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temp(exports_dir)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=exports_dir))
    try:
        owner = _hold_writer_lock(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        writer = ReleaseWriter(tmp, targets)
        for row, (example, meta) in enumerate(items()):
            if row >= len(ids) or example["id"] != ids[row]:
                raise InputError("the examples changed while the release was written", code="unstable_input")
            group = ids[leaders[row]]
            writer.add({**example, "split": split_of(group)}, meta, group)
        files, stats = writer.close()
        stats.update(_group_counts(leaders))
        _write_json(tmp / "agreement.json", agreement or {})
        files["agreement.json"] = {**file_digest(tmp / "agreement.json"), "records": None}
        return _rename_into_place(exports_dir, tmp, files, stats, lineage, agreement or {}, taken)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(owner)


def _move_into_place(tmp: Path, folder: Path) -> None:
    os.rename(tmp, folder)  # atomic; fails if `folder` exists and is not empty


def _hold_writer_lock(tmp: Path) -> int:
    fd = os.open(tmp / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _is_held(lock: Path) -> bool | None:
    """True if a live process holds the lock file, False if nobody does, None if there is none."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # cannot tell: leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def clean_stale_temp(exports_dir: Path) -> list[str]:
    """Remove the temporary folders of releases that died before their rename: those whose
    writer lock nobody holds, or (no lock file) not modified for STALE_AFTER seconds."""
    removed = []
    for tmp in sorted(exports_dir.glob(TMP_PREFIX + "*")):
        if tmp.is_symlink() or not tmp.is_dir():
            continue
        held = _is_held(tmp / WRITER_LOCK)
        try:
            if held or (held is None and time.time() - tmp.stat().st_mtime < STALE_AFTER):
                continue
        except FileNotFoundError:  # another release removed it meanwhile
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp.name)
    return removed


@contextmanager
def release_lock(exports_dir: Path, wait: bool = True) -> Iterator[bool]:
    """Hold exports/.release.lock: one release (or reconciliation) at a time. With wait=False,
    yields False at once when another process holds it."""
    try:
        exports_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(exports_dir / RELEASE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if wait:
            raise ConfigError(f"cannot lock {exports_dir / RELEASE_LOCK}: {exc.strerror}",
                              errors={"WORKBENCH_EXPORTS_DIR": str(exports_dir)})
        yield False  # a read-only exports dir: nobody releases into it
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        acquired = True
    except BlockingIOError:
        acquired = False
    try:
        yield acquired
    finally:
        os.close(fd)


def reconcile(session: Session, exports_dir: Path, record: bool = True) -> dict:
    """Make the releases table agree with the version folders (call it under `release_lock`):
    a folder with a valid manifest and no row gets its row (without `record`, it is reported as
    unrecorded); rows whose folder is missing, or whose examples hash differs from the folder's
    manifest, are reported, never changed."""
    rows = {r.version: r for r in session.scalars(select(Release))}
    report = {"recorded": [], "unrecorded": [], "missing_folders": [], "mismatched": []}
    on_disk = set(existing_versions(exports_dir))
    for version in sorted(on_disk, key=lambda v: int(v[1:])):
        manifest = _valid_manifest(exports_dir / version)
        if manifest is None:
            continue
        examples = manifest["files"]["examples.jsonl"]
        if version in rows:
            if rows[version].examples_sha256 != examples["sha256"]:
                report["mismatched"].append(version)
        elif record:
            session.add(Release(version=version, examples=examples["records"], examples_sha256=examples["sha256"],
                                review_policy=str(manifest.get("review_policy") or ""),
                                created_at=_created_at(manifest)))
            report["recorded"].append(version)
        else:
            report["unrecorded"].append(version)
    report["missing_folders"] = sorted((v for v in rows if v not in on_disk), key=lambda v: int(v[1:]))
    session.flush()
    return report


def _valid_manifest(folder: Path) -> dict | None:
    """The manifest of a finished release folder (not a symlink), or None."""
    if folder.is_symlink():
        return None
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        examples = manifest["files"]["examples.jsonl"]
        valid = (manifest["version"] == folder.name and isinstance(examples["sha256"], str)
                 and isinstance(examples["records"], int))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if valid else None


def _created_at(manifest: dict) -> datetime:
    try:
        return datetime.fromisoformat(manifest["created_at"])
    except (KeyError, TypeError, ValueError):
        return datetime.now(timezone.utc)


def _scan(items: Iterable[tuple[dict, dict]]) -> tuple[list[str], np.ndarray, list[str]]:
    """First pass: check order and offsets, and group duplicates. Keeps ids and a few integers
    per example."""
    ids: list[str] = []
    signatures: list[np.ndarray] = []
    targets: set[str] = set()
    for example, _meta in items:
        if ids and example["id"] <= ids[-1]:
            raise InputError(f"examples must be sorted by id without repeats: {example['id']!r} after {ids[-1]!r}",
                             errors={"id": example["id"]})
        check_offsets(example)
        ids.append(example["id"])
        signatures.append(dedup.signature(example["text"]))
        targets.update(example["stance"])
    if not ids:
        raise InputError("nothing to release: no examples", errors={"accepted": 0}, code="nothing_to_release")
    return ids, dedup.group_leaders(np.vstack(signatures)), sorted(targets)


def check_offsets(example: dict) -> None:
    text = example["text"]
    for span in example["entities"]:
        if text[span["start"]:span["end"]] != span["text"]:
            raise OffsetError(f"example {example['id']}: text[{span['start']}:{span['end']}] is "
                              f"{text[span['start']:span['end']]!r}, the span says {span['text']!r}",
                              errors={"id": example["id"], "span": span})


def _group_counts(leaders: np.ndarray) -> dict:
    sizes = np.bincount(leaders)
    return {"duplicate_groups": int((sizes > 1).sum()), "examples_in_duplicate_groups": int(sizes[sizes > 1].sum())}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _rename_into_place(exports_dir, tmp, files, stats, lineage, agreement, taken) -> tuple[str, dict]:
    existing = [int(v[1:]) for v in existing_versions(exports_dir)]
    number = max([*existing, *taken], default=0) + 1
    while True:
        version = f"v{number:04d}"
        parent = max((n for n in existing if n < number), default=None)
        manifest = {"version": version, "parent": None if parent is None else f"v{parent:04d}",
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    **lineage, "split_method": SPLIT_METHOD, "stats": stats,
                    "agreement_summary": {k: v for k, v in agreement.items() if k != "low_agreement_tasks"},
                    "record_hashes": "records.jsonl: one line per example, in examples.jsonl order, "
                                     "with the SHA-256 of its examples.jsonl line and its lineage",
                    "files": dict(files)}
        chart = charts.grouped_bar_chart(f"Entity spans per label and split, {version}",
                                         stats.get("entity_labels_per_split", {}))
        (tmp / "labels.svg").write_text(chart, encoding="utf-8")
        manifest["files"]["labels.svg"] = {**file_digest(tmp / "labels.svg"), "records": None}
        (tmp / "README.md").write_text(datacard.render(manifest, agreement), encoding="utf-8")
        manifest["files"]["README.md"] = {**file_digest(tmp / "README.md"), "records": None}
        _write_json(tmp / "manifest.json", manifest)
        (tmp / WRITER_LOCK).unlink(missing_ok=True)  # not part of the release; the fd keeps the lock
        try:
            _move_into_place(tmp, exports_dir / version)
            return version, manifest
        except OSError:
            if not (exports_dir / version).exists():
                raise
            existing.append(number)
            number += 1
