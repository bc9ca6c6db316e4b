"""Model bundles: the pre-annotator's learnable parts, trained together from one release, as one
directory (var/models/<model_version>/):

    ner-crf.crfsuite, ner-crf.json, ner-crf.names.json   the CRF tagger and its sidecars
    lexicon.tsv                                           names learned from the release
    stance.pkl                                            the stance classifier, when trained
    model.json                                            what the bundle is (see retrain.py)
    MODEL_CARD.md                                         model.json for people (model_card.py)

model.json lists every other file with its SHA-256 and size; a bundle whose files do not match
it is refused, naming the file. Bundles are registered in the bridge's database (ModelBundle)
and promoted or rolled back by appending to ModelPromotion: the current bundle is the last
promotion's, nothing is ever deleted. A bundle directory is written to a temporary folder and
renamed into place; an existing one is never overwritten."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import model_card
from .db import session_scope
from .digests import file_digest
from .errors import InputError, NotFound
from .models import ModelBundle, ModelPromotion

MODEL_JSON = "model.json"
NER_MODEL = "ner-crf.crfsuite"
LEXICON = "lexicon.tsv"
STANCE_MODEL = "stance.pkl"
ACTIONS = ("promote", "rollback")


file_entry = file_digest  # a file's entry in model.json: {"sha256", "bytes"}, as in a release manifest


def content_version(files: dict, ledger: dict | None) -> str:
    """"bundle-" + a short hash of the files' hashes and the ledger: the same parts, the same name."""
    parts = {"files": {name: entry["sha256"] for name, entry in sorted(files.items())}, "ledger": ledger}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"bundle-{digest[:12]}"


# --- writing and reading a bundle directory ---------------------------------------------------

def finish_bundle(tmp: Path, info: dict, out: Path | None, models_dir: Path) -> Path:
    """Hashes the files in `tmp`, writes model.json (info + model_version + files) and renames
    `tmp` to `out` (default models_dir/<model_version>). An existing directory is never
    overwritten: the default one, named by content, already holds these very files and is kept
    (tmp is removed); an explicit --out that exists is an error."""
    files = {p.name: file_entry(p) for p in sorted(tmp.iterdir())
             if p.is_file() and p.name not in (MODEL_JSON, model_card.FILE)}
    model_version = content_version(files, info.get("ledger"))
    model_json = {"model_version": model_version, **info, "files": files}
    (tmp / MODEL_JSON).write_text(json.dumps(model_json, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (tmp / model_card.FILE).write_text(model_card.render(model_json), encoding="utf-8")  # a reading of model.json
    target = Path(out) if out else Path(models_dir) / model_version
    if target.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        if out:
            raise InputError(f"--out {target} exists: a bundle is never written over another directory",
                             errors={"--out": str(target)})
        verify_bundle(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(tmp, target)
    return target


def read_model_json(directory: Path) -> dict:
    path = Path(directory) / MODEL_JSON
    if not Path(directory).is_dir():
        raise InputError(f"{directory}: not a model bundle directory", errors={"bundle": str(directory)})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the bundle's model.json: {exc}", errors={"file": str(path)})
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict) or "model_version" not in data:
        raise InputError(f"{path}: not a bundle's model.json (needs model_version and files)",
                         errors={"file": str(path)})
    return data


def verify_bundle(directory: Path, model_json_sha256: str | None = None) -> dict:
    """model.json of a bundle whose every listed file is there with its SHA-256 and size (and,
    given, whose model.json has that SHA-256: the one registered); else InputError naming the file."""
    directory = Path(directory)
    if model_json_sha256 is not None and (directory / MODEL_JSON).is_file():
        found = file_entry(directory / MODEL_JSON)["sha256"]
        if found != model_json_sha256:
            raise InputError(f"{directory / MODEL_JSON} does not match the registered bundle (sha256 {found}, "
                             f"registered {model_json_sha256})", errors={"file": str(directory / MODEL_JSON)})
    data = read_model_json(directory)
    for name, entry in data["files"].items():
        path = directory / name
        if not path.is_file():
            raise InputError(f"{path} is missing: model.json lists it", errors={"file": str(path)})
        found = file_entry(path)
        if found != {"sha256": entry.get("sha256"), "bytes": entry.get("bytes")}:
            raise InputError(f"{path} does not match model.json (sha256 {found['sha256']}, {found['bytes']} bytes; "
                             f"model.json: {entry.get('sha256')}, {entry.get('bytes')} bytes)",
                             errors={"file": str(path)})
    return data


def bundle_preannotator(directory: Path, targets: list[str], model_json_sha256: str | None = None):
    """The default engine built from a verified bundle's files and ledger."""
    from .preannotation.loading import default_preannotator  # the engine: loaded only when asked for
    directory = Path(directory)
    data = verify_bundle(directory, model_json_sha256)
    return engine_from_files(directory, data, targets, default_preannotator)


def engine_from_files(directory: Path, data: dict, targets: list[str], build):
    files = data["files"]
    return build(targets, ner_model=directory / NER_MODEL if NER_MODEL in files else None,
                 stance_model=directory / STANCE_MODEL if STANCE_MODEL in files else None,
                 lexicon=directory / LEXICON if LEXICON in files else None, ledger=data.get("ledger"),
                 shipped_tagger_after=bool(data.get("shipped_tagger_after")))


# --- the registry -------------------------------------------------------------------------------

def register(session: Session, directory: Path) -> ModelBundle:
    """The bundle's registry row (created the first time), after checking its files."""
    directory = Path(directory).resolve()
    data = verify_bundle(directory)
    found = session.scalars(select(ModelBundle).where(ModelBundle.model_version == data["model_version"])).first()
    if found is not None:
        return found
    release = data.get("release") or {}
    bundle = ModelBundle(path=str(directory), model_version=data["model_version"],
                         model_json_sha256=file_entry(directory / MODEL_JSON)["sha256"],
                         release=release.get("version") or release.get("path"))
    session.add(bundle)
    session.flush()
    return bundle


def bundles(session: Session) -> list[ModelBundle]:
    return list(session.scalars(select(ModelBundle).order_by(ModelBundle.id)))


def history(session: Session) -> list[ModelPromotion]:
    return list(session.scalars(select(ModelPromotion).order_by(ModelPromotion.id)))


def current(session: Session) -> ModelBundle | None:
    """The bundle of the last promotion (or rollback); None when none was ever promoted."""
    last = session.scalars(select(ModelPromotion).order_by(ModelPromotion.id.desc())).first()
    return session.get(ModelBundle, last.bundle_id) if last else None


def find(session: Session, name: str) -> ModelBundle:
    """A registered bundle by model_version or directory; a directory not registered yet is
    registered (its files checked)."""
    found = session.scalars(select(ModelBundle).where(ModelBundle.model_version == name)).first()
    if found is None and Path(name).is_dir():
        return register(session, Path(name))
    if found is None:
        raise NotFound(f"no model bundle {name!r}: give a registered model_version (see `workbench models list`) "
                       "or a bundle directory", errors={"bundle": name})
    return found


def promote(session: Session, bundle: ModelBundle, by: str, action: str = "promote") -> ModelPromotion | None:
    """Appends a promotion: `bundle` becomes the current one (None, and no row, when it already
    is). Its files are checked first."""
    verify_bundle(Path(bundle.path), bundle.model_json_sha256)
    previous = current(session)
    if previous is not None and previous.id == bundle.id:
        return None
    row = ModelPromotion(bundle_id=bundle.id, action=action, by=by,
                         previous_bundle_id=previous.id if previous else None)
    session.add(row)
    session.flush()
    return row


def rollback(session: Session, by: str) -> ModelPromotion:
    """Promotes again the bundle that was current before the current one (a new row: the
    history keeps both). Walks back over the history as it stands: rolling back twice goes
    back two promotions."""
    rows = history(session)
    if not rows:
        raise InputError("nothing to roll back: no bundle was ever promoted", errors={"promotions": 0})
    target = _before(rows)
    if target is None:
        raise InputError(f"nothing to roll back to: bundle {session.get(ModelBundle, rows[-1].bundle_id).model_version}"
                         " was the first promoted", errors={"promotions": len(rows)})
    return promote(session, session.get(ModelBundle, target), by, action="rollback")


def _before(rows: list[ModelPromotion]) -> int | None:
    """The bundle id current before the current one: a rollback row undoes the promotion it
    replaced, so the walk skips over the rows that rollbacks undid."""
    stack: list[int] = []
    for row in rows:
        if row.action == "rollback" and len(stack) > 1:
            stack.pop()
        else:
            stack.append(row.bundle_id)
    return stack[-2] if len(stack) > 1 else None


def describe(bundle: ModelBundle, current_id: int | None) -> dict:
    return {"model_version": bundle.model_version, "path": bundle.path, "release": bundle.release,
            "created_at": bundle.created_at.isoformat(timespec="seconds") if bundle.created_at else None,
            "model_json_sha256": bundle.model_json_sha256, "current": bundle.id == current_id}


# --- the registry, for the CLI (settings in, plain data out) -------------------------------------

def list_registered(settings) -> dict:
    with session_scope(settings) as session:
        now = current(session)
        names = {b.id: b.model_version for b in bundles(session)}
        return {"bundles": [describe(b, now.id if now else None) for b in bundles(session)],
                "history": [{"at": r.at.isoformat(timespec="seconds"), "action": r.action,
                             "model_version": names.get(r.bundle_id), "previous": names.get(r.previous_bundle_id),
                             "by": r.by} for r in history(session)]}


def show(settings, name: str) -> dict:
    """A bundle's model.json, its files checked (against the registered model.json too); a
    directory that is not registered is shown, not registered ("registry": null)."""
    with session_scope(settings) as session:
        registered = session.scalars(select(ModelBundle).where(ModelBundle.model_version == name)).first()
        if registered is None and Path(name).is_dir():
            return {"registry": None, "model_json": verify_bundle(Path(name))}
        bundle = find(session, name)
        path, sha256 = Path(bundle.path), bundle.model_json_sha256
        now = current(session)
        registry = describe(bundle, now.id if now else None)
    return {"registry": registry, "model_json": verify_bundle(path, sha256)}


def promote_named(settings, name: str, by: str) -> tuple[str, bool]:
    with session_scope(settings) as session:
        bundle = find(session, name)
        return bundle.model_version, promote(session, bundle, by) is not None


def rollback_current(settings, by: str) -> str:
    with session_scope(settings) as session:
        row = rollback(session, by)
        return session.get(ModelBundle, row.bundle_id).model_version
