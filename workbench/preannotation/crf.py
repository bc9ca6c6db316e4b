"""The statistical layer: a linear-chain CRF (crfsuite) over the word tokens of text.py, with
the features of crf_features.py (composed per token in crf_sequence.py). A span's raw score is
the mean marginal probability, over its tokens, of the label the tagger chose; the engine gets
it through the model's calibration (calibration.py) when the model's .json sidecar has one.

The model file is a plain crfsuite model (no pickle); `models/ner-crf.crfsuite` is the default,
trained by `workbench train ner` (see models/MODEL_CARD.md)."""
from __future__ import annotations

import json
import re
from bisect import bisect_right
from pathlib import Path

import numpy as np
import pycrfsuite

from .calibration import Calibration
from .crf_decode import decode
from .crf_features import NameScorer, document_features, document_features_per_text, gazetteer_tags
from .crf_sequence import LabelScores
from .gazetteer import Gazetteer
from .rules import Candidate
from .text import Token, proclitic_readings, words_of
from . import word_clusters

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "ner-crf.crfsuite"
# No fixed label set: a tagger tags the labels its model was trained with (the shipped one PER,
# ORG, GPE and LOC; one retrained from a release every label the release uses).
SENTENCE_BREAK_RE = re.compile(r"[.!?؟\n]")
# With a threshold, a token whose O marginal is below it is tagged as part of a name
# (_posterior_tags); 0 keeps plain Viterbi: 0.5 gave the same pooled CV F1 (BENCHMARKS.md), more slowly.
O_THRESHOLD = 0.0


def sentence_slices(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    """[first, last) token ranges of the sentences: a break is . ! ? ؟ or a line break."""
    starts = [token.start for token in tokens]
    # A break character is never inside a token: the sentence after it starts at the next token.
    firsts = sorted({bisect_right(starts, m.start()) for m in SENTENCE_BREAK_RE.finditer(text)} - {0, len(tokens)})
    bounds = [0, *firsts, len(tokens)]
    return list(zip(bounds, bounds[1:])) if tokens else []


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(first, last, label) token ranges of a BIO sequence; a stray I- starts a span."""
    spans: list[list] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        prefix, label = tag[0], tag[2:]
        if prefix == "I" and spans and spans[-1][1] == i - 1 and spans[-1][2] == label:
            spans[-1][1] = i
        else:
            spans.append([i, i, label])
    return [tuple(span) for span in spans]


def proclitic_length(word: str, gazetteer: Gazetteer) -> int:
    """Letters to leave out at the start of a span's first word: none when the word as written
    is a known name; the proclitic when the rest is a known name, starts with the article or is
    long enough that a و before it is the conjunction (والسعودية، وميدفيديف)."""
    if (word,) in gazetteer.labels or word in gazetteer.first_words:
        return 0
    for prefix, stem in proclitic_readings(word)[1:]:
        if (stem,) in gazetteer.labels or stem in gazetteer.first_words:
            return prefix
        if stem.startswith("ال") and len(stem) > 3 and not word.startswith("ال"):
            return prefix
    if word[0] == "و" and len(word) >= 6 and not word.startswith("وا"):
        return 1
    return 0


def model_weights(tagger: pycrfsuite.Tagger) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """The model's labels, its state weights as attribute → weight per label, and its
    (from label, to label) transition weights."""
    labels = tagger.labels()
    index = {label: k for k, label in enumerate(labels)}
    info = tagger.info()
    weights: dict[str, np.ndarray] = {}
    for (attribute, label), weight in info.state_features.items():
        weights.setdefault(attribute, np.zeros(len(labels)))[index[label]] = weight
    transitions = np.zeros((len(labels), len(labels)))
    for (before, after), weight in info.transitions.items():
        transitions[index[before], index[after]] = weight
    return labels, weights, transitions


def read_calibration(model_path: Path) -> Calibration | None:
    """The score calibration stored in the model's .json sidecar, if it has one."""
    sidecar = Path(model_path).with_suffix(".json")
    if not sidecar.is_file():
        return None
    points = json.loads(sidecar.read_text(encoding="utf-8")).get("calibration", {}).get("points")
    return Calibration(points) if points else None


def model_name_scorer(model_path: Path) -> NameScorer | None:
    """The model's name-likeness scorer. A model whose .json sidecar names one cannot be used
    without it (its name-likeness weights would silently count for nothing)."""
    scorer = NameScorer.for_model(model_path)
    sidecar = Path(model_path).with_suffix(".json")
    if scorer is None and sidecar.is_file() and "name_scorer" in json.loads(sidecar.read_text(encoding="utf-8")):
        raise FileNotFoundError(f"{NameScorer.path_for(model_path)} is missing: {Path(model_path).name} was trained "
                                "with it; keep the model's .crfsuite, .json and .names.json files together")
    return scorer


class CrfTagger:
    """Tags the labels of a trained crfsuite model (`labels`, read from the model file: B-/I-
    of each label, and O). crfsuite reads the model file; the tagging itself is crf_decode's,
    over label scores cached per word (crf_sequence.LabelScores)."""

    def __init__(self, model_path: Path = DEFAULT_MODEL, o_threshold: float = O_THRESHOLD):
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"NER model not found: {model_path} (train one with `workbench train ner`)")
        self.model_path = Path(model_path)
        tagger = pycrfsuite.Tagger()
        tagger.open(str(model_path))
        self.labels, weights, self.transitions = model_weights(tagger)
        tagger.close()
        self.scores = LabelScores(weights, len(self.labels), model_name_scorer(self.model_path),
                                  clusters=word_clusters.for_model(self.model_path))
        self.outside = self.labels.index("O")
        self.o_threshold = o_threshold
        self.calibration = read_calibration(self.model_path)

    @property
    def entity_labels(self) -> list[str]:
        """The entity labels the model tags (its B-/I- labels without the prefix)."""
        return sorted({label[2:] for label in self.labels if label != "O"})

    def tag_tokens(self, text: str, tokens: list[Token],
                   list_spans: list[Candidate]) -> list[tuple[int, int, str, float]]:
        """(first, last, label, score) token spans over the whole text, sentence by sentence."""
        return self.tag_many([(text, tokens, list_spans)])[0]

    def tag_many(self, documents: list[tuple[str, list[Token], list[Candidate]]],
                 document_of: list[int] | None = None) -> list[list[tuple[int, int, str, float]]]:
        """tag_tokens for many texts at once: their sentences are decoded together (faster).
        Each text is a document of its own unless `document_of` gives each text's document number:
        then the document features look at all the texts of the same number (the sentences of an
        article given one by one, as training sees them)."""
        gaz_tags = [gazetteer_tags(tokens, list_spans) for _, tokens, list_spans in documents]
        features = self._document_features([tokens for _, tokens, _ in documents], gaz_tags, document_of)
        emissions, slices, owners = [], [], []
        offset = 0
        for number, (text, tokens, _) in enumerate(documents):
            emissions.append(self.scores.sequence(text, tokens, gaz_tags[number], features[number]))
            for first, last in sentence_slices(text, tokens):
                slices.append((offset + first, offset + last))
                owners.append((number, first))
            offset += len(tokens)
        found: list[list] = [[] for _ in documents]
        if not slices:
            return found
        decoded = decode(np.concatenate(emissions), slices, self.transitions, self.outside, self.o_threshold)
        for (number, first), sentence in zip(owners, decoded):
            if sentence is not None:
                found[number] += self._spans(first, *sentence)
        return found

    @staticmethod
    def _document_features(token_lists: list[list[Token]], gaz_tags: list[list[str]],
                           document_of: list[int] | None) -> list[list[tuple[str, ...]]]:
        """Per text, its tokens' document features, over the texts of its document."""
        if document_of is None:
            return [document_features(words_of(tokens), tags) for tokens, tags in zip(token_lists, gaz_tags)]
        members: dict[int, list[int]] = {}
        for number, document in enumerate(document_of):
            members.setdefault(document, []).append(number)
        found: list[list[tuple[str, ...]]] = [[] for _ in token_lists]
        for numbers in members.values():
            texts = [(words_of(token_lists[k]), gaz_tags[k]) for k in numbers]
            for k, features in zip(numbers, document_features_per_text(texts)):
                found[k] = features
        return found

    def _spans(self, first: int, labels: list[int], probability: list[float]) -> list[tuple[int, int, str, float]]:
        names = self.labels
        return [(first + a, first + b, label, sum(probability[a:b + 1]) / (b - a + 1))
                for a, b, label in bio_spans([names[k] for k in labels])]

    def candidates(self, text: str, tokens: list[Token], list_spans: list[Candidate], gazetteer: Gazetteer,
                   min_score: float = 0.0) -> list[Candidate]:
        """Spans for the engine, proclitics left out (the scheme's convention)."""
        return self.candidates_from(tokens, self.tag_tokens(text, tokens, list_spans), gazetteer, min_score)

    def candidates_from(self, tokens: list[Token], tagged: list[tuple[int, int, str, float]], gazetteer: Gazetteer,
                        min_score: float = 0.0) -> list[Candidate]:
        """candidates, from tag_tokens' (or tag_many's) result for the tokens."""
        found = []
        for first, last, label, score in tagged:
            if score < min_score:
                continue
            prefix = proclitic_length(tokens[first].text, gazetteer)
            start = tokens[first].start + prefix
            if start < tokens[last].end:
                calibrated = self.calibration(score) if self.calibration else score
                found.append(Candidate(start, tokens[last].end, label, round(calibrated, 4), "crf"))
        return found
