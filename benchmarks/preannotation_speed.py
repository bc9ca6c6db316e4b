"""Throughput of the default pre-annotation engine on one core: articles per second and
milliseconds per 10 KB, over the given articles (a .jsonl gold/articles file or .txt files /
folders) annotated --rounds times after one warm-up pass, in --repeat timed passes (the fastest pass is
the figure least disturbed by other work on the machine; the median is given too); and the
process's peak memory.
Articles go to the engine in batches of --batch (as `workbench preannotate` and the ML backend
send them: the CRF decodes a batch's sentences together); --batch 1 is one article at a time.

Usage: python benchmarks/preannotation_speed.py tasks/corpus [--rounds 20] [--batch 32] [--repeat 5]
           [--json] [--profile]"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.preannotation import default_preannotator  # noqa: E402
from workbench.preannotation.base import BATCH_SIZE, annotate_all  # noqa: E402

TARGETS = ["أوكرانيا", "روسيا"]


def read_texts(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        if path.is_dir():
            texts += [p.read_text(encoding="utf-8") for p in sorted(path.glob("*.txt"))]
        elif path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            texts += [json.loads(line)["text"] for line in lines if line.strip()]
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", type=Path, nargs="+")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help=f"articles per batch (default {BATCH_SIZE})")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes of --rounds rounds each; the fastest is reported, and the median")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print the 25 most expensive functions")
    args = parser.parse_args()
    texts = read_texts(args.paths)
    began = time.perf_counter()
    annotator = default_preannotator(TARGETS)
    for text in texts:
        annotator.annotate(text)
    warm_up = time.perf_counter() - began
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    passes = []
    for _ in range(args.repeat):
        began = time.process_time()
        for _ in annotate_all(annotator, texts * args.rounds, batch_size=args.batch):
            pass
        passes.append(time.process_time() - began)
    cpu, median = min(passes), sorted(passes)[len(passes) // 2]
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    kilobytes = sum(len(t.encode("utf-8")) for t in texts) * args.rounds / 1000
    result = {"model_version": annotator.model_version, "batch": args.batch, "articles": len(texts) * args.rounds,
              "articles_per_cpu_second": round(len(texts) * args.rounds / cpu, 1),
              "median_articles_per_cpu_second": round(len(texts) * args.rounds / median, 1),
              "ms_per_10kb": round(cpu * 1000 / kilobytes * 10, 2),
              "mean_article_kb": round(kilobytes / len(texts) / args.rounds, 1),
              "load_and_first_pass_s": round(warm_up, 2),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
