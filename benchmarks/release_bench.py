"""Release, verify and diff of N realistic examples: time and peak memory (max RSS).

    .venv/bin/python benchmarks/release_bench.py --sizes 10000 50000 100000

Examples are generated deterministically from the sample corpus' words and the gold entities
(~1,500 characters, ~15 entities, two stance targets each; 1% near-duplicates). For each size,
v0001 is released, then v0002 with 1% removed, 1% changed and 1% added; verify runs on v0002
and diff on v0001 -> v0002. Every step runs in its own process, so its max RSS is its own."""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("أوكرانيا", "روسيا")
STANCES = ("FAVOR", "AGAINST", "NONE")


def pools() -> tuple[list[str], list[tuple[str, str]]]:
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "tasks" / "corpus").glob("*.txt"))).split()
    gold = [json.loads(x) for x in (ROOT / "tests" / "fixtures" / "sample_gold.jsonl").read_text("utf-8").splitlines()]
    entities = sorted({(e["text"], e["label"]) for g in gold for e in g["entities"]})
    return words, entities


def article(i: int, words, entities, variant: int) -> dict:
    rng = random.Random(i - 1 if i % 100 == 21 else i)  # i % 100 == 21: near-duplicate of the article before
    parts, spans, offset = [], [], 0
    picked, mentions = rng.choices(words, k=250), rng.choices(entities, k=15)
    for n, text in enumerate(picked):
        if n % 17 == 5:
            text, label = mentions[n // 17]
            spans.append({"start": offset, "end": offset + len(text), "label": label, "text": text})
        if i % 100 == 21 and n == 100:
            text = "تعديل"
        parts.append(text)
        offset += len(text) + 1
    stance = {t: rng.choice(STANCES) for t in TARGETS}
    if variant and i % 100 == 13:
        stance[TARGETS[0]] = "AGAINST" if stance[TARGETS[0]] != "AGAINST" else "FAVOR"
    return {"id": f"bench-{i:07d}", "text": " ".join(parts), "entities": spans, "stance": stance, "split": None}


def items(n: int, variant: int):
    words, entities = POOLS
    meta = {"task_id": None, "annotation_id": None, "annotator": "bench", "model_versions": ["gazetteer-rules@1"]}
    for i in range(n):
        if variant and i % 100 == 7:
            continue
        yield article(i, words, entities, variant), meta
        if variant and i % 100 == 42:
            added = article(i + 10_000_000, words, entities, variant)
            yield {**added, "id": f"bench-{i:07d}-added"}, meta


POOLS = pools()


def step(name: str, n: int, exports: Path) -> dict:
    from workbench import release_check, releases
    started = time.perf_counter()
    if name == "release":
        variant = len(releases.existing_versions(exports))
        version, _ = releases.write_version(exports, lambda: items(n, variant), {"review_policy": "benchmark"})
        result = {"version": version}
    elif name == "verify":
        result = release_check.verify(exports / "v0002")
    else:
        report = release_check.diff(exports / "v0001", exports / "v0002")
        result = {k: len(report[k]) for k in ("added", "removed", "changed")}
    return {"step": name, "n": n, "seconds": round(time.perf_counter() - started, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **result}


def run_child(name: str, n: int, exports: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", name, "--sizes", str(n), "--exports", str(exports)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--child")
    parser.add_argument("--exports", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(step(args.child, args.sizes[0], args.exports)))
        return
    print("| examples | step | seconds | max RSS (MB) | result |\n|---|---|---|---|---|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("release", "release", "verify", "diff"):
                r = run_child(name, n, Path(tmp))
                extra = {k: v for k, v in r.items() if k not in ("step", "n", "seconds", "max_rss_mb")}
                print(f"| {n} | {name} | {r['seconds']} | {r['max_rss_mb']} | {json.dumps(extra)} |", flush=True)


if __name__ == "__main__":
    main()
