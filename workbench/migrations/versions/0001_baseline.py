"""Baseline: the schema of workbench/models.py at commit 0df821f, the last one the pre-Alembic code made.

Revision ID: 0001
Revises:
Create Date: 2026-12-02

On an empty database this creates every table. On a database the pre-Alembic workbench made (its tables
are there, no alembic_version) it is that code's old upgrade-on-start step instead: tables it lacks are
created, columns it lacks are added as nullable (existing rows get NULL) and missing indexes are built;
nothing present is changed. Either way the database is then stamped 0001 and later revisions follow.
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _articles():
    return (
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("published", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _ls_projects():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ls_url", sa.Text(), nullable=False),
        sa.Column("ls_project_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("config_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ls_url", "ls_project_id"),
    )


def _releases():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("examples_sha256", sa.String(length=64), nullable=False),
        sa.Column("review_policy", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version"),
    )


def _article_revisions():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "number"),
    )


def _pull_runs():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermark", sa.String(length=40), nullable=True),
        sa.Column("tasks_seen", sa.Integer(), nullable=False),
        sa.Column("new_snapshots", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["ls_projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def _ls_tasks():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("ls_task_id", sa.Integer(), nullable=False),
        sa.Column("task_key", sa.String(length=200), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["ls_projects.id"]),
        sa.ForeignKeyConstraint(["revision_id"], ["article_revisions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "revision_id"),
        sa.UniqueConstraint("project_id", "ls_task_id"),
    )


def _preannotations():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("stance", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["revision_id"], ["article_revisions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("revision_id", "model_version"),
    )


def _annotation_snapshots():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("ls_annotation_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["ls_tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "ls_annotation_id", "raw_sha256"),
    )


def _annotations():
    return (
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("ls_annotation_id", sa.Integer(), nullable=False),
        sa.Column("annotator", sa.Text(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("stance", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("was_cancelled", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("ground_truth", sa.Boolean(), nullable=False),
        sa.Column("ls_updated_at", sa.String(length=64), nullable=True),
        sa.Column("review", sa.String(length=16), nullable=True),
        sa.Column("last_action", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["annotation_snapshots.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["ls_tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("snapshot_id"),
    )


# (table, its columns and constraints, its indexed columns), parents before children
TABLES = [
    ("articles", _articles, []),
    ("ls_projects", _ls_projects, []),
    ("releases", _releases, []),
    ("article_revisions", _article_revisions, ["article_id", "text_sha256"]),
    ("pull_runs", _pull_runs, ["project_id"]),
    ("ls_tasks", _ls_tasks, ["project_id", "revision_id"]),
    ("preannotations", _preannotations, ["revision_id"]),
    ("annotation_snapshots", _annotation_snapshots, ["ls_annotation_id", "task_id"]),
    ("annotations", _annotations, ["ls_annotation_id", "task_id"]),
]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for table, definition, indexed in TABLES:
        if table in existing:
            _complete_legacy_table(inspector, table, definition(), indexed)
        else:
            op.create_table(table, *definition())
            for column in indexed:
                op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def _complete_legacy_table(inspector, table, definition, indexed) -> None:
    """What the pre-Alembic add-on-start code did, for a table an older workbench created."""
    present = {column["name"] for column in inspector.get_columns(table)}
    for column in definition:
        if isinstance(column, sa.Column) and column.name not in present:
            op.add_column(table, sa.Column(column.name, column.type, nullable=True))
    indexes = {index["name"] for index in inspector.get_indexes(table)}
    for column in indexed:
        if f"ix_{table}_{column}" not in indexes:
            op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not reversible: it would drop every table and what people made")
