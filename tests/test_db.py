import sqlalchemy
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text

from workbench.db import engine_for
from workbench.migrations import VERSION_TABLE, head_revisions


def columns_of(engine, table):
    return {c["name"]: c for c in sqlalchemy.inspect(engine).get_columns(table)}


def test_database_older_than_the_previous_schema_gets_its_missing_parts_and_keeps_its_rows(tmp_path):
    """An early workbench database: releases and article_revisions with fewer columns, most tables absent."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sqlalchemy.create_engine(url)
    meta = MetaData()
    Table("articles", meta, Column("id", String(128), primary_key=True), Column("title", Text))
    Table("article_revisions", meta, Column("id", Integer, primary_key=True),
          Column("article_id", String(128), ForeignKey("articles.id"), nullable=False),
          Column("number", Integer, nullable=False), Column("text", Text, nullable=False))
    Table("releases", meta, Column("id", Integer, primary_key=True), Column("version", String(16)))
    meta.create_all(old)
    with old.begin() as conn:
        conn.exec_driver_sql("INSERT INTO articles (id, title) VALUES ('a1', 'عنوان')")
        conn.exec_driver_sql("INSERT INTO article_revisions (id, article_id, number, text) VALUES (1, 'a1', 1, 'نص')")
        conn.exec_driver_sql("INSERT INTO releases (id, version) VALUES (1, 'v0001')")
    old.dispose()

    engine = engine_for(url)
    fresh = engine_for(f"sqlite:///{tmp_path / 'fresh.db'}")
    tables = sqlalchemy.inspect(fresh).get_table_names()
    assert sorted(sqlalchemy.inspect(engine).get_table_names()) == sorted(tables)
    for table in tables:
        assert set(columns_of(engine, table)) == set(columns_of(fresh, table)), table
    assert columns_of(engine, "article_revisions")["text_sha256"]["nullable"]  # added to a table with rows
    indexes = {ix["name"] for ix in sqlalchemy.inspect(engine).get_indexes("article_revisions")}
    assert {"ix_article_revisions_article_id", "ix_article_revisions_text_sha256"} <= indexes
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, title FROM articles").all() == [("a1", "عنوان")]
        assert conn.exec_driver_sql("SELECT id, article_id, number, text, text_sha256 FROM article_revisions").all() \
            == [(1, "a1", 1, "نص", None)]
        assert conn.exec_driver_sql("SELECT id, version FROM releases").all() == [(1, "v0001")]
        assert sorted(conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalars()) \
            == list(head_revisions())
