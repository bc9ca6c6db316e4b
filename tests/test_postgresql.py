"""The bridge's state on PostgreSQL: a fresh database on the session's throwaway server
(conftest.py's postgres_url, started from the machine's initdb/pg_ctl), through a postgresql+psycopg URL."""
import pytest
from conftest import make_settings
from test_label_studio import test_end_to_end_spans_and_stances_come_out_of_the_feed as end_to_end

from workbench import workflow
from workbench.db import session_scope
from workbench.models import Article


@pytest.fixture
def pg_settings(tmp_path, pg_database_url, label_studio):
    return make_settings(tmp_path, database_url=pg_database_url, label_studio_url=label_studio["url"],
                         label_studio_token=label_studio["token"], project_title=f"pg {pg_database_url[-9:]}")


@pytest.mark.label_studio
def test_whole_loop_on_postgresql(pg_settings, sample_corpus, annotator, gold):
    end_to_end(pg_settings, sample_corpus, annotator, gold)
    with session_scope(pg_settings) as session:
        article = session.get(Article, gold[0]["id"])
        assert article.current.text == gold[0]["text"]


def test_revisions_on_postgresql(pg_settings, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("نص أول", encoding="utf-8")
    workflow.ingest_paths(pg_settings, [path])
    path.write_text("نص ثان", encoding="utf-8")
    assert workflow.ingest_paths(pg_settings, [path]).revised == ["a"]
    assert workflow.status(pg_settings)["counts"]["revisions"] == 2
