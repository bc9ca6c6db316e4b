"""What a ledger (workbench/preannotation/ledger.py) gains on ANERcorp: the ledger is measured on
the first 60 % of the file's blocks of 20 sentences (taken as articles, a sentence a line, as
benchmarks/anercorp_cv.py tags them), applied to the default engine, and the whole engine is
scored on the last 20 % with and without it: exact PER/ORG/GPE micro-F1, ANERcorp's labels
mapped as `workbench train ner` maps them (PERS→PER, ORG→ORG, LOC→GPE, MISC dropped), and how
well the span scores tell the share of right spans (Brier score: the mean of (score - right)²,
and the expected calibration error over ten score bins; lower is better).

ANERcorp's convention differs from the engine's in places (proclitics inside spans, no NORP,
DATE or WEAPON, LOC for what the scheme calls GPE): the team whose convention the ledger learns
is ANERcorp's annotators. The shipped CRF was trained on all of train.txt, the evaluation
blocks included. --train-crf does what a retrain does instead (a few minutes): a CRF trained on
the first 40 % of the blocks, the ledger measured on the next 20 % (which the CRF never saw: on
its own training data the tagger looks better, and the sources that fill its gaps worse, than on
new text), both scored on the last 20 %.

Usage: python benchmarks/ledger_gain.py /work/shared/data/anercorp/train.txt \
           [--train-crf] [--ledger-out ledger.json] [--json]"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.evaluation import map_labels, score_entities  # noqa: E402
from workbench.preannotation.base import annotate_all  # noqa: E402
from workbench.preannotation.conll import Sentence, read_conll  # noqa: E402
from workbench.preannotation.ledger import measure  # noqa: E402
from workbench.preannotation.loading import default_preannotator  # noqa: E402
from workbench.preannotation.ner_training import ANERCORP_MAP, DOCUMENT_SENTENCES, train_crf  # noqa: E402

SCORED = {"PER": "PER", "ORG": "ORG", "GPE": "GPE"}


def articles(sentences: list[Sentence], size: int = DOCUMENT_SENTENCES) -> list[dict]:
    """Examples in a release's examples.jsonl shape, one per block of `size` sentences."""
    examples = []
    for first in range(0, len(sentences), size):
        text, entities = "", []
        for sentence in sentences[first:first + size]:
            entities += [{**span, "start": span["start"] + len(text), "end": span["end"] + len(text)}
                         for span in sentence.entities]
            text += sentence.text + "\n"
        examples.append({"id": f"block-{first // size:04d}", "text": text, "entities": entities})
    return examples


def scores(engine, examples: list[dict]) -> dict:
    predicted = [map_labels(p.entities, SCORED) for _, p in annotate_all(engine, [e["text"] for e in examples])]
    gold = [map_labels(e["entities"], SCORED) for e in examples]
    pairs = []
    for gold_spans, spans in zip(gold, predicted):
        keys = {(g["start"], g["end"], g["label"]) for g in gold_spans}
        pairs += [(span["score"], (span["start"], span["end"], span["label"]) in keys) for span in spans]
    return {**score_entities(gold, predicted), "score_quality": score_quality(pairs)}


def score_quality(pairs: list[tuple[float, bool]], bins: int = 10) -> dict:
    """Brier score and expected calibration error of (score, right) pairs."""
    brier = sum((score - right) ** 2 for score, right in pairs) / len(pairs)
    binned: dict[int, list] = {}
    for score, right in pairs:
        binned.setdefault(min(int(score * bins), bins - 1), []).append((score, right))
    ece = sum(abs(sum(s for s, _ in rows) - sum(r for _, r in rows)) for rows in binned.values()) / len(pairs)
    return {"spans": len(pairs), "brier": round(brier, 4), "ece": round(ece, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("conll", type=Path)
    parser.add_argument("--train-crf", action="store_true",
                        help="train the CRF on the first 40 %% of the blocks, measure the ledger on the next 20 %%")
    parser.add_argument("--ledger-out", type=Path, default=None, help="write the ledger here (JSON)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sentences = read_conll(args.conll, on_bad_tag=lambda m: None)
    sentences = [Sentence(s.text, map_labels(s.entities, ANERCORP_MAP), s.where) for s in sentences]
    examples = articles(sentences)
    tenth = len(examples) / 10
    held_out = examples[round(8 * tenth):]
    fit = examples[round(4 * tenth):round(6 * tenth)] if args.train_crf else examples[:round(6 * tenth)]
    with tempfile.TemporaryDirectory() as tmp:
        model = None
        if args.train_crf:
            model = Path(tmp) / "ner-crf.crfsuite"
            train_crf(sentences[:round(4 * tenth) * DOCUMENT_SENTENCES], model)
        engine = default_preannotator([], ner_model=model)
        ledger = measure(engine, fit)
        with_ledger = engine.with_ledger(ledger)
        result = {"blocks": {"ledger": len(fit), "evaluation": len(held_out)},
                  "crf": "trained on the first 40 % of the blocks" if model
                  else "shipped (trained on all of train.txt)",
                  "without_ledger": scores(engine, held_out), "with_ledger": scores(with_ledger, held_out),
                  "model_version": with_ledger.model_version,
                  "switched_off": sorted(f"{s} {label}" for s, label in ledger.switched_off),
                  "down_weighted": sorted(f"{r.source} {r.label}" for r in ledger.sources if r.action == "down")}
    if args.ledger_out:
        args.ledger_out.write_text(json.dumps(ledger.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else summary(result))


def summary(result: dict) -> str:
    lines = [f"ledger on {result['blocks']['ledger']} blocks, scored on {result['blocks']['evaluation']}; "
             f"CRF {result['crf']}"]
    for name in ("without_ledger", "with_ledger"):
        score = result[name]
        labels = " ".join(f"{label} {row['f1']:.3f}" for label, row in score["per_label"].items())
        micro = score["micro"]
        quality = score["score_quality"]
        lines.append(f"{name:15} exact micro P {micro['precision']:.3f} R {micro['recall']:.3f} "
                     f"F1 {micro['f1']:.3f} | F1 {labels} | scores: Brier {quality['brier']:.3f}, "
                     f"ECE {quality['ece']:.3f}")
    lines.append(f"switched off: {', '.join(result['switched_off']) or 'none'}")
    lines.append(f"down-weighted: {', '.join(result['down_weighted']) or 'none'}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
