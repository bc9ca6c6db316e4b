"""Training the CRF layer: CoNLL sentences turned into the same tokens and features the tagger
sees at run time, then crfsuite (through sklearn-crfsuite) with L1+L2 regularisation; L1 keeps
the model file small."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pycrfsuite
import sklearn_crfsuite

from ..errors import InputError
from .calibration import Calibration
from .conll import Sentence
from .crf_features import gazetteer_tags
from .crf_sequence import sequence_features
from .engine import LIST_SCORE, default_gazetteer, list_candidates
from .gazetteer import Gazetteer
from .text import normalise, tokenise

# ANERcorp's LOC is mostly countries and cities, which the scheme calls GPE; regions, seas and
# continents (LOC in the scheme) come from loc.tsv and Wojood's LOC. MISC has no counterpart.
ANERCORP_MAP = {"PERS": "PER", "PER": "PER", "ORG": "ORG", "LOC": "GPE"}
WOJOOD_MAP = {"PERS": "PER", "ORG": "ORG", "GPE": "GPE", "LOC": "LOC"}
PARAMS = {"c1": 0.05, "c2": 0.05, "max_iterations": 300}


def token_labels(sentence: Sentence, tokens, origin) -> list[str]:
    """BIO labels of the run-time tokens from the sentence's character spans."""
    labels = ["O"] * len(tokens)
    for entity in sentence.entities:
        inside = [i for i, t in enumerate(tokens)
                  if origin[t.start] >= entity["start"] and origin[t.end - 1] < entity["end"]]
        for k, i in enumerate(inside):
            labels[i] = ("B-" if k == 0 else "I-") + entity["label"]
    return labels


def training_sequence(sentence: Sentence, gazetteer: Gazetteer) -> tuple[list[list[str]], list[str]]:
    norm = normalise(sentence.text)
    tokens = tokenise(norm.text)
    spans = list_candidates(norm.text, tokens, gazetteer, LIST_SCORE, "list")
    features = sequence_features(norm.text, tokens, gazetteer_tags(tokens, spans))
    return features, token_labels(sentence, tokens, norm.origin)


def progress_trainer(report: Callable[[int, float], None] | None):
    """A trainer class that reports each iteration instead of printing crfsuite's log."""
    def quiet(self, *args):
        return None

    class ProgressTrainer(pycrfsuite.Trainer):
        def __init__(self, algorithm=None, params=None, verbose=False):
            super().__init__(algorithm, params, verbose=True)  # crfsuite only sends events when verbose

        on_start = on_featgen_progress = on_featgen_end = on_prepared = on_optimization_end = on_end = quiet

        def on_iteration(self, log, info):
            if report:
                report(info["num"], info["loss"])
    return ProgressTrainer


def train_crf(sentences: list[Sentence], model_path: Path, report: Callable[[int, float], None] | None = None,
              max_iterations: int = PARAMS["max_iterations"]) -> dict:
    """Trains and writes the model file; returns what the model card needs."""
    gazetteer = default_gazetteer()
    data = [training_sequence(s, gazetteer) for s in sentences if s.text]
    data = [(x, y) for x, y in data if x]
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=PARAMS["c1"], c2=PARAMS["c2"], max_iterations=max_iterations,
                               all_possible_transitions=True, model_filename=str(model_path),
                               keep_tempfiles=True, trainer_cls=progress_trainer(report))
    crf.fit([x for x, _ in data], [y for _, y in data])
    return {"sentences": len(data), "tokens": sum(len(y) for _, y in data),
            "entities": sum(sum(tag.startswith("B-") for tag in y) for _, y in data),
            "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(), "bytes": model_path.stat().st_size,
            "params": {**PARAMS, "max_iterations": max_iterations}}


def read_calibration_file(path: Path) -> dict:
    """A calibration written by benchmarks/anercorp_cv.py --calibration-out, checked."""
    try:
        calibration = json.loads(Path(path).read_text(encoding="utf-8"))
        Calibration(calibration["points"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a score calibration: {exc}")
    return calibration


def write_model_info(model_path: Path, info: dict) -> Path:
    path = Path(model_path).with_suffix(".json")
    path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
