"""Stage 6 — training-set versions: accepted annotations released as an immutable folder
exports/vNNNN/ (files in release_files.py, data card in datacard.py, checks in release_check.py).

A release is written to a temporary folder and renamed into place; an existing version is
never overwritten (the rename fails and the next number is taken). Examples are streamed
twice — once to group duplicates, once to write — so memory does not grow with the texts."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import charts, datacard, dedup
from .errors import InputError, OffsetError
from .models import Release
from .release_files import ReleaseWriter, file_digest
from .review import Decision

VERSION_RE = re.compile(r"^v(\d{4,})$")
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
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-release-", dir=exports_dir))
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
        try:
            os.rename(tmp, exports_dir / version)
            return version, manifest
        except OSError:
            if not (exports_dir / version).exists():
                raise
            existing.append(number)
            number += 1
