"""Measuring a pre-annotator against gold: read the gold (JSONL like tests/fixtures/sample_gold.jsonl
or CoNLL BIO), predict, then score entity spans (precision/recall/F1 per label and micro, exact
and partial match) and stance (accuracy and macro-F1 over FAVOR and AGAINST)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .preannotation.base import STANCE_LABELS, annotate_all
from .preannotation.conll import read_conll

POLAR_LABELS = ("FAVOR", "AGAINST")


@dataclass
class GoldDoc:
    id: str
    text: str
    entities: list[dict]
    stance: dict = field(default_factory=dict)


# --- stage 1: read the gold ----------------------------------------------------------------

def load_gold(path: Path, fmt: str = "jsonl", label_map: dict[str, str] | None = None) -> list[GoldDoc]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: gold file not found")
    if fmt == "conll":
        docs = [GoldDoc(s.where, s.text, s.entities) for s in read_conll(path)]
    elif fmt == "jsonl":
        docs = read_gold_jsonl(path)
    else:
        raise InputError(f"unknown gold format {fmt!r} (jsonl or conll)")
    for doc in docs:
        doc.entities = map_labels(doc.entities, label_map)
    return docs


def read_gold_jsonl(path: Path) -> list[GoldDoc]:
    docs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            docs.append(_gold_line(f"{path}:{number}", line))
    return docs


def _gold_line(where: str, line: str) -> GoldDoc:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON: {exc.msg}")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise InputError(f"{where}: field 'text' is missing or not a string")
    text, entities = record["text"], record.get("entities", [])
    if not isinstance(entities, list):
        raise InputError(f"{where}: field 'entities' is not a list")
    for k, entity in enumerate(entities):
        _check_entity(f"{where}: entities[{k}]", text, entity)
    stance = record.get("stance") or {}
    for target, label in stance.items():
        if label not in STANCE_LABELS:
            raise InputError(f"{where}: stance[{target!r}] is {label!r}, not one of {', '.join(STANCE_LABELS)}")
    return GoldDoc(str(record.get("id", where)), text, entities, stance)


def _check_entity(where: str, text: str, entity) -> None:
    if not isinstance(entity, dict) or not all(k in entity for k in ("start", "end", "label")):
        raise InputError(f"{where}: needs start, end and label")
    start, end = entity["start"], entity["end"]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        raise InputError(f"{where}: start/end {start}/{end} are not a span of the text")
    if "text" in entity and text[start:end] != entity["text"]:
        raise InputError(f"{where}: text[{start}:{end}] is {text[start:end]!r}, not {entity['text']!r}")


def map_labels(entities: list[dict], label_map: dict[str, str] | None) -> list[dict]:
    """With a map, a label that is a key is renamed, a label that is a value is kept, any other
    label is dropped; the same map is applied to gold and predictions."""
    if label_map is None:
        return list(entities)
    kept = set(label_map.values())
    mapped = []
    for entity in entities:
        label = label_map.get(entity["label"], entity["label"] if entity["label"] in kept else None)
        if label:
            mapped.append({**entity, "label": label})
    return mapped


# --- stage 2: predict ---------------------------------------------------------------------

def predict(docs: list[GoldDoc], annotator, label_map: dict[str, str] | None = None, progress=None) -> list:
    """(entities, stance) per document, entities mapped like the gold."""
    results = []
    for _, prediction in annotate_all(annotator, progress(docs) if progress else docs, lambda doc: doc.text):
        stance = {target: value["label"] for target, value in prediction.stance.items()}
        results.append((map_labels(prediction.entities, label_map), stance))
    return results


# --- stage 3: score -----------------------------------------------------------------------

def prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "gold": tp + fn, "predicted": tp + fp}


def matched_count(gold: list[dict], predicted: list[dict], partial: bool) -> Counter:
    """True positives per label: exact = same start, end and label; partial = same label and
    overlapping, each gold span matched at most once."""
    if not partial:
        keys = {(e["start"], e["end"], e["label"]) for e in gold}
        return Counter(e["label"] for e in predicted if (e["start"], e["end"], e["label"]) in keys)
    used: set[int] = set()
    hits = Counter()
    for p in predicted:
        for k, g in enumerate(gold):
            if k not in used and g["label"] == p["label"] and g["start"] < p["end"] and p["start"] < g["end"]:
                used.add(k)
                hits[p["label"]] += 1
                break
    return hits


def score_entities(gold_docs: list[list[dict]], predicted_docs: list[list[dict]], partial: bool = False) -> dict:
    tp, gold_n, pred_n = Counter(), Counter(), Counter()
    for gold, predicted in zip(gold_docs, predicted_docs):
        tp.update(matched_count(gold, predicted, partial))
        gold_n.update(e["label"] for e in gold)
        pred_n.update(e["label"] for e in predicted)
    labels = sorted(set(gold_n) | set(pred_n))
    per_label = {label: prf(tp[label], pred_n[label] - tp[label], gold_n[label] - tp[label]) for label in labels}
    total_tp = sum(tp.values())
    micro = prf(total_tp, sum(pred_n.values()) - total_tp, sum(gold_n.values()) - total_tp)
    return {"micro": micro, "per_label": per_label}


def score_stance(pairs: list[tuple[str, str]]) -> dict | None:
    """(gold, predicted) label pairs: accuracy, F1 per label, and macro-F1 over FAVOR and AGAINST."""
    if not pairs:
        return None
    per_label = {}
    for label in STANCE_LABELS:
        tp = sum(g == p == label for g, p in pairs)
        per_label[label] = prf(tp, sum(p == label for _, p in pairs) - tp, sum(g == label for g, _ in pairs) - tp)
    return {"n": len(pairs), "accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 4),
            "macro_f1_favor_against": round(sum(per_label[label]["f1"] for label in POLAR_LABELS) / 2, 4),
            "per_label": per_label}


def evaluate(docs: list[GoldDoc], predictions: list) -> dict:
    gold_entities = [doc.entities for doc in docs]
    predicted_entities = [entities for entities, _ in predictions]
    entities = score_entities(gold_entities, predicted_entities)
    entities["partial"] = score_entities(gold_entities, predicted_entities, partial=True)
    pairs = [(label, stance.get(target, "NONE")) for doc, (_, stance) in zip(docs, predictions)
             for target, label in doc.stance.items()]
    return {"documents": len(docs), "entities": entities, "stance": score_stance(pairs)}


def format_report(report: dict) -> str:
    lines = [f"model: {report['model_version']}"] if "model_version" in report else []
    lines += [f"documents: {report['documents']}",
             f"{'label':8}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}   partial F1"]
    exact, partial = report["entities"], report["entities"]["partial"]
    for label in [*exact["per_label"], "micro"]:
        row = exact["micro"] if label == "micro" else exact["per_label"][label]
        loose = partial["micro"] if label == "micro" else partial["per_label"][label]
        lines.append(f"{label:8}{row['precision']:8.3f}{row['recall']:8.3f}{row['f1']:8.3f}"
                     f"{row['gold']:7}{row['predicted']:7}   {loose['f1']:.3f}")
    stance = report["stance"]
    if stance:
        lines.append(f"stance: accuracy {stance['accuracy']:.3f} over {stance['n']} judgements, "
                     f"macro-F1 (FAVOR, AGAINST) {stance['macro_f1_favor_against']:.3f}")
    return "\n".join(lines)
