"""Throughput of the default pre-annotation engine on one core, on DISTINCT articles: articles and
characters per CPU-second (time.process_time) and per wall second, and the process's peak memory.

The corpus is a folder of SaudiNewsNet zips (converted to JSON lines under /tmp by
benchmarks/ingest_speed.py's to_jsonl; the text is what `workbench ingest` stores: the article's
content, unchanged), a .jsonl file of articles ({"text"} a line), or .txt files / folders of them.
Blank texts are skipped (ingest rejects them) and exact duplicates dropped; the distinct texts are
shuffled with --seed and the first --articles are timed, the next --warm-up (a disjoint set) warm the
engine up first. The engine keeps per-word caches, so a text it has seen is served from them:
every timed pass therefore runs in a fresh process (load the model, warm up on the disjoint set,
annotate the timed set once); --repeat passes, the fastest is the figure least disturbed by other
work on the machine, the median is given too.

Articles go to the engine in batches of --batch (as `workbench preannotate` and the ML backend send
them: the CRF decodes a batch's sentences together); --batch 1 is one article at a time.

--cache-served repeats the timed set --rounds times in the same process after one pass over it:
what the caches serve, NOT throughput (reported under its own name).

Usage: python benchmarks/preannotation_speed.py /work/shared/data/saudinewsnet [--articles 1000]
           [--warm-up 100] [--seed 13] [--batch 32] [--repeat 3] [--json] [--profile]
           [--cache-served --rounds 5]"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest_speed import to_jsonl  # noqa: E402
from workbench.preannotation import default_preannotator  # noqa: E402
from workbench.preannotation.base import BATCH_SIZE, annotate_all  # noqa: E402

TARGETS = ["أوكرانيا", "روسيا"]
CONVERTED = Path(tempfile.gettempdir()) / "wb-preannotation-speed"


def read_texts(paths: list[Path]) -> list[str]:
    """Every text of the given SaudiNewsNet folders (zips), .jsonl files, .txt files or folders of them."""
    texts = []
    for path in paths:
        if path.is_dir() and any(path.glob("*.zip")):
            CONVERTED.mkdir(parents=True, exist_ok=True)
            path = to_jsonl(path, CONVERTED)
        if path.is_dir():
            texts += [p.read_text(encoding="utf-8") for p in sorted(path.glob("*.txt"))]
        elif path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as lines:
                texts += [json.loads(line).get("text") or "" for line in lines if line.strip()]
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def distinct_texts(texts: list[str], seed: int) -> list[str]:
    """The non-blank texts, each once (first occurrence), in an order shuffled with `seed`."""
    distinct = list(dict.fromkeys(t for t in texts if t.strip()))
    random.Random(seed).shuffle(distinct)
    return distinct


def chosen(args) -> tuple[list[str], list[str]]:
    """(timed texts, warm-up texts): disjoint slices of the shuffled distinct texts."""
    texts = distinct_texts(read_texts(args.paths), args.seed)
    if len(texts) < args.articles + args.warm_up:
        raise SystemExit(f"only {len(texts)} distinct articles: fewer than --articles + --warm-up "
                         f"({args.articles + args.warm_up})")
    return texts[:args.articles], texts[args.articles:args.articles + args.warm_up]


def one_pass(args) -> dict:
    """In this (fresh) process: load, warm up on the disjoint set, time one pass over the timed set."""
    timed, warm = chosen(args)
    began = time.perf_counter()
    annotator = default_preannotator(TARGETS)
    for _ in annotate_all(annotator, warm, batch_size=args.batch):
        pass
    load_and_warm_up = time.perf_counter() - began
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in annotate_all(annotator, timed, batch_size=args.batch):
        pass
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
    result = {"cpu_s": cpu, "wall_s": wall, "load_and_warm_up_s": load_and_warm_up,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "model_version": annotator.model_version}
    if args.cache_served:
        began = time.process_time()
        for _ in annotate_all(annotator, timed * args.rounds, batch_size=args.batch):
            pass
        result["cache_served_cpu_s"] = time.process_time() - began
    return result


def child_command(args) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), *map(str, args.paths), "--one-pass",
               "--articles", str(args.articles), "--warm-up", str(args.warm_up), "--seed", str(args.seed),
               "--batch", str(args.batch), "--rounds", str(args.rounds)]
    return command + (["--profile"] if args.profile else []) + (["--cache-served"] if args.cache_served else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", type=Path, nargs="+", help="SaudiNewsNet folder, .jsonl, .txt files or folders")
    parser.add_argument("--articles", type=int, default=1000, help="distinct articles timed (default 1000)")
    parser.add_argument("--warm-up", type=int, default=100,
                        help="distinct articles, disjoint from the timed ones, annotated first (default 100)")
    parser.add_argument("--seed", type=int, default=13, help="shuffle of the distinct articles (default 13)")
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help=f"articles per batch (default {BATCH_SIZE})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed passes, each in a fresh process; the fastest is reported, and the median")
    parser.add_argument("--cache-served", action="store_true",
                        help="also time the timed set repeated --rounds times in the same process (cache-served, "
                             "not throughput)")
    parser.add_argument("--rounds", type=int, default=5, help="repeats for --cache-served (default 5)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the timed pass (first pass only): 25 functions by own time and by cumulative "
                             "time, on stderr")
    parser.add_argument("--one-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for path in args.paths:
        if not path.exists():
            parser.error(f"no such file or folder: {path}")
    if min(args.articles, args.batch, args.repeat, args.rounds) < 1 or args.warm_up < 0:
        parser.error("--articles, --batch, --repeat and --rounds must be at least 1, --warm-up at least 0")
    if args.one_pass:
        print(json.dumps(one_pass(args)))
        return 0
    timed, _ = chosen(args)
    chars = sum(len(t) for t in timed)
    passes = []
    for index in range(args.repeat):
        command = child_command(args)
        if index and args.profile:
            command.remove("--profile")
        done = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
        passes.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cpu = sorted(p["cpu_s"] for p in passes)
    wall = sorted(p["wall_s"] for p in passes)
    result = {"model_version": passes[0]["model_version"], "batch": args.batch, "distinct_articles": len(timed),
              "characters": chars, "mean_article_chars": round(chars / len(timed)), "passes": args.repeat,
              "articles_per_cpu_second": round(len(timed) / cpu[0], 1),
              "median_articles_per_cpu_second": round(len(timed) / statistics.median(cpu), 1),
              "chars_per_cpu_second": round(chars / cpu[0]),
              "articles_per_wall_second": round(len(timed) / wall[0], 1),
              "chars_per_wall_second": round(chars / wall[0]),
              "load_and_warm_up_s": round(min(p["load_and_warm_up_s"] for p in passes), 2),
              "peak_rss_mb": round(max(p["peak_rss_mb"] for p in passes), 1)}
    if args.cache_served:
        served = min(p["cache_served_cpu_s"] for p in passes)
        result["cache_served_not_throughput_articles_per_cpu_second"] = round(len(timed) * args.rounds / served, 1)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
