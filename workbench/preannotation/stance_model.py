"""A trainable stance classifier, stacked in two levels over sparse n-gram features.

Features: TF-IDF over character n-grams (2-5, within words), word n-grams (1-2, pyarabic tokens)
and light-stemmed word n-grams (1-2, NLTK's ISRI Arabic stemmer, which needs no data files) of
the normalised text, fitted on all training texts.

Level 1 ("views", each a linear model over those features): a stance LinearSVC per target with
enough examples, a shared one over every target for the rest, and, when the training rows carry
a sentiment label (Mawqif's `sentiment` column), a sentiment LinearSVC and a sentiment
ComplementNB over all targets. Sentiment is an auxiliary label: only the text is needed at
prediction time, and data without it (a release's examples.jsonl) trains without these views.

Level 2, per target (and shared): a logistic regression over the views' scores, trained on
out-of-fold scores (an inner 5-fold CV over the training data, so it sees the views as they
behave on unseen text), then per-label biases on its log-probabilities tuned, again on
out-of-fold predictions of the training data only, to maximise the StanceEval objective (mean
F1 of FAVOR and AGAINST). predict_proba returns the bias-adjusted, renormalised probabilities.

Training data: a Mawqif-format CSV (columns text, target, stance; optional sentiment) or a
release's examples.jsonl (text and a stance per target). The shipped default stays the lexicon
baseline (stance.py): the only stance data at hand (Mawqif) has no licence, so no model trained
on it may be shipped; train one from your own releases with `workbench train stance`."""
from __future__ import annotations

import csv
import json
import pickle
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from nltk.stem.isri import ISRIStemmer
from pyarabic import araby
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import make_union
from sklearn.svm import LinearSVC

from ..errors import InputError
from .base import STANCE_LABELS
from .stance import sentences, target_aliases
from .text import NormalisedText, Token, normalise, proclitic_readings

MIN_PER_TARGET = 100  # fewer examples than this: the target uses the shared model
FORMAT_VERSION = 2
SENTIMENT_LABELS = ("POSITIVE", "NEGATIVE", "NEUTRAL")
MIN_SENTIMENT = 30    # fewer rows with a sentiment label than this: no sentiment views
INNER_FOLDS = 5
ENCODER_C = 1.0  # regularisation of the optional encoder view's logistic regression
# (inner folds that give the meta model out-of-fold view scores, folds its biases are tuned on):
# the CV score moves by about ±0.007 with them, so benchmarks report several (stance_cv.py --seeds)
DEFAULT_SEEDS = (7, 3)
BIAS_GRID = np.round(np.arange(-2.0, 2.01, 0.1), 2)
LABELS = tuple(sorted(STANCE_LABELS))  # AGAINST, FAVOR, NONE: the column order of stance scores


@dataclass(frozen=True)
class Example:
    text: str
    target: str
    label: str
    sentiment: str | None = None  # auxiliary training label (POSITIVE/NEGATIVE/NEUTRAL), optional


def read_stance_csv(path: Path) -> list[Example]:
    """Mawqif format: a header with at least text, target and stance (Favor/Against/None in
    any case); an optional sentiment column (Positive/Negative/Neutral, any case, may be empty)."""
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
    sentiment = (row.get("sentiment") or "").strip().upper() or None
    if sentiment is not None and sentiment not in SENTIMENT_LABELS:
        raise InputError(f"{path}:{number}: sentiment {row['sentiment']!r} is not Positive, Negative or Neutral")
    return Example(row["text"], row["target"].strip(), label, sentiment)


def read_release_examples(path: Path, split: str | None = None) -> list[Example]:
    """One example per (article, target) of a release's examples.jsonl; with a split, of that
    split's articles only."""
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
        if split is not None and record.get("split") != split:
            continue
        for target, label in record["stance"].items():
            if label not in STANCE_LABELS:
                raise InputError(f"{path}:{number}: stance[{target!r}] is {label!r}")
            examples.append(Example(record["text"], target, label))
    return examples


def read_stance_data(path: Path) -> list[Example]:
    return read_release_examples(path) if Path(path).suffix == ".jsonl" else read_stance_csv(path)


def analyse_words(text: str) -> list[str]:
    return araby.tokenize(text)


_ISRI = ISRIStemmer()


@lru_cache(maxsize=1 << 16)
def light_stem(word: str) -> str:
    """ISRI root-or-stem of an Arabic word; other tokens (digits, Latin, emoji) as they are."""
    return _ISRI.stem(word) if word.isalpha() else word


def analyse_stems(text: str) -> list[str]:
    return [light_stem(word) for word in araby.tokenize(text)]


def _features():
    return make_union(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000),
        TfidfVectorizer(tokenizer=analyse_words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                        min_df=2, sublinear_tf=True),
        TfidfVectorizer(tokenizer=analyse_stems, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                        min_df=2, sublinear_tf=True))


# --- level 1: views -----------------------------------------------------------------------------

def _fit_svc(X, y):
    """A LinearSVC, or None when the rows hold fewer than two labels."""
    if len(set(y)) < 2:
        return None
    return LinearSVC(C=0.5, class_weight="balanced", random_state=0).fit(X, y)


def _fit_nb(X, y):
    return ComplementNB(alpha=0.3).fit(X, y) if len(set(y)) >= 2 else None


def _scores(model, X, labels: tuple[str, ...]) -> np.ndarray:
    """The model's scores as one column per label in `labels` (a fixed width whatever labels the
    model saw): decision values of a LinearSVC, log-probabilities of a ComplementNB; -1 / log 1e-3
    for a label the model never saw, zeros without a model."""
    out = np.zeros((X.shape[0], len(labels)))
    if model is None:
        return out
    if isinstance(model, ComplementNB):
        out[:] = np.log(1e-3)
        values = model.predict_log_proba(X)
    else:
        out[:] = -1.0
        values = model.decision_function(X)
        if values.ndim == 1:  # two labels: the score of classes_[1]
            values = np.column_stack([-values, values])
    for k, label in enumerate(model.classes_):
        out[:, labels.index(label)] = values[:, k]
    return out


def _fit_dense(E, y):
    """A logistic regression over sentence-encoder vectors, or None with fewer than two labels."""
    if len(set(y)) < 2:
        return None
    return LogisticRegression(C=ENCODER_C, class_weight="balanced", max_iter=2000).fit(E, y)


def _fit_views(X, examples: list[Example], groups: list[str], with_sentiment: bool, E=None) -> dict:
    """The level-1 models fitted on these rows: a stance model per group and, with_sentiment,
    the two sentiment models (fitted on the rows that have a sentiment label); with encoder
    vectors E (one row per example), an encoder stance model per group too."""
    views = {"stance": {}}
    labels = np.array([e.label for e in examples])
    targets = np.array([e.target for e in examples])
    for group in groups:
        rows = np.ones(len(examples), bool) if group == "*" else targets == group
        views["stance"][group] = _fit_svc(X[rows], labels[rows]) if rows.any() else None
    rated = np.array([e.sentiment is not None for e in examples], bool)
    if with_sentiment:
        sentiment = np.array([e.sentiment for e in examples], dtype=object)[rated]
        views["sentiment"] = [_fit_svc(X[rated], sentiment), _fit_nb(X[rated], sentiment)]
    if E is not None:
        views["encoder"] = {}
        for group in groups:
            rows = np.ones(len(examples), bool) if group == "*" else targets == group
            views["encoder"][group] = _fit_dense(E[rows], labels[rows]) if rows.any() else None
    return views


def _view_scores(views: dict, X, group: str, E=None) -> np.ndarray:
    columns = [_scores(views["stance"].get(group), X, LABELS)]
    columns += [_scores(model, X, SENTIMENT_LABELS) for model in views.get("sentiment", [])]
    if "encoder" in views:
        columns.append(_scores(views["encoder"].get(group), E, LABELS))
    return np.hstack(columns)


# --- level 2: meta model and biases ---------------------------------------------------------------

def _fa_f1(gold: np.ndarray, predicted: np.ndarray, favor: int, against: int) -> float:
    f1 = []
    for c in (favor, against):
        tp = np.sum((predicted == c) & (gold == c))
        wrong = np.sum((predicted == c) != (gold == c))
        f1.append(2 * tp / (2 * tp + wrong) if tp else 0.0)
    return sum(f1) / 2


def _tune_bias(log_proba: np.ndarray, gold: np.ndarray, classes: list[str]) -> np.ndarray:
    """Biases added to the AGAINST and NONE log-probabilities (FAVOR fixed at 0) that maximise
    the mean F1 of FAVOR and AGAINST on out-of-fold predictions, averaged over each grid
    point's neighbours, so that a flat optimum wins over a lucky spike."""
    from scipy.ndimage import uniform_filter
    bias = np.zeros(len(classes))
    if "FAVOR" not in classes or "AGAINST" not in classes:
        return bias
    favor, against = classes.index("FAVOR"), classes.index("AGAINST")
    none = classes.index("NONE") if "NONE" in classes else None
    none_grid = BIAS_GRID if none is not None else np.zeros(1)
    table = np.zeros((len(BIAS_GRID), len(none_grid)))
    for i, b_against in enumerate(BIAS_GRID):
        for j, b_none in enumerate(none_grid):
            shifted = log_proba.copy()
            shifted[:, against] += b_against
            if none is not None:
                shifted[:, none] += b_none
            table[i, j] = _fa_f1(gold, shifted.argmax(1), favor, against)
    table = uniform_filter(table, size=3, mode="nearest")
    i, j = np.unravel_index(table.argmax(), table.shape)
    bias[against] = BIAS_GRID[i]
    if none is not None:
        bias[none] = none_grid[j]
    return bias


def _fit_meta(Z: np.ndarray, y: np.ndarray, seed: int) -> dict:
    meta = LogisticRegression(C=1.0, max_iter=1000).fit(Z, y)
    classes = list(meta.classes_)
    bias = np.zeros(len(classes))
    counts = Counter(y)
    if len(y) >= 50 and min(counts.values()) >= 2 * INNER_FOLDS:
        oof = np.zeros((len(y), len(classes)))
        for train, test in StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(Z, y):
            inner = LogisticRegression(C=1.0, max_iter=1000).fit(Z[train], y[train])
            oof[np.ix_(test, [classes.index(c) for c in inner.classes_])] = inner.predict_proba(Z[test])
        bias = _tune_bias(np.log(oof + 1e-9), np.array([classes.index(c) for c in y]), classes)
    return {"model": meta, "bias": bias}


def _inner_folds(examples: list[Example], seed: int):
    strata = [f"{e.target}|{e.label}" for e in examples]
    if min(Counter(strata).values()) >= INNER_FOLDS:
        return StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(strata, strata)
    if len(examples) >= 2 * INNER_FOLDS:
        return KFold(INNER_FOLDS, shuffle=True, random_state=seed).split(strata)
    return None


class StanceClassifier:
    def __init__(self, models: dict, labels_seen: dict, features=None, views: dict | None = None, encoder=None):
        self.models = models          # target (or "*" for the shared model) → level-2 model and biases
        self.labels_seen = labels_seen
        self.features = features      # fitted TF-IDF union
        self.views = views            # fitted level-1 models
        self.encoder = encoder        # optional sentence encoder (.embed(texts) -> rows) of the encoder view

    @classmethod
    def train(cls, examples: list[Example], progress=None, seeds: tuple[int, int] = DEFAULT_SEEDS,
              encoder=None) -> StanceClassifier:
        """With an encoder (e.g. encoder.SentenceEncoder), its vectors feed one more view."""
        if not examples:
            raise InputError("no stance examples to train on")
        if len({e.label for e in examples}) < 2:
            raise InputError("stance data needs at least two different labels")
        by_target = Counter(e.target for e in examples)
        groups = ["*"] + [t for t, n in by_target.items()
                          if n >= MIN_PER_TARGET and len({e.label for e in examples if e.target == t}) >= 2]
        with_sentiment = sum(e.sentiment is not None for e in examples) >= MIN_SENTIMENT
        features = _features()
        X = features.fit_transform([normalise(e.text).text for e in examples]).tocsr()
        E = encoder.embed([e.text for e in examples]) if encoder is not None else None
        targets = np.array([e.target for e in examples])
        rows = {g: np.ones(len(examples), bool) if g == "*" else targets == g for g in groups}
        folds = list(_inner_folds(examples, seeds[0]) or [])
        scores: dict[str, np.ndarray] = {}
        views = None
        for fold in (progress([*folds, None]) if progress else [*folds, None]):
            if fold is None:  # the last step: the views kept in the model, fitted on everything
                views = _fit_views(X, examples, groups, with_sentiment, E)
                if folds:
                    continue
                fold_views, test = views, np.arange(len(examples))
            else:
                train, test = fold
                fold_views = _fit_views(X[train], [examples[i] for i in train], groups, with_sentiment,
                                        None if E is None else E[train])
            for g in groups:  # with too few rows for inner folds, the meta model sees in-sample scores
                held = test[rows[g][test]]
                if len(held):
                    found = _view_scores(fold_views, X[held], g, None if E is None else E[held])
                    scores.setdefault(g, np.zeros((len(examples), found.shape[1])))[held] = found
        labels = np.array([e.label for e in examples])
        models = {g: _fit_meta(scores[g][rows[g]], labels[rows[g]], seeds[1]) for g in groups}
        return cls(models, dict(by_target), features, views, encoder)

    def predict_proba(self, texts: list[str], target: str) -> list[dict[str, float]]:
        group = target if target in self.models else "*"
        meta = self.models[group]
        X = self.features.transform([normalise(t).text for t in texts])
        E = self.encoder.embed(texts) if self.encoder is not None else None
        log_proba = np.log(meta["model"].predict_proba(_view_scores(self.views, X, group, E)) + 1e-9) + meta["bias"]
        proba = np.exp(log_proba - log_proba.max(1, keepdims=True))
        proba /= proba.sum(1, keepdims=True)
        return [dict(zip(meta["model"].classes_, map(float, row))) for row in proba]

    def predict(self, texts: list[str], target: str) -> list[str]:
        return [max(p, key=p.get) for p in self.predict_proba(texts, target)]

    def save(self, path: Path, source: str) -> None:
        if self.encoder is not None:
            raise InputError("a stance model with the encoder view is for measurement only and is not saved")
        payload = {"format": FORMAT_VERSION, "models": self.models, "labels_seen": self.labels_seen,
                   "features": self.features, "views": self.views, "source": source}
        Path(path).write_bytes(pickle.dumps(payload))

    @classmethod
    def load(cls, path: Path) -> StanceClassifier:
        """Only load files you trained yourself: the format is pickle."""
        payload = pickle.loads(Path(path).read_bytes())
        if payload.get("format") != FORMAT_VERSION:
            raise InputError(f"{path}: not a stance model of format {FORMAT_VERSION}")
        return cls(payload["models"], payload["labels_seen"], payload["features"], payload["views"])


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
