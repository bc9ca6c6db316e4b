"""The statistical layer: a linear-chain CRF (crfsuite) over the word tokens of text.py, with
word-shape, affix, context and gazetteer features. Span scores are CRF marginals: the mean
probability, over the span's tokens, of the label the tagger chose.

The model file is a plain crfsuite model (no pickle); `models/ner-crf.crfsuite` is the default,
trained by `workbench train ner` (see models/MODEL_CARD.md)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pycrfsuite

from .gazetteer import Gazetteer
from .rules import Candidate
from .text import Token, proclitic_readings

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "ner-crf.crfsuite"
CRF_LABELS = ("PER", "ORG", "GPE", "LOC")
SENTENCE_BREAK_RE = re.compile(r"[.!?؟\n]")
LATIN_RE = re.compile(r"[A-Za-z]+")
TITLE_WORDS = frozenset("""الرئيس رئيس رئيسه وزير وزيره الملك الامير الشيخ السيد السيده الدكتور المستشار الجنرال
اللواء العقيد السفير المبعوث الزعيم النائب المتحدث المتحدثه الناطق نظيره الامين قائد مدير مديره عمده حاكم
البابا الرئيسه الكاتب المخرج المدرب اللاعب الفنان الفنانه""".split())
ORG_TRIGGERS = frozenset("""شركه وكاله صحيفه حزب منظمه جامعه مجلس وزاره جمعيه اتحاد حركه جبهه بنك هيئه
مؤسسه منتدى مركز نادي قناه مجموعه لجنه محكمه مصرف""".split())
PLACE_TRIGGERS = frozenset("""مدينه منطقه ولايه محافظه اقليم جزيره جزر بلده قريه عاصمه بحر نهر جبل مقاطعه""".split())
PUNCT_CLASSES = (("q", "«»\"“”'"), ("c", "،,;؛"), ("p", ".!?؟"), ("b", "()[]"), ("k", ":"), ("h", "-‐–"))


@lru_cache(maxsize=1 << 17)
def word_features(word: str) -> tuple[str, ...]:
    """Features of a word on its own (cached: most words repeat)."""
    features = ["w=" + word, "p2=" + word[:2], "p3=" + word[:3], "x2=" + word[-2:], "x3=" + word[-3:],
                "len=" + str(min(len(word), 8))]
    stems = [stem for prefix, stem in proclitic_readings(word) if prefix]
    features.extend("st=" + stem for stem in stems[:3])
    if word.startswith("ال"):
        features.append("al")
    if word.isdigit():
        features.append("digit")
    elif LATIN_RE.fullmatch(word):
        features.append("latin")
        if word[0].isupper():
            features.append("cap")
    for reading in (word, *stems):
        if reading in TITLE_WORDS:
            features.append("title")
        elif reading in ORG_TRIGGERS:
            features.append("orgtrig")
        elif reading in PLACE_TRIGGERS:
            features.append("placetrig")
    return tuple(features)


@lru_cache(maxsize=4096)
def _gap_class(gap: str) -> str:
    return "".join(name for name, chars in PUNCT_CLASSES if any(c in gap for c in chars)) or ("n" if "\n" in gap
                                                                                              else "s")


def gazetteer_tags(tokens: list[Token], list_spans: list[Candidate]) -> list[str]:
    """B-/I- plus the label of the name-list match covering each token, "O" elsewhere."""
    tags = ["O"] * len(tokens)
    index = {token.start: i for i, token in enumerate(tokens)}
    ends = {token.end: i for i, token in enumerate(tokens)}
    for span in list_spans:
        first = index.get(span.start)
        if first is None:  # a proclitic was split off: the span starts inside the token
            first = next((i for i, t in enumerate(tokens) if t.start < span.start < t.end), None)
        last = ends.get(span.end)
        if first is None or last is None:
            continue
        tags[first] = "B-" + span.label
        for i in range(first + 1, last + 1):
            tags[i] = "I-" + span.label
    return tags


def sequence_features(text: str, tokens: list[Token], gaz_tags: list[str]) -> list[list[str]]:
    """One feature list per token: its own features, its neighbours' words and name-list tags,
    and the punctuation around it. Built column by column (list comprehensions), not token by
    token: this runs on every token of every article."""
    words = [t.text for t in tokens]
    n = len(words)
    gaps = ["^"] + [_gap_class(text[tokens[i - 1].end:tokens[i].start]) for i in range(1, n)] + ["$"]
    columns = [["g=" + tag for tag in gaz_tags], ["gb=" + gap for gap in gaps[:n]], ["ga=" + gap for gap in gaps[1:]]]
    for offset in (-2, -1, 1, 2):
        pad = [f"{offset}edge"] * abs(offset)
        shifted_words = [f"{offset}w={w}" for w in words]
        shifted_tags = [f"{offset}g={t}" for t in gaz_tags]
        if offset < 0:
            columns += [pad + shifted_words[:offset], pad + shifted_tags[:offset]]
        else:
            columns += [shifted_words[offset:] + pad, shifted_tags[offset:] + pad]
    columns.append(["-1x2=^"] + ["-1x2=" + w[-2:] for w in words[:-1]])
    columns.append(["+1p2=" + w[:2] for w in words[1:]] + ["+1p2=$"])
    cues = [context_cues(w) for w in words]
    before = [()] + cues[:-1]
    return [list(word_features(w)) + [column[i] for column in columns] + list(before[i])
            for i, w in enumerate(words)]


@lru_cache(maxsize=1 << 16)
def context_cues(word: str) -> tuple[str, ...]:
    """The trigger features a word gives the next word (-1title after الرئيس)."""
    return tuple("-1" + f for f in word_features(word) if f in ("title", "orgtrig", "placetrig"))


def sentence_slices(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    """[first, last) token ranges of the sentences: a break is . ! ? ؟ or a line break."""
    slices, first = [], 0
    for i in range(1, len(tokens)):
        if SENTENCE_BREAK_RE.search(text, tokens[i - 1].end, tokens[i].start):
            slices.append((first, i))
            first = i
    if tokens:
        slices.append((first, len(tokens)))
    return slices


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


class CrfTagger:
    """Tags PER/ORG/GPE/LOC with a trained crfsuite model."""

    def __init__(self, model_path: Path = DEFAULT_MODEL):
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"NER model not found: {model_path} (train one with `workbench train ner`)")
        self.model_path = Path(model_path)
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(model_path))

    def tag_tokens(self, text: str, tokens: list[Token],
                   list_spans: list[Candidate]) -> list[tuple[int, int, str, float]]:
        """(first, last, label, score) token spans over the whole text, sentence by sentence."""
        features = sequence_features(text, tokens, gazetteer_tags(tokens, list_spans))
        found = []
        for first, last in sentence_slices(text, tokens):
            self.tagger.set(features[first:last])
            tags = self.tagger.tag()
            for a, b, label in bio_spans(tags):
                score = sum(self.tagger.marginal(tags[k], k) for k in range(a, b + 1)) / (b - a + 1)
                found.append((first + a, first + b, label, score))
        return found

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
                found.append(Candidate(start, tokens[last].end, label, round(score, 4), "crf"))
        return found
