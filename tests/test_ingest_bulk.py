"""Bulk ingest (articles.py, chunks of CHUNK_SIZE stored with one query and one insert each): the
same database and the same report whatever the chunk size, for new, repeated, changed, empty and bad
records, repeats of one id inside a chunk and across chunk boundaries, on SQLite and PostgreSQL."""
import json

from conftest import make_settings
from sqlalchemy import select

from workbench import articles
from workbench.db import session_scope
from workbench.models import Article, ArticleRevision

MAX = 10_000
FIRST = [{"id": "a1", "text": "نص أول", "title": "عنوان"}, {"id": "a2", "text": "نص ثان"},
         {"text": "مقال بلا معرف"}, {"id": "a3", "text": ""}, {"id": "a1", "text": "نص أول"},
         {"id": "a1", "text": "نص أول مصحح"}, {"id": "a4", "text": "نص رابع", "source": "spa"},
         {"id": 7, "text": "معرف غير نصي"}, {"id": "a2", "text": "نص ثان مصحح"}, {"id": "a1", "text": "نص أول"}]
SECOND = [{"id": "a4", "text": "نص رابع"}, {"id": "a4", "text": "نص رابع مصحح"}, {"text": "مقال بلا معرف"},
          {"id": "a5", "text": "نص خامس"}, {"id": "a5", "text": "نص خامس"}]


def contents(settings):
    with session_scope(settings) as session:
        return ([(a.id, a.title, a.source) for a in session.scalars(select(Article).order_by(Article.id))],
                [(r.article_id, r.number, r.text) for r in session.scalars(
                    select(ArticleRevision).order_by(ArticleRevision.article_id, ArticleRevision.number))])


def run(settings, chunk_size, tmp_path):
    reports = []
    with session_scope(settings) as session:
        reports.append(articles.ingest_records(session, FIRST, MAX, chunk_size=chunk_size).to_dict())
    path = tmp_path / f"second-{chunk_size}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in SECOND) + "{not json\n",
                    encoding="utf-8")
    with session_scope(settings) as session:
        reports.append(articles.ingest_paths(session, [path], MAX, chunk_size=chunk_size).to_dict())
    for report in reports[1:]:
        for error in report["errors"]:
            error["where"] = error["where"].replace(str(path), "FILE")
    return reports, contents(settings)


def test_chunk_size_changes_nothing_but_speed(tmp_path):
    results = [run(make_settings(tmp_path / f"h{size}"), size, tmp_path) for size in (1, 2, 3, 500)]
    assert all(result == results[0] for result in results[1:])
    (first, second), (rows, revisions) = results[0]
    assert [r for r in revisions if r[0] == "a1"] == [("a1", 1, "نص أول"), ("a1", 2, "نص أول مصحح"),
                                                     ("a1", 3, "نص أول")]
    assert ("a4", 2, "نص رابع مصحح") in revisions and ("a5", 1, "نص خامس") in revisions
    assert len(first["errors"]) == 2 and len(second["errors"]) == 1  # empty text, non-string id; bad JSON line
    assert "a5" in second["new"] and "a5" in second["unchanged"] and "a4" in second["revised"]


def test_bulk_ingest_on_postgresql_equals_sqlite(tmp_path, pg_database_url):
    sqlite = run(make_settings(tmp_path / "lite"), 2, tmp_path)
    postgres = run(make_settings(tmp_path / "pg", database_url=pg_database_url), 2, tmp_path)
    assert postgres == sqlite
