"""The files of one release version, written in a single streaming pass over its examples:
examples.jsonl (canonical: the identity of the version), records.jsonl (per-record hash and
lineage), examples.conll (BIO) and examples.parquet, plus the counts the data card and the
manifest report."""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .conll import example_conll
from .digests import file_digest

PARQUET_BATCH = 2000


def canonical_line(example: dict) -> str:
    """One example as its canonical JSONL line: fixed key order, UTF-8 without escaping."""
    return json.dumps(example, ensure_ascii=False, separators=(",", ":")) + "\n"


def parquet_schema(targets: list[str]) -> pa.Schema:
    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())])
    fields = [("id", pa.string()), ("text", pa.string()), ("entities", pa.list_(entity))]
    if targets:
        fields.append(("stance", pa.struct([(t, pa.string()) for t in targets])))
    return pa.schema(fields + [("split", pa.string())])


class HashedLines:
    """A text file written line by line while its SHA-256, size and line count are kept."""

    def __init__(self, path: Path):
        self.handle = path.open("wb")
        self.digest, self.bytes, self.records = hashlib.sha256(), 0, 0

    def write(self, text: str, records: int = 1) -> str:
        data = text.encode("utf-8")
        self.handle.write(data)
        self.digest.update(data)
        self.bytes += len(data)
        self.records += records
        return hashlib.sha256(data).hexdigest()

    def close(self) -> dict:
        self.handle.close()
        return {"sha256": self.digest.hexdigest(), "bytes": self.bytes, "records": self.records}


class ReleaseWriter:
    def __init__(self, folder: Path, targets: list[str]):
        self.folder = folder
        self.examples = HashedLines(folder / "examples.jsonl")
        self.records = HashedLines(folder / "records.jsonl")
        self.conll = HashedLines(folder / "examples.conll")
        self.schema = parquet_schema(targets)
        self.parquet = pq.ParquetWriter(folder / "examples.parquet", self.schema)
        self.rows: list[dict] = []
        self.parquet_rows = 0
        self.stats = {"splits": Counter(), "entity_labels": defaultdict(Counter), "stance": defaultdict(Counter),
                      "sources": Counter(), "annotators": Counter(), "model_versions": Counter(),
                      "conll_overlapping_spans_dropped": 0}

    def add(self, example: dict, meta: dict, group: str) -> None:
        """`group` is the id of the duplicate group's smallest member (the example's own id when alone)."""
        line_sha = self.examples.write(canonical_line(example))
        self.records.write(canonical_line({"id": example["id"], "sha256": line_sha, "split": example["split"],
                                           "group": group, **meta}))
        block, dropped = example_conll(example)
        self.conll.write(block)
        self.rows.append(example)
        if len(self.rows) >= PARQUET_BATCH:
            self._flush_parquet()
        self._count(example, meta, dropped)

    def _count(self, example: dict, meta: dict, dropped: int) -> None:
        stats, split = self.stats, example["split"]
        stats["splits"][split] += 1
        for span in example["entities"]:
            stats["entity_labels"][split][span["label"]] += 1
        for target, label in example["stance"].items():
            stats["stance"][target][label] += 1
        stats["sources"][meta.get("source") or "unknown"] += 1
        stats["annotators"][meta.get("annotator") or "unknown"] += 1
        stats["model_versions"].update(meta.get("model_versions") or [])
        stats["conll_overlapping_spans_dropped"] += dropped

    def _flush_parquet(self) -> None:
        if self.rows:
            self.parquet.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.parquet_rows += len(self.rows)
            self.rows = []

    def close(self) -> tuple[dict, dict]:
        """(files with sha256/bytes/records, stats)."""
        self._flush_parquet()
        self.parquet.close()
        files = {"examples.jsonl": self.examples.close(), "records.jsonl": self.records.close(),
                 "examples.conll": {**self.conll.close(), "records": self.examples.records},
                 "examples.parquet": {**file_digest(self.folder / "examples.parquet"), "records": self.parquet_rows}}
        return files, self._summary()

    def _summary(self) -> dict:
        stats = self.stats
        per_split = {s: dict(sorted(c.items())) for s, c in sorted(stats["entity_labels"].items())}
        totals = Counter()
        for counter in stats["entity_labels"].values():
            totals.update(counter)
        return {"examples": sum(stats["splits"].values()), "splits": dict(sorted(stats["splits"].items())),
                "entity_labels": dict(sorted(totals.items())), "entity_labels_per_split": per_split,
                "stance": {t: dict(sorted(c.items())) for t, c in sorted(stats["stance"].items())},
                "sources": dict(sorted(stats["sources"].items())),
                "annotators": dict(sorted(stats["annotators"].items())),
                "model_versions": dict(sorted(stats["model_versions"].items())),
                "conll_overlapping_spans_dropped": stats["conll_overlapping_spans_dropped"]}
