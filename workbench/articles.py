"""Stage 1 — articles: ingest .txt files, folders of them and JSONL lines into article revisions.

The task text is the input's full content exactly as read (a .txt file as
`open(path, encoding="utf-8").read()` returns it); nothing is stripped or normalised, because
every offset downstream points into it. Bad input is reported per file and line; the valid
rest of the batch is still stored."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import Session

from .errors import InputError
from .models import Article, ArticleRevision

ID_PATTERN = r"^[\w.:\-]{1,128}$"
TITLE_MAX_CHARS = 120
SUPPORTED_SUFFIXES = (".txt", ".jsonl")


class ArticleSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(validate=validate.Regexp(
        ID_PATTERN, error="must be 1-128 letters, digits, '_', '.', ':' or '-'"))
    title = fields.String(allow_none=True, validate=validate.Length(max=1000))
    text = fields.String(required=True)
    source = fields.String(allow_none=True, validate=validate.Length(max=1000))
    published = fields.String(allow_none=True, validate=validate.Length(max=64))
    url = fields.Url(allow_none=True)

    def __init__(self, max_bytes: int, **kwargs):
        super().__init__(**kwargs)
        self.max_bytes = max_bytes

    @validates_schema
    def _text_fits(self, data, **_kwargs):
        text = data.get("text")
        if text is None:
            return
        if not text.strip():
            raise ValidationError("text is empty", "text")
        if "\x00" in text:
            raise ValidationError("text contains NUL characters (binary data?)", "text")
        if len(text.encode("utf-8")) > self.max_bytes:
            raise ValidationError(f"text is over the size limit of {self.max_bytes} bytes "
                                  "(WORKBENCH_MAX_ARTICLE_BYTES)", "text")


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def add_error(self, where: str, message: str, field_name: str | None = None):
        self.errors.append({"where": where, "field": field_name, "message": message})

    def to_dict(self) -> dict:
        return {"new": self.new, "revised": self.revised, "unchanged": self.unchanged, "errors": self.errors}


def article_id_for(record: dict) -> str:
    """The stable id: the given external id, or one derived from the text itself."""
    return record.get("id") or hashlib.sha256(record["text"].encode("utf-8")).hexdigest()[:16]


def store_article(session: Session, record: dict, origin: str) -> str:
    """Store one validated record; returns "new", "revised" or "unchanged"."""
    article_id = article_id_for(record)
    sha = hashlib.sha256(record["text"].encode("utf-8")).hexdigest()
    article = session.get(Article, article_id)
    if article is None:
        article = Article(id=article_id, external_id=record.get("id"), title=record.get("title"),
                          source=record.get("source"), published=record.get("published"), url=record.get("url"))
        session.add(article)
        session.add(ArticleRevision(article=article, number=1, text=record["text"], text_sha256=sha, origin=origin))
        session.flush()
        return "new"
    if article.current.text_sha256 == sha:
        return "unchanged"
    session.add(ArticleRevision(article=article, number=article.current.number + 1,
                                text=record["text"], text_sha256=sha, origin=origin))
    session.flush()
    session.refresh(article)
    return "revised"


def ingest_records(session: Session, records: list, max_bytes: int, origin: str = "api",
                   report: IngestReport | None = None) -> IngestReport:
    """Validate and store records (dicts); each bad one is reported with its index and field."""
    report = report or IngestReport()
    schema = ArticleSchema(max_bytes)
    for index, raw in enumerate(records):
        where = f"{origin}[{index}]" if origin == "api" else origin
        _validate_and_store(session, schema, raw, where, report)
    return report


def _validate_and_store(session, schema, raw, where, report):
    if not isinstance(raw, dict):
        report.add_error(where, f"expected a JSON object, got {type(raw).__name__}")
        return
    try:
        record = schema.load(raw)
    except ValidationError as exc:
        for name, messages in sorted(exc.normalized_messages().items()):
            msgs = messages if isinstance(messages, list) else [str(messages)]
            report.add_error(where, f"{name}: {'; '.join(map(str, msgs))}", name)
        return
    outcome = store_article(session, record, where)
    getattr(report, outcome).append(article_id_for(record))


def ingest_paths(session: Session, paths: list[Path], max_bytes: int, progress=None) -> IngestReport:
    """Ingest .txt and .jsonl files and folders of them (recursively, in name order)."""
    report = IngestReport()
    schema = ArticleSchema(max_bytes)
    files = list(_expand(paths, report))
    for path in (progress(files) if progress else files):
        if path.suffix == ".jsonl":
            _ingest_jsonl(session, schema, path, max_bytes, report)
        else:
            _ingest_txt(session, schema, path, max_bytes, report)
    return report


def _expand(paths, report):
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUPPORTED_SUFFIXES)
            if not found:
                report.add_error(str(path), "folder holds no .txt or .jsonl files")
            yield from found
        elif not path.exists():
            report.add_error(str(path), "no such file or folder")
        elif path.suffix not in SUPPORTED_SUFFIXES:
            report.add_error(str(path), f"unsupported file type {path.suffix or '(none)'}: use .txt or .jsonl")
        else:
            yield path


def read_text_file(path: Path, max_bytes: int) -> str:
    """The file's content as open(path, encoding="utf-8").read() gives it, or InputError saying why not."""
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"file is {size} bytes, over the limit of {max_bytes} (WORKBENCH_MAX_ARTICLE_BYTES)")
    data = path.read_bytes()
    if not data.strip():
        raise InputError("file is empty")
    if b"\x00" in data:
        raise InputError("file looks binary (it contains NUL bytes)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"file is not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start}")
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()


def _ingest_txt(session, schema, path, max_bytes, report):
    try:
        text = read_text_file(path, max_bytes)
    except InputError as exc:
        report.add_error(str(path), exc.message, "text")
        return
    record = {"id": path.stem, "text": text}
    title = title_from_text(text)
    if title:
        record["title"] = title
    _validate_and_store(session, schema, record, str(path), report)


def title_from_text(text: str) -> str | None:
    """A short first line, kept as the title (it stays in the text too)."""
    first, sep, rest = text.lstrip("\ufeff").partition("\n")
    first = first.strip()
    return first if sep and rest.strip() and 0 < len(first) <= TITLE_MAX_CHARS else None


def _ingest_jsonl(session, schema, path, max_bytes, report):
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        report.add_error(str(path), f"cannot read: {exc.strerror}")
        return
    if size == 0:
        report.add_error(str(path), "file is empty")
    with handle:
        for number, line in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            record = _parse_jsonl_line(line, where, report)
            if record is not None:
                _validate_and_store(session, schema, record, where, report)


def _parse_jsonl_line(line: bytes, where: str, report: IngestReport):
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        report.add_error(where, f"line is not UTF-8: invalid byte at offset {exc.start}")
    except json.JSONDecodeError as exc:
        report.add_error(where, f"malformed JSON: {exc.msg} at column {exc.colno}")
    return None
