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

import pycrfsuite

from .calibration import Calibration
from .crf_features import gazetteer_tags
from .crf_sequence import FeatureBuilder
from .gazetteer import Gazetteer
from .rules import Candidate
from .text import Token, proclitic_readings

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "ner-crf.crfsuite"
CRF_LABELS = ("PER", "ORG", "GPE", "LOC")
SENTENCE_BREAK_RE = re.compile(r"[.!?؟\n]")
# With a threshold, a token whose O marginal is below it is tagged as part of a name
# (_posterior_tags); 0 keeps plain Viterbi: 0.5 gave the same pooled CV F1 (BENCHMARKS.md), more slowly.
O_THRESHOLD = 0.0
# Attributes whose weights are all smaller than this are not sent to crfsuite (speed; the F1
# change on the ANERcorp CV folds is in BENCHMARKS.md).
MIN_WEIGHT = 0.1


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


def weighty_attributes(tagger: pycrfsuite.Tagger, min_weight: float) -> frozenset[str]:
    """The attributes with a weight of at least min_weight (absolute) for some label: the only
    ones worth giving crfsuite, whose time grows with the number of attributes per token."""
    return frozenset(attribute for (attribute, _), weight in tagger.info().state_features.items()
                     if abs(weight) >= min_weight)


def read_calibration(model_path: Path) -> Calibration | None:
    """The score calibration stored in the model's .json sidecar, if it has one."""
    sidecar = Path(model_path).with_suffix(".json")
    if not sidecar.is_file():
        return None
    points = json.loads(sidecar.read_text(encoding="utf-8")).get("calibration", {}).get("points")
    return Calibration(points) if points else None


class CrfTagger:
    """Tags PER/ORG/GPE/LOC with a trained crfsuite model."""

    def __init__(self, model_path: Path = DEFAULT_MODEL, o_threshold: float = O_THRESHOLD,
                 min_weight: float = MIN_WEIGHT):
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"NER model not found: {model_path} (train one with `workbench train ner`)")
        self.model_path = Path(model_path)
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(model_path))
        self.features = FeatureBuilder(weighty_attributes(self.tagger, min_weight))
        self._encoded_features = FeatureBuilder(self.features.known, encoded=True)
        self.entity_tags = [tag for tag in self.tagger.labels() if tag != "O"]
        self.o_threshold = o_threshold
        self.calibration = read_calibration(self.model_path)

    def tag_tokens(self, text: str, tokens: list[Token],
                   list_spans: list[Candidate]) -> list[tuple[int, int, str, float]]:
        """(first, last, label, score) token spans over the whole text, sentence by sentence."""
        features = self._encoded_features.sequence(text, tokens, gazetteer_tags(tokens, list_spans))
        found = []
        for first, last in sentence_slices(text, tokens):
            self.tagger.set(features[first:last])
            tags = self._posterior_tags(self.tagger.tag())
            for a, b, label in bio_spans(tags):
                score = sum(self.tagger.marginal(tags[k], k) for k in range(a, b + 1)) / (b - a + 1)
                found.append((first + a, first + b, label, score))
        return found

    def _posterior_tags(self, tags: list[str]) -> list[str]:
        """Viterbi tags, except that a token tagged O whose O marginal is below the threshold
        takes its most probable entity tag: Viterbi is precise but misses names (recall 0.6)."""
        if self.o_threshold <= 0:
            return tags
        marginal = self.tagger.marginal
        for k, tag in enumerate(tags):
            if tag == "O" and marginal("O", k) < self.o_threshold:
                tags[k] = max(self.entity_tags, key=lambda t: marginal(t, k))
        return tags

    def candidates(self, text: str, tokens: list[Token], list_spans: list[Candidate], gazetteer: Gazetteer,
                   min_score: float = 0.0) -> list[Candidate]:
        """Spans for the engine, proclitics left out (the scheme's convention)."""
        found = []
        for first, last, label, score in self.tag_tokens(text, tokens, list_spans):
            if score < min_score:
                continue
            prefix = proclitic_length(tokens[first].text, gazetteer)
            start = tokens[first].start + prefix
            if start < tokens[last].end:
                calibrated = self.calibration(score) if self.calibration else score
                found.append(Candidate(start, tokens[last].end, label, round(calibrated, 4), "crf"))
        return found
