"""5-fold cross-validation of the NER layers over CONTIGUOUS blocks of an ANERcorp-format file
(ANERcorp repeats passages, so random sentence splits leak and inflate F1).

Each fold trains the CRF on the other four blocks (labels mapped as `workbench train ner` does,
plus any --extra Wojood files) and scores PER/ORG/LOC spans on the held-out block, exact match:
  tagger  the CRF alone, on ANERcorp's own token convention (proclitics inside spans)
  engine  the whole default engine (lists, rules, CRF, consistency); GPE and LOC both count as
          LOC; proclitics are left out of spans, as the project's scheme wants, so exact match
          is also given with partial (overlap) match.

Usage: python benchmarks/anercorp_cv.py /work/shared/data/anercorp/train.txt \
           [--extra /work/shared/data/wojood-sample/train.txt ...] [--folds 5] [--json]"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.evaluation import map_labels, score_entities  # noqa: E402
from workbench.preannotation.conll import read_conll  # noqa: E402
from workbench.preannotation.crf import CrfTagger  # noqa: E402
from workbench.preannotation.engine import (CrfLayer, PreAnnotationEngine, RulesLayer,  # noqa: E402
                                            default_gazetteer, list_candidates, LIST_SCORE)
from workbench.preannotation import ner_training  # noqa: E402
from workbench.preannotation.ner_training import ANERCORP_MAP, WOJOOD_MAP, train_crf  # noqa: E402
from workbench.preannotation.text import normalise, tokenise  # noqa: E402

EVAL_MAP = {"PERS": "PER", "PER": "PER", "ORG": "ORG", "LOC": "LOC", "GPE": "LOC"}


def blocks(items: list, folds: int) -> list[list]:
    size = -(-len(items) // folds)
    return [items[k * size:(k + 1) * size] for k in range(folds)]


def tagger_spans(tagger: CrfTagger, text: str) -> list[dict]:
    norm = normalise(text)
    tokens = tokenise(norm.text)
    spans = list_candidates(norm.text, tokens, default_gazetteer(), LIST_SCORE, "list")
    found = []
    for first, last, label, _ in tagger.tag_tokens(norm.text, tokens, spans):
        start, end = norm.to_original(tokens[first].start, tokens[last].end)
        found.append({"start": start, "end": end, "label": label})
    return found


def run_fold(k: int, parts: list[list], extra: list, iterations: int) -> dict:
    train = [s for j, part in enumerate(parts) if j != k for s in part] + extra
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "fold.crfsuite"
        train_crf(train, model, max_iterations=iterations)
        tagger = CrfTagger(model)
        gazetteer = default_gazetteer()
        engine = PreAnnotationEngine([], gazetteer, [RulesLayer(gazetteer), CrfLayer(tagger, gazetteer)])
        held_out = parts[k]
        gold = [map_labels(s.entities, EVAL_MAP) for s in held_out]
        tagged = [map_labels(tagger_spans(tagger, s.text), EVAL_MAP) for s in held_out]
        annotated = [map_labels(engine.annotate(s.text).entities, EVAL_MAP) for s in held_out]
    return {"tagger": score_entities(gold, tagged), "engine": score_entities(gold, annotated),
            "engine_partial": score_entities(gold, annotated, partial=True), "sentences": len(held_out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("conll", type=Path)
    parser.add_argument("--extra", type=Path, action="append", default=[], help="Wojood-format training files")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--c1", type=float, default=None, help="override the L1 weight (default: as trained)")
    parser.add_argument("--c2", type=float, default=None, help="override the L2 weight")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name in ("c1", "c2"):
        if getattr(args, name) is not None:
            ner_training.PARAMS[name] = getattr(args, name)
    sentences = read_conll(args.conll, on_bad_tag=lambda m: print(f"skipped: {m}", file=sys.stderr))
    training = [s.__class__(s.text, map_labels(s.entities, ANERCORP_MAP), s.where) for s in sentences]
    extra = [s for path in args.extra for s in read_conll(path, WOJOOD_MAP, on_bad_tag=print)]
    parts_train = blocks(training, args.folds)
    results = []
    for k in range(args.folds):
        fold = run_fold(k, parts_train, extra, args.iterations)
        results.append(fold)
        print(f"fold {k + 1}/{args.folds}: tagger F1 {fold['tagger']['micro']['f1']:.3f}, "
              f"engine F1 {fold['engine']['micro']['f1']:.3f} (partial {fold['engine_partial']['micro']['f1']:.3f})",
              file=sys.stderr, flush=True)
    summary = {name: pooled([r[name] for r in results]) for name in ("tagger", "engine", "engine_partial")}
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


def pooled(scores: list[dict]) -> dict:
    """Micro scores over all folds (counts summed), and the mean of the fold F1s."""
    from workbench.evaluation import prf
    labels = sorted({label for s in scores for label in s["per_label"]})
    per_label = {}
    for label in labels:
        rows = [s["per_label"].get(label, {"gold": 0, "predicted": 0, "recall": 0}) for s in scores]
        per_label[label] = _pool(rows, prf)
    micro = _pool([s["micro"] for s in scores], prf)
    micro["mean_fold_f1"] = round(sum(s["micro"]["f1"] for s in scores) / len(scores), 4)
    return {"micro": micro, "per_label": per_label}


def _pool(rows: list[dict], prf) -> dict:
    tp = sum(round(r["recall"] * r["gold"]) for r in rows)
    return prf(tp, sum(r["predicted"] for r in rows) - tp, sum(r["gold"] for r in rows) - tp)


def format_summary(summary: dict) -> str:
    lines = []
    for name, score in summary.items():
        labels = " ".join(f"{label} {row['f1']:.3f}" for label, row in score["per_label"].items())
        micro = score["micro"]
        lines.append(f"{name:15} micro P {micro['precision']:.3f} R {micro['recall']:.3f} F1 {micro['f1']:.3f} "
                     f"(mean of folds {micro['mean_fold_f1']:.3f}) | {labels}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
