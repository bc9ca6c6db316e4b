"""Train the stance classifier on one Mawqif-format CSV (text,target,stance) and print the
StanceEval score (macro-F1 over FAVOR and AGAINST per target, averaged over targets) on another.
A sentiment column in TRAIN.csv trains the auxiliary sentiment views (--no-sentiment: ignore it);
the test file's other columns are never used.

Usage: python benchmarks/stance_csv.py --train TRAIN.csv --test TEST.csv [--no-sentiment] [--json]"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from stance_common import classify, stance_eval_score

from workbench.preannotation.stance_model import StanceClassifier, read_stance_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--no-sentiment", action="store_true", help="train without the sentiment column")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    test = read_stance_csv(args.test)
    train = read_stance_csv(args.train)
    if args.no_sentiment:
        train = [replace(e, sentiment=None) for e in train]
    classifier = StanceClassifier.train(train)
    score = stance_eval_score([e.target for e in test], [e.label for e in test], classify(classifier, test))
    if args.json:
        print(json.dumps(score, ensure_ascii=False))
    else:
        print(f"StanceEval F1 {score['stance_eval_f1']:.4f}  accuracy {score['accuracy']:.4f}  n {score['n']}")
        for target, f1 in score["per_target"].items():
            print(f"  {target}: {f1:.4f}")


if __name__ == "__main__":
    main()
