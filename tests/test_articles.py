import json

import pytest
from sqlalchemy import select

from workbench import articles
from workbench.db import session_scope
from workbench.models import Article, ArticleRevision

MAX = 10_000


def read_as_open(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def ingest(settings, *paths):
    with session_scope(settings) as session:
        return articles.ingest_paths(session, list(paths), MAX)


def revisions(settings, article_id):
    with session_scope(settings) as session:
        return [(r.number, r.text) for r in session.scalars(
            select(ArticleRevision).where(ArticleRevision.article_id == article_id).order_by(ArticleRevision.number))]


def test_txt_text_is_the_full_content_and_short_first_line_is_title(settings, tmp_path):
    content = "عنوان قصير\n\nقال الرئيس «زيلينسكي» إنّ ...\n  مع مسافات  \n"
    path = tmp_path / "a1.txt"
    path.write_text(content, encoding="utf-8")
    report = ingest(settings, path)
    assert report.new == ["a1"]
    with session_scope(settings) as session:
        article = session.get(Article, "a1")
        assert article.title == "عنوان قصير"
        assert article.current.text == content == read_as_open(path)


def test_windows_newlines_read_as_open_reads_them(settings, tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("سطر\r\nسطر ثان\r\n".encode())
    ingest(settings, path)
    assert revisions(settings, "crlf")[0][1] == read_as_open(path) == "سطر\nسطر ثان\n"


def test_long_first_line_is_not_a_title(settings, tmp_path):
    (tmp_path / "long.txt").write_text("ك" * 200 + "\nبقية", encoding="utf-8")
    ingest(settings, tmp_path / "long.txt")
    with session_scope(settings) as session:
        assert session.get(Article, "long").title is None


def test_reingesting_identical_changes_nothing_and_changed_text_is_a_revision(settings, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("النص الأول", encoding="utf-8")
    assert ingest(settings, path).new == ["story"]
    assert ingest(settings, path).unchanged == ["story"]
    path.write_text("النص المعدل", encoding="utf-8")
    assert ingest(settings, path).revised == ["story"]
    assert revisions(settings, "story") == [(1, "النص الأول"), (2, "النص المعدل")]


def test_folder_is_ingested_recursively_in_name_order(settings, tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "b.txt").write_text("ب", encoding="utf-8")
    (tmp_path / "in" / "sub" / "a.txt").write_text("أ", encoding="utf-8")
    (tmp_path / "in" / "notes.md").write_text("ignored", encoding="utf-8")
    report = ingest(settings, tmp_path / "in")
    assert sorted(report.new) == ["a", "b"] and not report.errors


def test_jsonl_records_and_id_from_content(settings, tmp_path):
    path = tmp_path / "batch.jsonl"
    lines = [{"id": "x-1", "title": "t", "text": "نص", "source": "s", "published": "2024-04-05",
              "url": "https://example.com/a"}, {"text": "نص بلا معرف"}]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8")
    report = ingest(settings, path)
    content_id = articles.article_id_for({"text": "نص بلا معرف"})
    assert report.new == ["x-1", content_id] and not report.errors
    assert len(content_id) == 16
    assert ingest(settings, path).unchanged == ["x-1", content_id]


@pytest.mark.parametrize("name, data, fragment", [
    ("empty.txt", b"", "file is empty"),
    ("blank.txt", b"  \n\n", "file is empty"),
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "looks binary"),
    ("latin1.txt", "caf\u00e9 عربي".encode("cp1256"), "not UTF-8: invalid byte"),
    ("big.txt", ("ا" * 6000).encode(), "over the limit of 10000"),
    ("notes.pdf", b"%PDF", "unsupported file type .pdf"),
])
def test_bad_files_are_reported_by_name_and_the_rest_is_stored(settings, tmp_path, name, data, fragment):
    bad = tmp_path / name
    bad.write_bytes(data)
    good = tmp_path / "good.txt"
    good.write_text("خبر سليم", encoding="utf-8")
    report = ingest(settings, bad, good)
    assert report.new == ["good"]
    assert len(report.errors) == 1
    assert report.errors[0]["where"] == str(bad) and fragment in report.errors[0]["message"]


def test_bad_jsonl_lines_are_reported_by_line_and_the_rest_is_stored(settings, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps({"id": "ok-1", "text": "نص سليم"}).encode(),
        b'{"id": "broken", "text": ',
        json.dumps({"id": "no-text", "title": "t"}).encode(),
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps({"id": "bad id!", "text": "x"}).encode(),
        json.dumps({"text": "x", "author": "someone"}).encode(),
        b"[1, 2]",
        b'{"text": "\xff\xfe"}',
        json.dumps({"id": "ok-2", "text": "نص آخر", "url": "not a url"}).encode(),
        json.dumps({"id": "ok-3", "text": "نص ثالث"}).encode(),
    ]))
    report = ingest(settings, path)
    assert report.new == ["ok-1", "ok-3"]
    by_line = {e["where"].rsplit(":", 1)[1]: e for e in report.errors}
    assert "malformed JSON" in by_line["2"]["message"]
    assert by_line["3"]["field"] == "text" and "Missing data" in by_line["3"]["message"]
    assert "text is empty" in by_line["4"]["message"]
    assert by_line["5"]["field"] == "id"
    assert by_line["6"]["field"] == "author" and "Unknown field" in by_line["6"]["message"]
    assert "expected a JSON object" in by_line["7"]["message"]
    assert "not UTF-8" in by_line["8"]["message"]
    assert by_line["9"]["field"] == "url"
    assert all(e["where"].startswith(str(path) + ":") for e in report.errors)


def test_missing_path_is_reported(settings, tmp_path):
    report = ingest(settings, tmp_path / "nope.txt")
    assert report.errors[0]["message"] == "no such file or folder"


def test_errors_lose_nothing_already_stored(settings, tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("الأصل", encoding="utf-8")
    ingest(settings, path)
    path.write_bytes(b"\x00\x01")
    report = ingest(settings, path)
    assert report.errors and not report.revised
    assert revisions(settings, "keep") == [(1, "الأصل")]
