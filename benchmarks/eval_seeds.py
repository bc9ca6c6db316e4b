"""Exact-match span precision/recall/F1 per label and micro, and stance accuracy, of the
default pre-annotator against a gold JSONL file ({"id", "text", "entities", "stance"} a line).

Usage: python benchmarks/eval_seeds.py /work/shared/gold/seeds.jsonl [--errors]"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.preannotation import default_preannotator  # noqa: E402

TARGETS = ["أوكرانيا", "روسيا"]


def span_keys(entities: list[dict]) -> set[tuple[int, int, str]]:
    return {(e["start"], e["end"], e["label"]) for e in entities}


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def print_errors(doc_id: str, text: str, gold: set, predicted: set) -> None:
    for start, end, label in sorted(predicted - gold):
        print(f"  FP {doc_id} {label:6} {text[start:end]!r}")
    for start, end, label in sorted(gold - predicted):
        print(f"  FN {doc_id} {label:6} {text[start:end]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("gold", type=Path)
    parser.add_argument("--errors", action="store_true", help="list false positives and negatives")
    args = parser.parse_args()
    annotator = default_preannotator(TARGETS)
    counts = {kind: Counter() for kind in ("tp", "fp", "fn")}
    stance_right = stance_total = 0
    elapsed = 0.0
    for line in args.gold.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        began = time.perf_counter()
        prediction = annotator.annotate(doc["text"])
        elapsed = max(elapsed, time.perf_counter() - began)
        gold, predicted = span_keys(doc["entities"]), span_keys(prediction.entities)
        for kind, keys in (("tp", gold & predicted), ("fp", predicted - gold), ("fn", gold - predicted)):
            counts[kind].update(label for _, _, label in keys)
        if args.errors:
            print_errors(doc["id"], doc["text"], gold, predicted)
        for target, label in doc["stance"].items():
            stance_total += 1
            predicted_label = prediction.stance[target]["label"]
            stance_right += predicted_label == label
            print(f"stance {doc['id']} {target}: gold {label} predicted {predicted_label}")
    labels = sorted(set().union(*counts.values()))
    print(f"{'label':8}{'P':>7}{'R':>7}{'F1':>7}{'gold':>6}")
    for label in labels + ["micro"]:
        tp, fp, fn = ((sum(counts[k].values()) if label == "micro" else counts[k][label]) for k in ("tp", "fp", "fn"))
        precision, recall, score = f1(tp, fp, fn)
        print(f"{label:8}{precision:7.3f}{recall:7.3f}{score:7.3f}{tp + fn:6}")
    print(f"stance accuracy {stance_right}/{stance_total} = {stance_right / stance_total:.3f}")
    print(f"slowest article {elapsed * 1000:.1f} ms")


if __name__ == "__main__":
    main()
