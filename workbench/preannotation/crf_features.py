"""The CRF's features: what a word says on its own (form, affixes of its proclitic-stripped
core, trigger words, name-list words), what it says to its neighbours two tokens either side,
the name-list tag of each token and the punctuation around it.

Everything that depends on one word only is computed once per word and cached as a tuple; a
token's features are then a concatenation of tuples. At run time the tuples keep only the
attributes the model has weights for: the rest would cost crfsuite time and change nothing."""
from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

from .rules import Candidate
from .text import Token, proclitic_readings

LATIN_RE = re.compile(r"[A-Za-z]+")
TITLE_WORDS = frozenset("""الرئيس رئيس رئيسه وزير وزيره الملك الامير الشيخ السيد السيده الدكتور المستشار الجنرال
اللواء العقيد السفير المبعوث الزعيم النائب المتحدث المتحدثه الناطق نظيره الامين قائد مدير مديره عمده حاكم
البابا الرئيسه الكاتب المخرج المدرب اللاعب الفنان الفنانه""".split())
ORG_TRIGGERS = frozenset("""شركه وكاله صحيفه حزب منظمه جامعه مجلس وزاره جمعيه اتحاد حركه جبهه بنك هيئه
مؤسسه منتدى مركز نادي قناه مجموعه لجنه محكمه مصرف""".split())
PLACE_TRIGGERS = frozenset("""مدينه منطقه ولايه محافظه اقليم جزيره جزر بلده قريه عاصمه بحر نهر جبل مقاطعه""".split())
CORE_PREFIXES = ("وال", "فال", "بال", "كال", "لل", "ال", "وب", "ول", "و")
PUNCT_CLASSES = (("q", "«»\"“”'"), ("c", "،,;؛"), ("p", ".!?؟"), ("b", "()[]"), ("k", ":"), ("h", "-‐–"))
CUES = ("title", "orgtrig", "placetrig")


def core_form(word: str) -> str:
    """The word without its first leading particle group (والحكومه → حكومه, وبالحكومه → الحكومه),
    two letters at least: the part affix features generalise over. A word's own first و goes
    too (وزير → زير); the word itself is a feature as well, so that costs little."""
    for prefix in CORE_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 2:
            return word[len(prefix):]
    return word


@lru_cache(maxsize=1)
def name_word_labels() -> dict[str, frozenset[str]]:
    """Every word of every name-list entry → the labels of the entries it is part of
    (a first name such as محمد is a PER word even where the full name is not listed)."""
    from .engine import default_gazetteer  # the engine imports the tagger, which imports this module
    labels: dict[str, set[str]] = {}
    for key, label in default_gazetteer().labels.items():
        for word in key:
            labels.setdefault(word, set()).add(label)
    return {word: frozenset(found) for word, found in labels.items()}


@lru_cache(maxsize=1 << 17)
def word_features(word: str) -> tuple[str, ...]:
    """Features of a word on its own."""
    core = core_form(word)
    features = ["w=" + word, "p2=" + word[:2], "p3=" + word[:3], "x1=" + word[-1:], "x2=" + word[-2:],
                "x3=" + word[-3:], "x4=" + word[-4:], "len=" + str(min(len(word), 8)), "c=" + core,
                "cp2=" + core[:2], "cp3=" + core[:3], "cp4=" + core[:4], "clen=" + str(min(len(core), 8))]
    features.extend("nw=" + label for label in name_word_labels().get(core, ()))
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
    features.extend(cues(word, stems))
    return tuple(features)


def cues(word: str, stems: list[str]) -> list[str]:
    """Trigger-word features: a title (الرئيس), an organisation noun (وزاره), a place noun (مدينه)."""
    found = []
    for reading in (word, *stems):
        if reading in TITLE_WORDS:
            found.append("title")
        elif reading in ORG_TRIGGERS:
            found.append("orgtrig")
        elif reading in PLACE_TRIGGERS:
            found.append("placetrig")
    return found


@lru_cache(maxsize=1 << 17)
def neighbour_features(word: str) -> tuple[tuple[str, ...], ...]:
    """What a word tells the tokens one and two after it and one and two before it."""
    core, own = core_form(word), word_features(word)
    word_cues = [f for f in own if f in CUES]
    return (("-1w=" + word, "-1x2=" + word[-2:], "-1c=" + core, *("-1" + c for c in word_cues)),
            ("-2w=" + word, *("-2" + c for c in word_cues)),
            ("1w=" + word, "+1p2=" + word[:2], "+1c=" + core, *("+1" + c for c in word_cues)),
            ("2w=" + word,))


EDGES = (("-1edge",), ("-2edge",), ("1edge",), ("2edge",))


@lru_cache(maxsize=4096)
def gap_class(gap: str) -> str:
    return "".join(name for name, chars in PUNCT_CLASSES if any(c in gap for c in chars)) or ("n" if "\n" in gap
                                                                                             else "s")


def gazetteer_tags(tokens: list[Token], list_spans: list[Candidate]) -> list[str]:
    """B-/I- plus the label of the name-list match covering each token, "O" elsewhere."""
    tags = ["O"] * len(tokens)
    if not list_spans:
        return tags
    starts = [token.start for token in tokens]
    ends = {token.end: i for i, token in enumerate(tokens)}
    for span in list_spans:
        first = bisect_right(starts, span.start) - 1  # the token the span starts in (after a proclitic)
        last = ends.get(span.end)
        if first < 0 or last is None or span.start >= tokens[first].end:
            continue
        tags[first] = "B-" + span.label
        for i in range(first + 1, last + 1):
            tags[i] = "I-" + span.label
    return tags
