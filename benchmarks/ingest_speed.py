"""Ingest speed: articles stored per second by `workbench ingest` (articles.ingest_paths, with a
commit every COMMIT_EVERY stored articles, as the CLI runs it) into a fresh SQLite database under /tmp.

The corpus is a .jsonl file of articles or a folder of SaudiNewsNet zips (each a JSON list of
articles: source, url, date_extracted, title, content), converted once to JSON lines under /tmp
(`text` = content, title, source, published = date_extracted; no id, so the id comes from the text
and exact duplicates are reported unchanged). The figure is distinct articles stored (new) per
second of the ingest; reading and converting the zips is not timed. With --again the same file
is ingested a second time (everything unchanged) and timed too.

Usage: python benchmarks/ingest_speed.py /work/shared/data/saudinewsnet [--chunk-size 500] [--again]
           [--keep DIR] [--json]"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import articles  # noqa: E402
from workbench.db import session_scope  # noqa: E402
from workbench.settings import load_settings  # noqa: E402

MAX_BYTES = 1_000_000


def to_jsonl(corpus: Path, out_dir: Path) -> Path:
    """The corpus as one JSONL file (a .jsonl is used as it is)."""
    if corpus.suffix == ".jsonl":
        return corpus
    out = out_dir / "corpus.jsonl"
    with out.open("w", encoding="utf-8") as lines:
        for item in sorted(corpus.glob("*.zip")):
            with zipfile.ZipFile(item) as archive:
                for name in sorted(archive.namelist()):
                    for article in json.loads(archive.read(name)):
                        record = {"text": article.get("content") or "", "title": article.get("title"),
                                  "source": article.get("source"), "published": article.get("date_extracted")}
                        lines.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def timed_ingest(settings, path: Path, chunk_size: int):
    started = time.perf_counter()
    with session_scope(settings) as session:
        report = articles.ingest_paths(session, [path], MAX_BYTES, commit=session.commit, chunk_size=chunk_size)
    return report, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--chunk-size", type=int, default=articles.CHUNK_SIZE)
    parser.add_argument("--again", action="store_true", help="ingest the same file a second time, timed")
    parser.add_argument("--keep", type=Path, help="folder for the JSONL and the database (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        parser.error(f"no such file or folder: {args.corpus}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="wb-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    jsonl = to_jsonl(args.corpus, work)
    db = work / "ingest.db"
    if db.exists():
        db.unlink()
    settings = load_settings(environ={"WORKBENCH_DATABASE_URL": f"sqlite:///{db}", "WORKBENCH_VAR_DIR": str(work / "var"),
                                      "WORKBENCH_EXPORTS_DIR": str(work / "exports")})
    with session_scope(settings):
        pass  # opening the database brings its schema to the newest migration: not timed
    report, seconds = timed_ingest(settings, jsonl, args.chunk_size)
    result = {"file": str(jsonl), "chunk_size": args.chunk_size, "seconds": round(seconds, 2),
              "new": len(report.new), "revised": len(report.revised), "unchanged": len(report.unchanged),
              "errors": len(report.errors), "articles_per_second": round(len(report.new) / seconds, 1)}
    if args.again:
        again, seconds = timed_ingest(settings, jsonl, args.chunk_size)
        result["again"] = {"seconds": round(seconds, 2), "unchanged": len(again.unchanged),
                           "records_per_second": round(len(again.unchanged) / seconds, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['new']} distinct articles in {result['seconds']} s: {result['articles_per_second']} articles/s "
              f"({result['unchanged']} unchanged, {result['errors']} errors; chunk {args.chunk_size})")
        if args.again:
            print(f"again: {result['again']['unchanged']} unchanged in {result['again']['seconds']} s "
                  f"({result['again']['records_per_second']}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
