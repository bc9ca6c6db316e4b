"""Shared by the stance benchmarks: the StanceEval score (macro-F1 over FAVOR and AGAINST per
target, averaged over targets)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.evaluation import score_stance  # noqa: E402


def stance_eval_score(targets: list[str], gold: list[str], predicted: list[str]) -> dict:
    per_target = {}
    for target in sorted(set(targets)):
        pairs = [(g, p) for t, g, p in zip(targets, gold, predicted) if t == target]
        per_target[target] = score_stance(pairs)["macro_f1_favor_against"]
    overall = score_stance(list(zip(gold, predicted)))
    return {"stance_eval_f1": round(sum(per_target.values()) / len(per_target), 4), "per_target": per_target,
            "accuracy": overall["accuracy"], "n": overall["n"]}


def classify(classifier, examples) -> list[str]:
    predicted = [""] * len(examples)
    for target in {e.target for e in examples}:
        indexes = [k for k, e in enumerate(examples) if e.target == target]
        for k, label in zip(indexes, classifier.predict([examples[k].text for k in indexes], target)):
            predicted[k] = label
    return predicted
