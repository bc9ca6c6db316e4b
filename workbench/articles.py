"""Stage 1 — articles: ingest .txt files, folders of them and JSONL lines into article revisions.

The task text is the input's full content exactly as read (a .txt file as
`open(path, encoding="utf-8").read()` returns it); nothing is stripped or normalised, because
every offset downstream points into it. Text mode means universal newlines: "\r\n" and a lone
"\r" are read as "\n", like every .txt reader does; a UTF-8 byte order mark is kept as U+FEFF.
JSONL text fields are stored exactly as their JSON says. Bad input is reported per file and
line; the valid rest of the batch is still stored, committed every COMMIT_EVERY articles so a
long ingest does not hold the database's write lock for its whole run. Valid records are stored in
chunks (one existence query and one bulk insert per chunk), in input order."""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from . import jsonsafe
from .errors import InputError
from .models import Article, ArticleRevision, utcnow

ID_PATTERN = r"^[\w.:\-]{1,128}$"
TITLE_MAX_CHARS = 120
SUPPORTED_SUFFIXES = (".txt", ".jsonl")
COMMIT_EVERY = 500  # stored articles per transaction in a long ingest
CHUNK_SIZE = 500  # valid records stored together: one existence query and one bulk insert per table
# A JSONL line may escape every character of a maximal text as \uXXXX (6 bytes), plus the other fields.
JSONL_LINE_FACTOR, JSONL_LINE_EXTRA = 6, 100_000


class ArticleSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(validate=validate.Regexp(
        ID_PATTERN, error="must be 1-128 letters, digits, '_', '.', ':' or '-'"))
    title = fields.String(allow_none=True, validate=validate.Length(max=1000))
    text = fields.String(required=True, metadata={  # what _text_fits checks, as the OpenAPI document says it
        "pattern": r"^[^\u0000]*\S[^\u0000]*$",
        "description": "not blank, no NUL characters, at most WORKBENCH_MAX_ARTICLE_BYTES bytes of UTF-8"})
    source = fields.String(allow_none=True, validate=validate.Length(max=1000))
    published = fields.String(allow_none=True, validate=validate.Length(max=64))
    url = fields.Url(allow_none=True, metadata={  # documented: a plain subset of what fields.Url accepts
        "pattern": r"^https?://([a-z0-9]+\.)+[a-z]{2,}(/\S*)?$", "description": "an absolute http(s) URL"})

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


@dataclass
class _Pending:
    """A validated record waiting in a chunk: its id and text hash are computed once, here."""
    record: dict
    where: str
    article_id: str
    sha: str


@dataclass
class _Batch:
    """One ingest run: where records go, what checks them, the report, and the chunked commit
    (`commit` is called once COMMIT_EVERY articles are stored since the last one; None leaves it to
    the caller). Valid records wait in a chunk of `chunk_size`; each chunk is stored with one query
    for the current revisions of its ids and one bulk insert per table (`store_article` semantics:
    a new id is a new article with revision 1, a changed text a new revision, the same text unchanged)."""
    session: Session
    schema: ArticleSchema
    report: IngestReport
    commit: Callable[[], None] | None = None
    max_json_depth: int = jsonsafe.DEFAULT_MAX_DEPTH
    chunk_size: int = CHUNK_SIZE
    pending: int = 0
    chunk: list = field(default_factory=list)

    def store(self, raw, where: str) -> None:
        record = _validate(self.schema, raw, where, self.report)
        if record is None:
            return
        sha = hashlib.sha256(record["text"].encode("utf-8")).hexdigest()
        self.chunk.append(_Pending(record, where, record.get("id") or sha[:16], sha))
        if len(self.chunk) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        """Store the waiting chunk; commit when COMMIT_EVERY articles are stored since the last commit."""
        if not self.chunk:
            return
        chunk, self.chunk = self.chunk, []
        self.pending += _store_chunk(self.session, chunk, self.report)
        if self.commit is not None and self.pending >= COMMIT_EVERY:
            self.commit()
            self.pending = 0


def _store_chunk(session: Session, chunk: list[_Pending], report: IngestReport) -> int:
    """Store a chunk of validated records in input order; returns how many were new or revised."""
    session.flush()  # the caller's own pending changes first, so the query below sees them
    ids = list(dict.fromkeys(item.article_id for item in chunk))
    current: dict[str, tuple[int, str]] = {}  # article id -> (number, text hash) of its latest revision
    for article_id, number, sha in session.execute(
            select(ArticleRevision.article_id, ArticleRevision.number, ArticleRevision.text_sha256)
            .where(ArticleRevision.article_id.in_(ids))):
        if article_id not in current or number > current[article_id][0]:
            current[article_id] = (number, sha)
    new_articles, new_revisions, stored = [], [], 0
    for item in chunk:
        latest = current.get(item.article_id)
        if latest is not None and latest[1] == item.sha:
            report.unchanged.append(item.article_id)
            continue
        record, now = item.record, utcnow()
        if latest is None:
            new_articles.append({"id": item.article_id, "external_id": record.get("id"), "title": record.get("title"),
                                 "source": record.get("source"), "published": record.get("published"),
                                 "url": record.get("url"), "created_at": now})
            report.new.append(item.article_id)
        else:
            report.revised.append(item.article_id)
        number = latest[0] + 1 if latest else 1
        new_revisions.append({"article_id": item.article_id, "number": number, "text": record["text"],
                              "text_sha256": item.sha, "origin": item.where, "created_at": now})
        current[item.article_id] = (number, item.sha)
        stored += 1
    if new_articles:
        session.execute(insert(Article), new_articles)
    if new_revisions:
        session.execute(insert(ArticleRevision), new_revisions)
    if stored and session.identity_map:
        session.expire_all()  # loaded articles would not see the revisions inserted around the ORM
    return stored


def ingest_records(session: Session, records: list, max_bytes: int, origin: str = "api",
                   report: IngestReport | None = None, commit: Callable[[], None] | None = None,
                   chunk_size: int = CHUNK_SIZE) -> IngestReport:
    """Validate and store records (dicts); each bad one is reported with its index and field."""
    batch = _Batch(session, ArticleSchema(max_bytes), report or IngestReport(), commit, chunk_size=chunk_size)
    for index, raw in enumerate(records):
        batch.store(raw, f"{origin}[{index}]" if origin == "api" else origin)
    batch.flush()
    return batch.report


def _validate(schema, raw, where, report) -> dict | None:
    """The loaded record, or None with its errors reported."""
    if not isinstance(raw, dict):
        report.add_error(where, f"expected a JSON object, got {jsonsafe.type_name(raw)}")
        return None
    try:
        return schema.load(raw)
    except ValidationError as exc:
        for name, messages in sorted(exc.normalized_messages().items()):
            msgs = messages if isinstance(messages, list) else [str(messages)]
            report.add_error(where, f"{name}: {'; '.join(map(str, msgs))}", name)
        return None


def ingest_paths(session: Session, paths: list[Path], max_bytes: int, progress=None,
                 max_json_depth: int = jsonsafe.DEFAULT_MAX_DEPTH,
                 commit: Callable[[], None] | None = None, chunk_size: int = CHUNK_SIZE) -> IngestReport:
    """Ingest .txt and .jsonl files and folders of them (recursively, in name order)."""
    batch = _Batch(session, ArticleSchema(max_bytes), IngestReport(), commit, max_json_depth, chunk_size)
    files = list(_expand(paths, batch.report))
    for path in (progress(files) if progress else files):
        if path.suffix == ".jsonl":
            _ingest_jsonl(batch, path, max_bytes)
        else:
            _ingest_txt(batch, path, max_bytes)
    batch.flush()
    return batch.report


def _expand(paths, report):
    for path in map(Path, paths):
        if path.is_dir():
            found = files_in_folder(path, report)
            if not found:
                report.add_error(str(path), "folder holds no .txt or .jsonl files")
            yield from found
        elif path.is_symlink() and not path.exists():
            report.add_error(str(path), "broken or looping symbolic link")
        elif not path.exists():
            report.add_error(str(path), "no such file or folder")
        elif path.suffix not in SUPPORTED_SUFFIXES:
            report.add_error(str(path), f"unsupported file type {path.suffix or '(none)'}: use .txt or .jsonl")
        elif not path.is_file():
            report.add_error(str(path), "not a regular file")
        else:
            yield path


def files_in_folder(folder: Path, report: IngestReport) -> list[Path]:
    """The .txt and .jsonl files under a folder, sorted. Walks without recursion and follows no
    symbolic link to a folder (a loop cannot hang it, a link cannot lead outside); links to
    folders, broken or looping links and unreadable folders are reported. A link to a file is read."""
    found, pending = [], [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            report.add_error(str(current), f"cannot read folder: {exc.strerror}")
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                _linked_file(path, found, report)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif entry.is_file(follow_symlinks=False) and path.suffix in SUPPORTED_SUFFIXES:
                found.append(path)
    return sorted(found)


def _linked_file(link: Path, found: list, report: IngestReport) -> None:
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):  # ELOOP, a missing target (RuntimeError: a loop, before Python 3.13)
        report.add_error(str(link), "broken or looping symbolic link: skipped")
        return
    if target.is_dir():
        report.add_error(str(link), f"symbolic link to the folder {target}: not followed "
                                    "(give that folder to ingest to include it)")
    elif target.is_file() and link.suffix in SUPPORTED_SUFFIXES:
        found.append(link)


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
        raise InputError(f"file is not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start}"
                         + _encoding_hint(data))
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()


def _encoding_hint(data: bytes) -> str:
    """A hint when non-UTF-8 bytes read as Arabic in Windows-1256, the usual legacy encoding."""
    try:
        text = data.decode("cp1256")
    except UnicodeDecodeError:
        return ""
    arabic = sum("\u0600" <= ch <= "\u06ff" for ch in text)
    return " (it reads as Arabic in Windows-1256: convert it with `iconv -f cp1256 -t utf-8`)" \
        if arabic * 2 >= sum(not ch.isspace() for ch in text) else ""


def _ingest_txt(batch: _Batch, path: Path, max_bytes: int) -> None:
    try:
        text = read_text_file(path, max_bytes)
    except InputError as exc:
        batch.report.add_error(str(path), exc.message, "text")
        return
    except OSError as exc:
        batch.report.add_error(str(path), f"cannot read: {exc.strerror}", "text")
        return
    record = {"id": path.stem, "text": text}
    title = title_from_text(text)
    if title:
        record["title"] = title
    batch.store(record, str(path))


def title_from_text(text: str) -> str | None:
    """A short first line, kept as the title (it stays in the text too)."""
    first, sep, rest = text.lstrip("\ufeff").partition("\n")
    first = first.strip()
    return first if sep and rest.strip() and 0 < len(first) <= TITLE_MAX_CHARS else None


def _ingest_jsonl(batch: _Batch, path: Path, max_bytes: int) -> None:
    report, cap = batch.report, JSONL_LINE_FACTOR * max_bytes + JSONL_LINE_EXTRA
    try:
        handle = path.open("rb")
    except OSError as exc:
        report.add_error(str(path), f"cannot read: {exc.strerror}")
        return
    seen = False
    with handle:
        for number, line in enumerate(_lines(handle, cap), start=1):
            where = f"{path}:{number}"
            if line is None:
                seen = True
                report.add_error(where, f"line is over {cap} bytes, the limit for one JSONL line "
                                        "(from WORKBENCH_MAX_ARTICLE_BYTES): skipped")
            elif line.strip():
                seen = True
                record = _parse_jsonl_line(line, where, report, batch.max_json_depth)
                if record is not None:
                    batch.store(record, where)
    if not seen:
        report.add_error(str(path), "file is empty")


def _lines(handle, cap: int):
    """The file's lines (bytes), each at most `cap` bytes; None in place of a longer line, which
    is skipped without being held in memory."""
    while line := handle.readline(cap + 1):
        if len(line) > cap and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(1 << 20)
            yield None
        else:
            yield line


def _parse_jsonl_line(line: bytes, where: str, report: IngestReport, max_depth: int):
    try:
        return jsonsafe.loads(line.rstrip(b"\r\n"), max_depth)
    except jsonsafe.JSONInputError as exc:
        report.add_error(where, f"line is {exc.detail}" if exc.kind == "not UTF-8" else exc.detail)
    return None


def current_revisions(*columns):
    """SELECT of every article's current (highest-numbered) revision, in article id order: the
    given columns of it, or the ArticleRevision rows themselves."""
    latest = (select(ArticleRevision.article_id, func.max(ArticleRevision.number).label("number"))
              .group_by(ArticleRevision.article_id).subquery())
    return (select(*(columns or (ArticleRevision,)))
            .join(latest, and_(ArticleRevision.article_id == latest.c.article_id,
                               ArticleRevision.number == latest.c.number))
            .order_by(ArticleRevision.article_id))
