"""5-fold cross-validation of the NER layers over CONTIGUOUS blocks of an ANERcorp-format file
(ANERcorp repeats passages, so random sentence splits leak and inflate F1).

Each fold trains the CRF on the other four blocks (labels mapped as `workbench train ner` does,
plus any --extra Wojood files) and scores PER/ORG/LOC spans on the held-out block, exact match.
Held-out sentences are tagged in the blocks training takes as documents (20 sentences, for the
document features):
  tagger  the CRF alone, on ANERcorp's own token convention (proclitics inside spans)
  engine  the whole default engine (lists, rules, CRF, consistency); GPE and LOC both count as
          LOC; proclitics are left out of spans, as the project's scheme wants, so exact match
          is also given with partial (overlap) match.

With --unlabelled (SaudiNewsNet's zips, or text/JSON-lines files), each fold's model also has
word-cluster features (word_clusters.py) learnt from those texts plus the fold's own training
sentences (never the held-out block); --clusters FILE uses one cluster file for every fold.

Usage: python benchmarks/anercorp_cv.py /work/shared/data/anercorp/train.txt \
           [--extra /work/shared/data/wojood-sample/train.txt ...] [--folds 5] [--json]
           [--unlabelled /work/shared/data/saudinewsnet] [--only 1,2]"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from bisect import bisect_right
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.evaluation import map_labels, score_entities  # noqa: E402
from workbench.preannotation.calibration import fit_calibration, precision_by_bucket  # noqa: E402
from workbench.preannotation.conll import read_conll  # noqa: E402
from workbench.preannotation.crf import O_THRESHOLD, CrfTagger  # noqa: E402
from workbench.preannotation.engine import (CrfLayer, PreAnnotationEngine, RulesLayer,  # noqa: E402
                                            default_gazetteer, list_candidates, LIST_SCORE)
from workbench.preannotation import ner_training  # noqa: E402
from workbench.preannotation.ner_training import (ANERCORP_MAP, WOJOOD_MAP, document_numbers,  # noqa: E402
                                                  train_crf)
from workbench.preannotation.text import normalise, tokenise  # noqa: E402
from workbench.preannotation import word_clusters  # noqa: E402

SCORES = ("tagger", "engine", "engine_partial")
EVAL_MAP = {"PERS": "PER", "PER": "PER", "ORG": "ORG", "LOC": "LOC", "GPE": "LOC"}


def blocks(items: list, folds: int) -> list[list]:
    size = -(-len(items) // folds)
    return [items[k * size:(k + 1) * size] for k in range(folds)]


def tagger_spans(tagger: CrfTagger, texts: list[str]) -> list[list[dict]]:
    """The tagger's spans per sentence; consecutive sentences are tagged in the documents
    training makes of them (ner_training.document_numbers), for the document features."""
    norms = [normalise(text) for text in texts]
    gazetteer = default_gazetteer()
    prepared = []
    for norm in norms:
        tokens = tokenise(norm.text)
        prepared.append((norm.text, tokens, list_candidates(norm.text, tokens, gazetteer, LIST_SCORE, "list")))
    found = []
    for norm, (_, tokens, _), tagged in zip(norms, prepared, tagger.tag_many(prepared, document_numbers(len(texts)))):
        spans = []
        for first, last, label, score in tagged:
            start, end = norm.to_original(tokens[first].start, tokens[last].end)
            spans.append({"start": start, "end": end, "label": label, "score": score})
        found.append(spans)
    return found


def engine_spans(engine: PreAnnotationEngine, texts: list[str]) -> list[list[dict]]:
    """The whole engine's spans per sentence, each with its score and source (the layer or rule
    that proposed it). The engine reads articles, not sentences: each
    block of sentences that training takes as a document (ner_training.document_numbers) is
    annotated as one text, a sentence per line, and its spans are handed back to their sentences."""
    blocks: dict[int, list[int]] = {}
    for index, number in enumerate(document_numbers(len(texts))):
        blocks.setdefault(number, []).append(index)
    joined, starts = [], []
    for members in blocks.values():
        offsets, text = [], ""
        for index in members:
            offsets.append(len(text))
            text += texts[index] + "\n"
        joined.append(text)
        starts.append(offsets)
    found: list[list[dict]] = [[] for _ in texts]
    for members, offsets, (doc, spans) in zip(blocks.values(), starts, engine.spans_many(joined)):
        for span in spans:
            start, end = doc.norm.to_original(span.start, span.end)
            k = bisect_right(offsets, start) - 1
            index, base = members[k], offsets[k]
            if end <= base + len(texts[index]):  # a span across a line break belongs to no sentence
                found[index].append({"start": start - base, "end": end - base, "label": span.label,
                                     "score": span.score, "source": span.source})
    return found


def scored_spans(gold: list[list[dict]], predicted: list[list[dict]], proclitic_slack: int = 0,
                 key: str = "score") -> list[tuple]:
    """(span[key], right) per predicted span; right: a gold span with its label and end, and its
    start or at most `proclitic_slack` letters before it (ANERcorp keeps proclitics inside spans)."""
    pairs = []
    for gold_spans, spans in zip(gold, predicted):
        for span in spans:
            right = any(g["label"] == span["label"] and g["end"] == span["end"]
                        and 0 <= span["start"] - g["start"] <= proclitic_slack for g in gold_spans)
            pairs.append((span[key], right))
    return pairs


def precision_by_source(pairs: list[tuple]) -> dict:
    """source → its spans and the share of them that are right."""
    counts: dict[str, list[int]] = {}
    for source, right in pairs:
        counts.setdefault(source, [0, 0])
        counts[source][0] += 1
        counts[source][1] += right
    return {source: {"count": n, "precision": round(right / n, 3)} for source, (n, right) in sorted(counts.items())}


def unlabelled_texts(paths: list[Path]):
    """The texts of unlabelled corpora, streamed: each SaudiNewsNet zip (a JSON list of articles:
    title and content), .jsonl files (a "text" per line), any other file as one text per line;
    a directory stands for its files in name order."""
    for path in paths:
        for item in sorted(path.iterdir()) if path.is_dir() else [path]:
            if item.suffix == ".zip":
                with zipfile.ZipFile(item) as archive:
                    for name in sorted(archive.namelist()):
                        for article in json.loads(archive.read(name)):
                            yield (article.get("title") or "") + "\n" + (article.get("content") or "")
            elif item.suffix == ".jsonl":
                with open(item, encoding="utf-8") as lines:
                    yield from (json.loads(line)["text"] for line in lines if line.strip())
            else:
                with open(item, encoding="utf-8") as lines:
                    yield from lines


def fold_clusters(k: int, train: list, args) -> word_clusters.WordClusters | None:
    """The fold's word clusters: --clusters, or learnt from --unlabelled plus the fold's training
    sentences (kept in --model-dir as foldN.learnt.tsv and reused); None without either."""
    if args.clusters:
        return word_clusters.WordClusters.load(args.clusters)
    if not args.unlabelled:
        return None
    cached = args.model_dir / f"fold{k + 1}.learnt.tsv" if args.model_dir else None
    if cached and cached.exists():
        return word_clusters.WordClusters.load(cached)
    started = time.perf_counter()
    texts = (text for source in (unlabelled_texts(args.unlabelled), (s.text for s in train)) for text in source)
    clusters = word_clusters.learn_clusters(texts, **args.cluster_settings)
    print(f"fold {k + 1}: clusters of {len(clusters)} words from {clusters.info['texts']} texts, "
          f"{clusters.info['tokens']} tokens in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        clusters.write(cached)
    return clusters


def settings_arg(value: str) -> dict:
    """`name=number,...` → {name: number} (int when it is one)."""
    found = {}
    for item in filter(None, value.split(",")):
        name, _, number = item.partition("=")
        found[name.strip()] = int(number) if number.strip().lstrip("-").isdigit() else float(number)
    return found


def run_fold(k: int, parts: list[list], extra: list, args) -> dict:
    train = [s for j, part in enumerate(parts) if j != k for s in part] + extra
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model_dir or tmp) / f"fold{k + 1}.crfsuite"
        if not model.exists():
            model.parent.mkdir(parents=True, exist_ok=True)
            clusters = fold_clusters(k, train, args)
            info = train_crf(train, model, max_iterations=args.iterations, clusters=clusters)
            if clusters:
                ner_training.write_model_info(model, info)  # the tagger finds its clusters through it
        tagger = CrfTagger(model, o_threshold=args.o_threshold)
        gazetteer = default_gazetteer()
        engine = PreAnnotationEngine([], gazetteer, [RulesLayer(gazetteer), CrfLayer(tagger, gazetteer)])
        held_out = parts[k]
        gold = [map_labels(s.entities, EVAL_MAP) for s in held_out]
        tagged = [map_labels(spans, EVAL_MAP) for spans in tagger_spans(tagger, [s.text for s in held_out])]
        fold = {"tagger": score_entities(gold, tagged), "sentences": len(held_out),
                "tagger_scores": scored_spans(gold, tagged)}
        if args.tagger_only:
            return fold
        annotated = [map_labels([{**span, "source": f"{span['source']} {span['label']}"} for span in spans], EVAL_MAP)
                     for spans in engine_spans(engine, [s.text for s in held_out])]  # source with the scheme's label
    return fold | {"engine": score_entities(gold, annotated),
                   "engine_partial": score_entities(gold, annotated, partial=True),
                   "engine_scores": scored_spans(gold, annotated, proclitic_slack=2),
                   "engine_sources": scored_spans(gold, annotated, proclitic_slack=2, key="source")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("conll", type=Path)
    parser.add_argument("--extra", type=Path, action="append", default=[], help="Wojood-format training files")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--c1", type=float, default=None, help="override the L1 weight (default: as trained)")
    parser.add_argument("--c2", type=float, default=None, help="override the L2 weight")
    parser.add_argument("--document-sentences", type=int, default=None,
                        help="sentences per document for the document features (default: as trained)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="keep the fold models here and reuse those already there (same features only)")
    parser.add_argument("--o-threshold", type=float, default=O_THRESHOLD, help="posterior decoding threshold")
    parser.add_argument("--calibration-out", type=Path, default=None,
                        help="write the tagger score calibration fitted on the held-out folds (JSON)")
    parser.add_argument("--tagger-only", action="store_true", help="score the CRF alone (faster)")
    parser.add_argument("--unlabelled", type=Path, action="append", default=[],
                        help="unlabelled texts to learn word clusters from, with each fold's training text")
    parser.add_argument("--clusters", type=Path, default=None, help="a word-cluster file for every fold")
    parser.add_argument("--cluster-settings", type=settings_arg, default={},
                        help="word-cluster settings to override, e.g. window=2,dimensions=50 (word_clusters.SETTINGS)")
    parser.add_argument("--only", default=None, help="run only these folds (1-based, comma-separated)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name in ("c1", "c2"):
        if getattr(args, name) is not None:
            ner_training.PARAMS[name] = getattr(args, name)
    if args.document_sentences:
        ner_training.DOCUMENT_SENTENCES = args.document_sentences
    sentences = read_conll(args.conll, on_bad_tag=lambda m: print(f"skipped: {m}", file=sys.stderr))
    training = [s.__class__(s.text, map_labels(s.entities, ANERCORP_MAP), s.where) for s in sentences]
    extra = [s for path in args.extra for s in read_conll(path, WOJOOD_MAP, on_bad_tag=print)]
    parts_train = blocks(training, args.folds)
    results = []
    only = {int(k) for k in args.only.split(",")} if args.only else set(range(1, args.folds + 1))
    for k in range(args.folds):
        if k + 1 not in only:
            continue
        fold = run_fold(k, parts_train, extra, args)
        results.append(fold)
        print(f"fold {k + 1}/{args.folds}: " + ", ".join(f"{name} F1 {fold[name]['micro']['f1']:.3f}"
                                                         for name in SCORES if name in fold),
              file=sys.stderr, flush=True)
    summary = {name: pooled([r[name] for r in results]) for name in SCORES if name in results[0]}
    summary["by_score"] = {name: precision_by_bucket(*zip(*[p for r in results for p in r[name + "_scores"]]))
                           for name in ("tagger", "engine") if name + "_scores" in results[0]}
    if "engine_sources" in results[0]:
        summary["by_source"] = precision_by_source([p for r in results for p in r["engine_sources"]])
    if args.calibration_out:
        write_calibration(args.calibration_out, [p for r in results for p in r["tagger_scores"]])
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))


def write_calibration(path: Path, pairs: list[tuple]) -> None:
    """Isotonic map from the tagger's raw span score to held-out precision (for the model's .json)."""
    calibration = fit_calibration([s for s, _ in pairs], [r for _, r in pairs])
    path.write_text(json.dumps({"method": "isotonic regression of exact-match correctness on the mean "
                                          "marginal, pooled held-out spans of the ANERcorp CV folds",
                                "spans": len(pairs), "points": calibration.points()}, indent=2) + "\n")


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
        if name == "by_score":
            lines += [f"{kind} precision by score: " + ", ".join(
                f"[{row['low']:.2f}, {row['high']:.2f}) {row['precision']:.3f} (n={row['count']})" for row in rows)
                for kind, rows in score.items()]
            continue
        if name == "by_source":
            lines.append("engine precision by source: " + ", ".join(
                f"{source} {row['precision']:.3f} (n={row['count']})" for source, row in score.items()))
            continue
        labels = " ".join(f"{label} {row['f1']:.3f}" for label, row in score["per_label"].items())
        micro = score["micro"]
        lines.append(f"{name:15} micro P {micro['precision']:.3f} R {micro['recall']:.3f} F1 {micro['f1']:.3f} "
                     f"(mean of folds {micro['mean_fold_f1']:.3f}) | {labels}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
