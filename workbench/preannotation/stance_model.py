"""A trainable stance classifier: TF-IDF over character n-grams (2-5, within words) and word
n-grams (1-2, pyarabic tokens) of the normalised text, logistic regression with balanced class
weights, one model per target with enough examples and a shared one for the rest.

Training data: a Mawqif-format CSV (columns text, target, stance) or a release's
examples.jsonl (text and a stance per target). The shipped default stays the lexicon baseline
(stance.py): the only stance data at hand (Mawqif) has no licence, so no model trained on it
may be shipped; train one from your own releases with `workbench train stance`."""
from __future__ import annotations

import csv
import json
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pyarabic import araby
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

from ..errors import InputError
from .base import STANCE_LABELS
from .stance import sentences, target_aliases
from .text import NormalisedText, Token, normalise, proclitic_readings

MIN_PER_TARGET = 100  # fewer examples than this: the target uses the shared model
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Example:
    text: str
    target: str
    label: str


def read_stance_csv(path: Path) -> list[Example]:
    """Mawqif format: a header with at least text, target and stance (Favor/Against/None in
    any case)."""
    try:
        handle = Path(path).open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}")
    with handle:
        reader = csv.DictReader(handle)
        missing = {"text", "target", "stance"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return [_csv_example(path, number, row) for number, row in enumerate(reader, start=2)]


def _csv_example(path: Path, number: int, row: dict) -> Example:
    label = (row["stance"] or "").strip().upper()
    if label not in STANCE_LABELS:
        raise InputError(f"{path}:{number}: stance {row['stance']!r} is not Favor, Against or None")
    if not (row["text"] or "").strip() or not (row["target"] or "").strip():
        raise InputError(f"{path}:{number}: empty text or target")
    return Example(row["text"], row["target"].strip(), label)


def read_release_examples(path: Path) -> list[Example]:
    """One example per (article, target) of a release's examples.jsonl."""
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON: {exc.msg}")
        if not isinstance(record.get("text"), str) or not isinstance(record.get("stance"), dict):
            raise InputError(f"{path}:{number}: needs 'text' (string) and 'stance' (object)")
        for target, label in record["stance"].items():
            if label not in STANCE_LABELS:
                raise InputError(f"{path}:{number}: stance[{target!r}] is {label!r}")
            examples.append(Example(record["text"], target, label))
    return examples


def read_stance_data(path: Path) -> list[Example]:
    return read_release_examples(path) if Path(path).suffix == ".jsonl" else read_stance_csv(path)


def analyse_words(text: str) -> list[str]:
    return araby.tokenize(text)


def _pipeline():
    features = make_union(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000),
        TfidfVectorizer(tokenizer=analyse_words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                        min_df=2, sublinear_tf=True))
    return make_pipeline(features, LogisticRegression(C=5.0, class_weight="balanced", max_iter=2000))


class StanceClassifier:
    def __init__(self, models: dict, labels_seen: dict):
        self.models = models          # target (or "*" for the shared model) → fitted pipeline
        self.labels_seen = labels_seen

    @classmethod
    def train(cls, examples: list[Example], progress=None) -> StanceClassifier:
        if not examples:
            raise InputError("no stance examples to train on")
        by_target = Counter(e.target for e in examples)
        groups = {"*": examples} | {t: [e for e in examples if e.target == t]
                                    for t, n in by_target.items() if n >= MIN_PER_TARGET}
        models = {}
        for name, group in (progress(list(groups.items())) if progress else groups.items()):
            if len({e.label for e in group}) < 2:
                continue
            models[name] = _pipeline().fit([normalise(e.text).text for e in group], [e.label for e in group])
        if "*" not in models:
            raise InputError("stance data needs at least two different labels")
        return cls(models, dict(by_target))

    def predict_proba(self, texts: list[str], target: str) -> list[dict[str, float]]:
        model = self.models.get(target, self.models["*"])
        rows = model.predict_proba([normalise(t).text for t in texts])
        return [dict(zip(model.classes_, map(float, row))) for row in rows]

    def predict(self, texts: list[str], target: str) -> list[str]:
        return [max(p, key=p.get) for p in self.predict_proba(texts, target)]

    def save(self, path: Path, source: str) -> None:
        payload = {"format": FORMAT_VERSION, "models": self.models, "labels_seen": self.labels_seen,
                   "source": source}
        Path(path).write_bytes(pickle.dumps(payload))

    @classmethod
    def load(cls, path: Path) -> StanceClassifier:
        """Only load files you trained yourself: the format is pickle."""
        payload = pickle.loads(Path(path).read_bytes())
        if payload.get("format") != FORMAT_VERSION:
            raise InputError(f"{path}: not a stance model of format {FORMAT_VERSION}")
        return cls(payload["models"], payload["labels_seen"])


class ClassifierStance:
    """The classifier as the engine's stance model: it reads the sentences that name the target
    (the whole text when none does) and cites the sentences most typical of its label."""
    name = "classifier"

    def __init__(self, classifier: StanceClassifier):
        self.classifier = classifier

    def predict(self, norm: NormalisedText, tokens: list[Token], targets: list[str]) -> dict:
        groups = sentences(norm, tokens)
        return {target: self._towards(norm, groups, target) for target in targets}

    def _towards(self, norm: NormalisedText, groups: list[list[Token]], target: str) -> dict:
        aliases = target_aliases(target)
        mentioning = [g for g in groups if any(s in aliases for t in g for _, s in proclitic_readings(t.text))]
        if not mentioning:
            return {"label": "NONE", "score": 1.0, "evidence": []}
        texts = [norm.text[g[0].start:g[-1].end] for g in mentioning]
        whole = self.classifier.predict_proba([" ".join(texts)], target)[0]
        label = max(whole, key=whole.get)
        per_sentence = self.classifier.predict_proba(texts, target)
        ranked = sorted(range(len(texts)), key=lambda k: per_sentence[k].get(label, 0.0), reverse=True)[:3]
        evidence = []
        for k in sorted(ranked):
            start, end = norm.to_original(mentioning[k][0].start, mentioning[k][-1].end)
            evidence.append({"start": start, "end": end, "text": norm.original[start:end]})
        return {"label": label, "score": round(whole[label], 3), "evidence": evidence}
