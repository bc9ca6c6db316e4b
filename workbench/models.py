"""The bridge's own state, one table per stage of the data flow.

Nothing a user or annotator produced is overwritten: a changed article text is a new
ArticleRevision; every pulled annotation version is a new AnnotationSnapshot (raw JSON) with
its parsed Annotation beside it."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revisions: Mapped[list["ArticleRevision"]] = relationship(
        back_populates="article", order_by="ArticleRevision.number")

    @property
    def current(self) -> "ArticleRevision":
        return self.revisions[-1]


class ArticleRevision(Base):
    __tablename__ = "article_revisions"
    __table_args__ = (UniqueConstraint("article_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    article: Mapped[Article] = relationship(back_populates="revisions")


class PreAnnotation(Base):
    __tablename__ = "preannotations"
    __table_args__ = (UniqueConstraint("revision_id", "model_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("article_revisions.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(128))
    entities: Mapped[list] = mapped_column(JSON)
    stance: Mapped[dict] = mapped_column(JSON)
    score: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revision: Mapped[ArticleRevision] = relationship()


class LabelStudioProject(Base):
    __tablename__ = "ls_projects"
    __table_args__ = (UniqueConstraint("ls_url", "ls_project_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ls_url: Mapped[str] = mapped_column(Text)
    ls_project_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    config_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelStudioTask(Base):
    """The task map: which article revision is which Label Studio task."""
    __tablename__ = "ls_tasks"
    __table_args__ = (UniqueConstraint("project_id", "revision_id"), UniqueConstraint("project_id", "ls_task_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("ls_projects.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("article_revisions.id"), index=True)
    ls_task_id: Mapped[int] = mapped_column(Integer)
    task_key: Mapped[str] = mapped_column(String(200))
    model_versions: Mapped[list] = mapped_column(JSON, default=list)
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    project: Mapped[LabelStudioProject] = relationship()
    revision: Mapped[ArticleRevision] = relationship()


class AnnotationSnapshot(Base):
    """Raw annotation JSON as Label Studio returned it; append-only, one row per distinct version."""
    __tablename__ = "annotation_snapshots"
    __table_args__ = (UniqueConstraint("task_id", "ls_annotation_id", "raw_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("ls_tasks.id"), index=True)
    ls_annotation_id: Mapped[int] = mapped_column(Integer, index=True)
    raw: Mapped[dict] = mapped_column(JSON)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Annotation(Base):
    """The parsed form of one snapshot: spans checked against the task text, stance per target."""
    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("annotation_snapshots.id"), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("ls_tasks.id"), index=True)
    ls_annotation_id: Mapped[int] = mapped_column(Integer, index=True)
    annotator: Mapped[str | None] = mapped_column(Text)
    entities: Mapped[list] = mapped_column(JSON)
    stance: Mapped[dict] = mapped_column(JSON)
    problems: Mapped[list] = mapped_column(JSON)
    was_cancelled: Mapped[bool] = mapped_column(Boolean)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    ground_truth: Mapped[bool] = mapped_column(Boolean)
    ls_updated_at: Mapped[str | None] = mapped_column(String(64))
    review: Mapped[str | None] = mapped_column(String(16))  # the reviewer's ACCEPT/REJECT choice, if any
    last_action: Mapped[str | None] = mapped_column(String(32))  # Label Studio's review status, where kept
    task: Mapped[LabelStudioTask] = relationship()
    snapshot: Mapped[AnnotationSnapshot] = relationship()


class PullRun(Base):
    """One pull: full or incremental (tasks updated after `watermark`, Label Studio's own clock)."""
    __tablename__ = "pull_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("ls_projects.id"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    watermark: Mapped[str | None] = mapped_column(String(40))
    tasks_seen: Mapped[int] = mapped_column(Integer, default=0)
    new_snapshots: Mapped[int] = mapped_column(Integer, default=0)


class RunLock(Base):
    """One writer at a time per project and kind of run (push, pull): the row exists while a run holds
    it. `token` is the holder's own random id; `heartbeat_at` is refreshed while it runs, so a lock whose
    holder died is recognised (dead pid on this host, or no heartbeat for a while) and taken over."""
    __tablename__ = "run_locks"
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(Text)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """A unit of background work (today: a webhook's pull), run by whichever worker claims it
    (workbench/jobs.py). `queue_key` is set only while the job is queued and is unique, so one queued
    job per key exists at most; `revision` counts the merges into it; `token` names the claimer,
    `heartbeat_at` its lease."""
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    queue_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    token: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # bumped by each merge: no lost update
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Release(Base):
    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    examples: Mapped[int] = mapped_column(Integer)
    examples_sha256: Mapped[str] = mapped_column(String(64))
    review_policy: Mapped[str] = mapped_column(String(64))


class ModelBundle(Base):
    """A model bundle directory (workbench/bundles.py): its model.json's hash as registered."""
    __tablename__ = "model_bundles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    model_json_sha256: Mapped[str] = mapped_column(String(64))
    release: Mapped[str | None] = mapped_column(Text)  # the release version (or examples.jsonl path) trained from
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelPromotion(Base):
    """Append-only: which bundle became the current one, when, by what; the last row is current."""
    __tablename__ = "model_promotions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("model_bundles.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    by: Mapped[str | None] = mapped_column(Text)  # the command that did it, e.g. "workbench models promote"
    previous_bundle_id: Mapped[int | None] = mapped_column(ForeignKey("model_bundles.id"))
