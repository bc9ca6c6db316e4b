"""Stage 7 — the training-data feed: released versions as the ML team reads them, from disk
(the HTTP feed in views.py serves the same functions)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError, NotFound
from .releases import VERSION_RE, existing_versions


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
        out.append({"version": version, "created_at": manifest["created_at"],
                    "examples": manifest["files"]["examples.jsonl"]["records"],
                    "sha256": manifest["files"]["examples.jsonl"]["sha256"]})
    return out


def iter_example_lines(exports_dir: Path, version: str, split: str | None = None) -> Iterator[bytes]:
    """The raw JSONL lines of a version, optionally of one split, streamed from disk.
    Bad arguments raise here, before the first line is read."""
    version = resolve_version(exports_dir, version)
    if split not in (None, "train", "dev", "test"):
        raise InputError(f"split must be train, dev or test, got {split!r}", errors={"split": split})
    return _lines(exports_dir / version / "examples.jsonl", split)


def _lines(path: Path, split: str | None) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if split is None or json.loads(line)["split"] == split:
                yield line


def load(version: str = "latest", split: str | None = None, exports_dir: str | Path | None = None) -> list[dict]:
    """Examples of a released version as dicts: `load(version="latest", split="train")`."""
    if exports_dir is None:
        from .settings import load_settings
        exports_dir = load_settings().exports_dir
    return [json.loads(line) for line in iter_example_lines(Path(exports_dir), version, split)]
