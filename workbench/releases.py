"""Stage 6 — training-set versions: accepted annotations released as an immutable folder
exports/vNNNN/ with examples.jsonl and manifest.json.

A release is written to a temporary folder and renamed into place; an existing version is
never overwritten (the rename fails and the next number is taken)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InputError
from .models import Release
from .review import Decision

VERSION_RE = re.compile(r"^v(\d{4,})$")
SPLITS = (("train", 80), ("dev", 90), ("test", 100))


def split_of(article_id: str) -> str:
    """train/dev/test (80/10/10) from a stable hash of the article id: an article never changes split."""
    bucket = int(hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return next(name for name, upper in SPLITS if bucket < upper)


def example_from(decision: Decision) -> dict:
    revision = decision.task.revision
    return {"id": revision.article_id, "text": revision.text,
            "entities": [{k: s[k] for k in ("start", "end", "label", "text")} for s in decision.annotation.entities],
            "stance": dict(decision.annotation.stance), "split": split_of(revision.article_id)}


def example_line(example: dict) -> str:
    return json.dumps(example, ensure_ascii=False, separators=(",", ":")) + "\n"


def existing_versions(exports_dir: Path) -> list[str]:
    if not exports_dir.exists():
        return []
    return sorted((p.name for p in exports_dir.iterdir() if p.is_dir() and VERSION_RE.match(p.name)),
                  key=lambda v: int(v[1:]))


def _next_version(exports_dir: Path, session: Session) -> int:
    numbers = [int(v[1:]) for v in existing_versions(exports_dir)]
    numbers += [int(v[1:]) for v in session.scalars(select(Release.version))]
    return max(numbers, default=0) + 1


def write_release(session: Session, exports_dir: Path, decisions: list[Decision], lineage: dict) -> tuple[str, dict]:
    """Write the accepted examples as the next version; returns (version, manifest)."""
    examples = sorted((example_from(d) for d in decisions if d.accepted), key=lambda e: e["id"])
    if not examples:
        raise InputError("nothing to release: no accepted annotations (run `workbench pull` and see its report)",
                         errors={"accepted": 0}, code="nothing_to_release")
    exports_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-release-", dir=exports_dir))
    try:
        files = {"examples.jsonl": _write_lines(tmp / "examples.jsonl", map(example_line, examples))}
        version, manifest = _rename_into_place(session, exports_dir, tmp, files, lineage)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    session.add(Release(version=version, examples=len(examples), examples_sha256=files["examples.jsonl"]["sha256"],
                        review_policy=lineage.get("review_policy", "")))
    session.flush()
    return version, manifest


def _write_lines(path: Path, lines) -> dict:
    digest, count, size = hashlib.sha256(), 0, 0
    with path.open("wb") as handle:
        for line in lines:
            data = line.encode("utf-8")
            handle.write(data)
            digest.update(data)
            count, size = count + 1, size + len(data)
        handle.flush()
        os.fsync(handle.fileno())
    return {"sha256": digest.hexdigest(), "records": count, "bytes": size}


def _rename_into_place(session, exports_dir, tmp, files, lineage):
    number = _next_version(exports_dir, session)
    while True:
        version = f"v{number:04d}"
        manifest = {"version": version, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "files": files, **lineage}
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
        try:
            os.rename(tmp, exports_dir / version)
            return version, manifest
        except OSError:
            if not (exports_dir / version).exists():
                raise
            number += 1
