"""The bad-input corpus (tests/bad_inputs/, its README lists every case) through the CLI
(`workbench ingest`) and the API (`POST /api/articles`): each case gets its specific error and
exit code or status, the good articles of the same batch are stored, and nothing stored before
is lost or changed."""
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from test_api import assert_error_shape

from workbench import workflow
from workbench.cli import main
from workbench.db import session_scope
from workbench.models import Article, ArticleRevision

CORPUS = Path(__file__).parent / "bad_inputs"
KEEP = {"id": "keep", "text": "خبر محفوظ من قبل\r\nلا يضيع"}
GOOD = "خبر سليم في الدفعة نفسها"


def read_as_open(path: Path) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def stored_texts(settings) -> dict[str, list[str]]:
    """Every article id with the texts of its revisions, in order."""
    with session_scope(settings) as session:
        out = {}
        for revision in session.scalars(select(ArticleRevision).order_by(ArticleRevision.article_id,
                                                                         ArticleRevision.number)):
            out.setdefault(revision.article_id, []).append(revision.text)
        return out


@pytest.fixture
def before(settings, settings_env):
    """An article stored before each case runs: it must come out of every case unchanged."""
    report = workflow.ingest_records(settings, [KEEP])
    assert report.new == ["keep"]
    return stored_texts(settings)


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "good.txt"
    path.write_text(GOOD, encoding="utf-8")
    return path


def ingest(*paths):
    return CliRunner().invoke(main, ["ingest", *map(str, paths)], catch_exceptions=False)


def error_lines(result) -> list[str]:
    return sorted(line for line in result.stderr.splitlines() if line.startswith("error: "))


def assert_kept_and_good_stored(settings, before, *new_ids):
    texts = stored_texts(settings)
    assert texts["keep"] == before["keep"] == [KEEP["text"]]
    assert sorted(texts) == sorted(["keep", *new_ids])
    return texts


def corpus_copy(tmp_path, name) -> Path:
    target = tmp_path / name
    shutil.copyfile(CORPUS / name, target)
    return target


def cp1256_error() -> str:
    first = (CORPUS / "cp1256.txt").read_bytes()[0]
    return (f"file is not UTF-8: invalid byte 0x{first:02x} at byte offset 0 (it reads as Arabic in "
            "Windows-1256: convert it with `iconv -f cp1256 -t utf-8`)")


BAD_FILES = [
    ("empty.txt", "file is empty"),
    ("blank.txt", "file is empty"),
    ("nul-bytes.txt", "file looks binary (it contains NUL bytes)"),
    ("png-header.txt", "file looks binary (it contains NUL bytes)"),
    ("cp1256.txt", None),
]


@pytest.mark.parametrize("name, message", BAD_FILES)
def test_cli_reports_a_bad_file_and_stores_the_rest_of_the_batch(settings, before, good, tmp_path, name, message):
    bad = corpus_copy(tmp_path, name)
    result = ingest(bad, good)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "new: 1, revised: 0, unchanged: 0, errors: 1"
    assert f"error: {bad}: {message or cp1256_error()}\n" in result.stderr
    assert "Traceback" not in result.output
    assert assert_kept_and_good_stored(settings, before, "good")["good"] == [GOOD]


@pytest.mark.parametrize("data, errors", [
    ((CORPUS / "empty.txt").read_bytes(), {"body": "empty"}),
    ((CORPUS / "blank.txt").read_bytes(), {"body": "empty"}),
    ((CORPUS / "png-header.txt").read_bytes(), {"body": "not UTF-8"}),
    ((CORPUS / "cp1256.txt").read_bytes(), {"body": "not UTF-8"}),
    ((CORPUS / "nul-bytes.txt").read_bytes(), {"body": "not JSON"}),
    ((CORPUS / "mixed.jsonl").read_bytes(), {"body": "not UTF-8"}),  # its line 4 is Latin-1
    ((CORPUS / "mixed.jsonl").read_bytes().split(b"\n")[1], {"body": "not JSON"}),
])
def test_api_refuses_a_bad_file_posted_as_the_body(client, auth, settings, before, data, errors):
    r = client.post("/api/articles", headers=auth, data=data, content_type="application/json")
    body = assert_error_shape(r, 400, "invalid_json")
    assert body["errors"] == errors
    assert_kept_and_good_stored(settings, before)


def test_api_refuses_a_nul_text_and_stores_the_good_record_beside_it(client, auth, settings, before):
    text = (CORPUS / "nul-bytes.txt").read_bytes().decode()
    r = client.post("/api/articles", headers=auth, json=[{"id": "nul", "text": text}, {"id": "good", "text": GOOD}])
    assert r.status_code == 201 and r.get_json()["new"] == ["good"]
    assert r.get_json()["errors"] == [{"where": "api[0]", "field": "text",
                                       "message": "text: text contains NUL characters (binary data?)"}]
    assert_kept_and_good_stored(settings, before, "good")


def test_bom_and_crlf_file_is_stored_as_text_mode_reads_it(settings, before, good, tmp_path):
    path = corpus_copy(tmp_path, "bom-crlf.txt")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    result = ingest(path, good)
    assert result.exit_code == 0, result.output
    stored = assert_kept_and_good_stored(settings, before, "bom-crlf", "good")["bom-crlf"]
    assert stored == [read_as_open(path)]  # the README's promise: open(path, encoding="utf-8").read()
    assert stored[0] == raw.decode("utf-8").replace("\r\n", "\n")  # BOM kept as U+FEFF, CRLF read as LF
    assert stored[0].startswith("\ufeff") and "\r" not in stored[0]
    with session_scope(settings) as session:
        assert session.get(Article, "bom-crlf").title == "عنوان الخبر"
    assert ingest(path).stdout.splitlines()[-1] == "new: 0, revised: 0, unchanged: 1, errors: 0"


def test_api_stores_bom_and_crlf_text_exactly(client, auth, settings, before):
    with open(CORPUS / "bom-crlf.txt", encoding="utf-8", newline="") as handle:
        text = handle.read()
    assert text.startswith("\ufeff") and "\r\n" in text
    r = client.post("/api/articles", headers=auth, json={"id": "bom-crlf", "text": text})
    assert r.status_code == 201
    assert assert_kept_and_good_stored(settings, before, "bom-crlf")["bom-crlf"] == [text]


def test_emoji_zwj_and_direction_marks_are_stored_byte_exact(client, auth, settings, before, tmp_path):
    path = corpus_copy(tmp_path, "emoji-zwj-rtl.txt")
    raw = path.read_bytes()
    for mark in ("\u200d", "\u200f", "\u200e", "\u202b", "\u202c", "\u2066", "\u2067", "\u2069", "\u200c"):
        assert mark.encode() in raw
    result = ingest(path)
    assert result.exit_code == 0, result.output
    texts = assert_kept_and_good_stored(settings, before, "emoji-zwj-rtl")
    assert texts["emoji-zwj-rtl"][0].encode("utf-8") == raw
    family = "👨‍👩‍👧‍👦"
    start = texts["emoji-zwj-rtl"][0].index(family)
    assert texts["emoji-zwj-rtl"][0][start:start + len(family)] == family and len(family) == 7  # str indices
    r = client.post("/api/articles", headers=auth, json={"id": "emoji-api", "text": raw.decode()})
    assert r.status_code == 201
    assert stored_texts(settings)["emoji-api"][0].encode("utf-8") == raw


def test_cli_mixed_jsonl_stores_the_good_lines_and_names_each_bad_one(settings, before, tmp_path):
    path = corpus_copy(tmp_path, "mixed.jsonl")
    result = ingest(path)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "new: 3, revised: 0, unchanged: 0, errors: 5"
    errors = [line.removeprefix(f"error: {path}:") for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith("2: malformed JSON: Expecting value at column ")
    assert errors[1:] == [
        "3: JSON nested 101 levels deep, over the limit of 64 (WORKBENCH_MAX_JSON_DEPTH)",
        "4: line is not UTF-8: invalid byte 0xe9 at byte offset 35",
        "5: text: Missing data for required field.",
        "6: expected a JSON object, got array",
    ]
    texts = assert_kept_and_good_stored(settings, before, "mixed-good-1", "mixed-good-2", "mixed-good-3")
    assert texts["mixed-good-2"] == ["خبر ثان\r\nبسطرين"]  # a JSON text is stored exactly as the JSON says
    assert texts["mixed-good-3"] == [(CORPUS / "emoji-zwj-rtl.txt").read_text(encoding="utf-8")]


def test_api_batch_with_bad_records_stores_the_good_ones(client, auth, settings, before):
    lines = (CORPUS / "mixed.jsonl").read_bytes().split(b"\n")
    records = [json.loads(lines[i].decode("utf-8-sig")) for i in (0, 4, 5, 7, 8)]
    r = client.post("/api/articles", headers=auth, json={"articles": records})
    body = r.get_json()
    assert r.status_code == 201 and body["new"] == ["mixed-good-1", "mixed-good-2", "mixed-good-3"]
    assert [(e["where"], e["message"]) for e in body["errors"]] == [
        ("api[1]", "text: Missing data for required field."), ("api[2]", "expected a JSON object, got array")]
    assert_kept_and_good_stored(settings, before, "mixed-good-1", "mixed-good-2", "mixed-good-3")


def test_a_10_mb_text_is_refused_by_name_and_the_batch_goes_on(client, auth, settings, before, good, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(("ا" * 5_000_000).encode())
    result = ingest(big, good)
    assert result.exit_code == 1
    assert (f"error: {big}: file is 10000000 bytes, over the limit of 2000000 (WORKBENCH_MAX_ARTICLE_BYTES)"
            in result.stderr)
    assert_kept_and_good_stored(settings, before, "good")
    body = json.dumps([{"id": "big", "text": "ا" * 5_000_000}, {"id": "good-api", "text": GOOD}], ensure_ascii=False)
    r = client.post("/api/articles", headers=auth, data=body.encode(), content_type="application/json")
    assert r.status_code == 201 and r.get_json()["new"] == ["good-api"]
    assert r.get_json()["errors"][0]["field"] == "text" and "WORKBENCH_MAX_ARTICLE_BYTES" in r.get_json()["errors"][0][
        "message"]
    assert_kept_and_good_stored(settings, before, "good", "good-api")


def test_a_body_over_the_request_limit_is_413_and_stores_nothing(client, auth, settings, before):
    body = json.dumps([{"text": f"خبر {i}"} for i in range(1_200_000)], ensure_ascii=False).encode()
    assert len(body) > 16_000_000
    r = client.post("/api/articles", headers=auth, data=body, content_type="application/json")
    assert assert_error_shape(r, 413, "payload_too_large")["errors"] == {"body": "over 16000000 bytes"}
    assert_kept_and_good_stored(settings, before)


def test_100000_nested_brackets_cost_neither_the_command_nor_the_batch(client, auth, settings, before, tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_bytes('{"id": "before-deep", "text": "قبل"}\n'.encode() + b"[" * 100_000 + b"]" * 100_000
                     + '\n{"id": "after-deep", "text": "بعد"}\n'.encode())
    result = ingest(path)
    assert result.exit_code == 1 and "Traceback" not in result.output and "RecursionError" not in result.output
    assert (f"error: {path}:2: JSON nested 100000 levels deep, over the limit of 64 (WORKBENCH_MAX_JSON_DEPTH)"
            in result.stderr)
    assert result.stdout.splitlines()[-1] == "new: 2, revised: 0, unchanged: 0, errors: 1"
    assert_kept_and_good_stored(settings, before, "before-deep", "after-deep")
    r = client.post("/api/articles", headers=auth, data=b"[" * 100_000 + b"]" * 100_000,
                    content_type="application/json")
    body = assert_error_shape(r, 400, "invalid_json")
    assert body["errors"] == {"body": "too deep"} and "WORKBENCH_MAX_JSON_DEPTH" in body["message"]
    assert_kept_and_good_stored(settings, before, "before-deep", "after-deep")


def test_a_lone_surrogate_escape_is_reported_by_line_not_a_crash(client, auth, settings, before, tmp_path):
    path = tmp_path / "surrogates.jsonl"
    path.write_text('{"id": "s-ok", "text": "سليم"}\n{"text": "bad \\ud800"}\n'
                    '{"id": "s-title", "text": "x", "title": "\\udfff"}\n{"id": "s-emoji", "text": "\\ud83d\\ude00"}\n',
                    encoding="utf-8")
    result = ingest(path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert error_lines(result) == [
        f"error: {path}:2: not valid Unicode: a string holds the lone surrogate \\ud800",
        f"error: {path}:3: not valid Unicode: a string holds the lone surrogate \\udfff",
    ]
    assert assert_kept_and_good_stored(settings, before, "s-ok", "s-emoji")["s-emoji"] == ["\U0001F600"]
    r = client.post("/api/articles", headers=auth, data=b'{"id": "s-api", "text": "\\ud800"}',
                    content_type="application/json")
    assert assert_error_shape(r, 400, "invalid_json")["errors"] == {"body": "not Unicode"}
    assert_kept_and_good_stored(settings, before, "s-ok", "s-emoji")


def test_a_jsonl_line_longer_than_any_article_is_skipped_unread(settings, before, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_ARTICLE_BYTES", "1000")
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"text": "' + b"x" * 300_000 + b'"}\n' + '{"id": "short", "text": "قصير"}\n'.encode())
    result = ingest(path)
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {path}:1: line is over 106000 bytes, the limit for one JSONL line "
                                   "(from WORKBENCH_MAX_ARTICLE_BYTES): skipped"]
    assert_kept_and_good_stored(settings, before, "short")


def test_a_symlink_loop_in_a_folder_is_reported_not_followed(settings, before, good, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(good, folder / "sub" / "good.txt")
    os.symlink(folder / "loop-b.txt", folder / "loop-a.txt")
    os.symlink(folder / "loop-a.txt", folder / "loop-b.txt")
    os.symlink(folder, folder / "sub" / "up")  # a folder link back to an ancestor
    result = ingest(folder)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {folder / 'loop-a.txt'}: broken or looping symbolic link: skipped",
        f"error: {folder / 'loop-b.txt'}: broken or looping symbolic link: skipped",
        f"error: {folder / 'sub' / 'up'}: symbolic link to the folder {folder.resolve()}: not followed "
        "(give that folder to ingest to include it)",
    ]
    assert result.stdout.splitlines()[-1] == "new: 1, revised: 0, unchanged: 0, errors: 3"
    assert_kept_and_good_stored(settings, before, "good")
    direct = ingest(folder / "loop-a.txt")
    assert direct.exit_code == 1
    assert f"error: {folder / 'loop-a.txt'}: broken or looping symbolic link\n" in direct.stderr


def test_a_folder_symlink_pointing_outside_is_not_followed(settings, before, good, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.txt").write_text("نص خارج المجلد", encoding="utf-8")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(good, folder / "good.txt")
    os.symlink(outside, folder / "outside")
    os.symlink(outside / "private.txt", folder / "linked.txt")  # a link to a file is read, like the file
    os.symlink(tmp_path / "missing.txt", folder / "dangling.txt")
    result = ingest(folder)
    assert result.exit_code == 1
    assert error_lines(result) == sorted([
        f"error: {folder / 'outside'}: symbolic link to the folder {outside.resolve()}: not followed "
        "(give that folder to ingest to include it)",
        f"error: {folder / 'dangling.txt'}: broken or looping symbolic link: skipped",
    ])
    texts = assert_kept_and_good_stored(settings, before, "good", "linked")
    assert "private" not in texts and texts["linked"] == ["نص خارج المجلد"]


def test_a_jsonl_file_of_blank_lines_is_reported_empty(settings, before, tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n  \r\n\t\n")
    result = ingest(path)
    assert result.exit_code == 1 and error_lines(result) == [f"error: {path}: file is empty"]
    assert_kept_and_good_stored(settings, before)


def test_a_fifo_given_by_name_is_refused_not_waited_on(settings, before, tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    result = ingest(fifo)
    assert result.exit_code == 1 and error_lines(result) == [f"error: {fifo}: not a regular file"]
    assert_kept_and_good_stored(settings, before)


def test_an_unreadable_subfolder_is_reported_and_the_rest_stored(settings, before, good, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    shutil.copyfile(good, folder / "good.txt")
    real_scandir = os.scandir

    def scandir(path):  # as a folder without read permission answers (the tests may run as root)
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr("workbench.articles.os.scandir", scandir)
    result = ingest(folder)
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {folder / 'locked'}: cannot read folder: Permission denied"]
    assert_kept_and_good_stored(settings, before, "good")


def test_a_folder_of_nothing_but_bad_inputs_stores_nothing_and_loses_nothing(settings, before, tmp_path):
    folder = tmp_path / "all-bad"
    folder.mkdir()
    for name, _message in BAD_FILES:
        shutil.copyfile(CORPUS / name, folder / name)
    result = ingest(folder)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == f"new: 0, revised: 0, unchanged: 0, errors: {len(BAD_FILES)}"
    assert_kept_and_good_stored(settings, before)


def test_every_corpus_file_is_in_the_readme():
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for path in CORPUS.iterdir():
        if path.name not in ("README.md", ".gitattributes"):
            assert f"`{path.name}`" in readme
