"""Stratified k-fold cross-validation of the stance classifier on a Mawqif-format CSV; prints the
StanceEval score (macro-F1 over FAVOR and AGAINST per target, averaged over targets) pooled over
the folds. The CSV's sentiment column, when present, trains the classifier's auxiliary sentiment
views (inside the training folds only); --no-sentiment drops it, as for data without one.
Mawqif has no licence: research use only; no model from it is kept.

Usage: python benchmarks/stance_cv.py /work/shared/data/mawqif/train.csv [--folds 5] [--no-sentiment] [--json]"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from sklearn.model_selection import StratifiedKFold
from stance_common import classify, stance_eval_score

from workbench.preannotation.stance_model import StanceClassifier, read_stance_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-sentiment", action="store_true", help="train without the sentiment column")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    examples = read_stance_csv(args.csv)
    if args.no_sentiment:
        examples = [replace(e, sentiment=None) for e in examples]
    strata = [f"{e.target}|{e.label}" for e in examples]
    predicted = [""] * len(examples)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=13).split(examples, strata)
    for k, (train, test) in enumerate(folds, start=1):
        classifier = StanceClassifier.train([examples[i] for i in train])
        for i, label in zip(test, classify(classifier, [examples[i] for i in test])):
            predicted[i] = label
        print(f"fold {k}/{args.folds} done", file=sys.stderr, flush=True)
    score = stance_eval_score([e.target for e in examples], [e.label for e in examples], predicted)
    print(json.dumps(score, ensure_ascii=False) if args.json else
          f"StanceEval F1 {score['stance_eval_f1']:.4f}  accuracy {score['accuracy']:.4f}  per target "
          + ", ".join(f"{t} {f:.4f}" for t, f in score["per_target"].items()))


if __name__ == "__main__":
    main()
