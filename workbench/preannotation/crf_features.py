"""The CRF's features: what a word says on its own (form, affixes of its proclitic-stripped
core, trigger words, name-list words, its class in a dictionary of ordinary Arabic words), how
name-like its letters look to the model's own NameScorer, what it says to its neighbours two
tokens either side, the name-list tag of each token and the punctuation around it, and what
the word's other occurrences in the same document show (document_features).

Everything that depends on one word only is computed once per word and cached as a tuple;
crf_sequence puts a token's features together from those tuples."""
from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from pathlib import Path

import numpy as np

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
# Generated from the arramooz dictionary: `python -m workbench.preannotation.ner_training words`.
WORD_CLASSES_FILE = Path(__file__).parent / "data" / "arabic_words.tsv"
# Pronoun suffixes tried when a word is not in the dictionary as written (حكومته → حكومه).
ENCLITICS = ("هما", "كما", "هم", "هن", "كم", "ها", "نا", "ه", "ي", "ك")


@lru_cache(maxsize=1 << 17)
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


def verb_forms(past: str) -> list[str]:
    """A verb's third-person past (as the dictionary gives it) and the forms news text uses most,
    built by rule: the past with ت وا ا نا, and the imperfect with ي ت ن ا (يكتب، يقول، ينتخب،
    يعلن), alone or with ون ان وا."""
    forms = [past, past + "ت", past + "وا", past + "ا", past + "نا"]
    if len(past) == 3:
        stems = [past[0] + "و" + past[2], past[0] + "ي" + past[2]] if past[1] == "ا" else [past]  # قال → يقول
    elif past.startswith("ا") and len(past) > 3:  # انتخب → ينتخب، اعلن → يعلن
        stems = [past[1:]]
        if len(past) == 6 and past[4] == "ا":  # استحال → يستحيل
            stems.append(past[1:4] + "ي" + past[5])
    else:
        stems = [past]
    for stem in stems:
        for prefix in "يتنا":
            forms += [prefix + stem, prefix + stem + "ون", prefix + stem + "ان", prefix + stem + "وا"]
    return forms


@lru_cache(maxsize=1)
def word_classes() -> dict[str, tuple[str, str]]:
    """Ordinary Arabic words (data/arabic_words.tsv, from the arramooz dictionary) → (classes,
    frequency class). A verb lemma (class V in the file) brings its verb_forms with class v.
    About 250,000 words: built in one dict whose values are shared tuples (a set or a tuple per
    word would cost over 100 MB)."""
    found: dict[str, tuple[str, str]] = {}
    verbs = []
    with open(WORD_CLASSES_FILE, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            word, kinds, count = line.rstrip("\n").split("\t")
            if "V" in kinds:
                verbs.append(word)
            found[word] = _entry(_merged(found[word][0] if word in found else "", kinds.replace("V", "v")), count)
    for past in verbs:
        for form in verb_forms(past):
            known = found.get(form)
            found[form] = _entry(_merged(known[0], "v"), known[1]) if known else _entry("v", "0")
    return found


@lru_cache(maxsize=None)
def _entry(classes: str, count: str) -> tuple[str, str]:
    return classes, count


@lru_cache(maxsize=None)
def _merged(classes: str, more: str) -> str:
    return "".join(sorted(set(classes) | set(more)))


def dictionary_features(word: str, stems: list[str]) -> list[str]:
    """The classes and frequency class of the first reading of the word that is a dictionary
    word: the word, then its proclitic-stripped stems, each also without the article; failing
    those, the same without a pronoun suffix (class marked +). "d=-" when none is: a word no
    dictionary knows is, in news text, often a name."""
    classes = word_classes()
    readings = (word, *stems)
    for reading in readings:
        for form in ((reading, reading[2:]) if reading.startswith("ال") and len(reading) > 3 else (reading,)):
            found = classes.get(form)
            if found:
                return ["d=" + found[0], "df=" + found[1]]
    for reading in readings:
        for suffix in ENCLITICS:
            if reading.endswith(suffix) and len(reading) - len(suffix) >= 2:
                base = reading[:-len(suffix)]
                found = classes.get(base) or (classes.get(base[:-1] + "ه") if base[-1] == "ت" else None)
                if found:
                    return ["d=" + found[0] + "+", "df=" + found[1]]
    return ["d=-"]


MAX_KNOWN_CORES = 1 << 17  # the NameScorer's features kept per core form: past it, it starts again


class NameScorer:
    """How much a word's letters look like a person's or a place's name: a multinomial logistic
    regression over the character 2-4-grams of its core form, fitted on the
    training words by ner_training.fit_name_scorer and stored next to the model (.names.json).
    The CRF sees each name class's probability in five buckets (nlP=0 … nlP=4, nlL=…). These
    features belong to one model: they are not part of word_features, and a model is always
    used with its own scorer (crf_sequence takes it as an argument)."""

    BUCKETS = (0.1, 0.25, 0.5, 0.75)

    def __init__(self, classes: list[str], bias: list[float], weights: dict[str, list[float]]):
        self.classes = list(classes)
        self.bias = list(bias)
        self.weights = weights
        self._table = None  # the weights as an array, made when features_many first needs it
        self._by_core: dict[str, tuple[str, ...]] = {}  # core form → features (features_many)

    @staticmethod
    def grams(word: str) -> list[str]:
        return NameScorer.core_grams(core_form(word))

    @staticmethod
    def core_grams(core: str) -> list[str]:
        """The character 2-4-grams of a core form, with its edges marked."""
        text = "<" + core + ">"
        return [text[i:i + n] for n in (2, 3, 4) for i in range(len(text) - n + 1)]

    def probabilities(self, word: str) -> list[float]:
        scores = list(self.bias)
        for gram in self.grams(word):
            row = self.weights.get(gram)
            if row:
                scores = [a + b for a, b in zip(scores, row)]
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def features(self, word: str) -> tuple[str, ...]:
        """Nothing for digits and Latin words: the scorer knows Arabic letters only."""
        if not word.isalpha() or LATIN_RE.fullmatch(word):
            return ()
        return self._bucketed(self.probabilities(word))

    def features_many(self, words: list[str]) -> list[tuple[str, ...]]:
        """features of each word. A word's probabilities depend on its core form only: they are
        kept per core form, and those of the new ones computed together (_core_probabilities)."""
        cores = [core_form(word) if word.isalpha() and not LATIN_RE.fullmatch(word) else None for word in words]
        known = self._by_core
        new = [core for core in dict.fromkeys(cores) if core is not None and core not in known]
        if new:
            if len(known) + len(new) > MAX_KNOWN_CORES:
                known.clear()
            known.update(zip(new, map(self._bucketed, self._core_probabilities(new))))
        return [known[core] if core is not None else () for core in cores]

    def _bucketed(self, probabilities: list[float]) -> tuple[str, ...]:
        return tuple("nl" + label + "=" + str(sum(p >= bound for bound in self.BUCKETS))
                     for label, p in zip(self.classes, probabilities) if label != "O")

    def _core_probabilities(self, cores: list[str]) -> list[list[float]]:
        """probabilities of words with these core forms, their class scores summed together: per
        word the bias, then each gram's row added in order, as probabilities adds them (a gram
        without weights adds a row of zeros, which changes no sum), and the same softmax: the
        same floats."""
        if self._table is None:  # gram → row of one array, and a last row of zeros for unknown grams
            self._gram_row = {gram: k for k, gram in enumerate(self.weights)}
            self._table = np.array([*self.weights.values(), [0.0] * len(self.bias)], dtype=float).reshape(
                len(self.weights) + 1, len(self.bias))
        absent = len(self._gram_row)
        row_of = self._gram_row.get
        rows = [[row_of(gram, absent) for gram in self.core_grams(core)] for core in cores]
        longest = max(map(len, rows))
        index = np.array([row + [absent] * (longest - len(row)) for row in rows], dtype=np.intp)
        scores = np.tile(np.array(self.bias, dtype=float), (len(cores), 1))
        for column in self._table[index.T]:
            scores += column
        found = []
        for row in scores.tolist():
            top = max(row)
            exps = [math.exp(score - top) for score in row]
            total = sum(exps)
            found.append([e / total for e in exps])
        return found

    def to_json(self) -> dict:
        return {"classes": self.classes, "bias": self.bias, "weights": self.weights}

    @classmethod
    def load(cls, path: Path) -> NameScorer:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["classes"], data["bias"], data["weights"])

    @staticmethod
    def path_for(model_path: Path) -> Path:
        """Where a model's scorer is stored: model.names.json."""
        return Path(model_path).with_suffix(".names.json")

    @classmethod
    def for_model(cls, model_path: Path) -> NameScorer | None:
        """The model's scorer; None for a model trained before name-likeness features existed."""
        path = cls.path_for(model_path)
        return cls.load(path) if path.is_file() else None


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
    features.extend(dictionary_features(word, stems))
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
    for span in list_spans:
        first = bisect_right(starts, span.start) - 1  # the token the span starts in (after a proclitic)
        last = bisect_left(starts, span.end) - 1  # the token it ends in, if it ends where a token does
        if first < 0 or span.start >= tokens[first].end or tokens[last].end != span.end:
            continue
        tags[first] = "B-" + span.label
        for i in range(first + 1, last + 1):
            tags[i] = "I-" + span.label
    return tags


# A word's document features: what its OTHER occurrences in the same document (an article; in
# training, a block of ner_training.DOCUMENT_SENTENCES sentences) show. A name introduced once
# with a title, a trigger or a name-list match is often bare and unknown at its later mentions.
DOCUMENT_COUNT_BUCKETS = ((5, "5"), (3, "3"), (2, "2"))


def count_bucket(occurrences: int) -> str:
    """The name of the first DOCUMENT_COUNT_BUCKETS bound the number reaches (it is 2 or more)."""
    for bound, name in DOCUMENT_COUNT_BUCKETS:
        if occurrences >= bound:
            return name
    raise ValueError(f"a repeated word occurs at least twice, not {occurrences} times")


@lru_cache(maxsize=1 << 17)
def document_key(word: str) -> str | None:
    """The form a word's occurrences are grouped by: its core (الحكومه، وحكومه → حكومه); None for
    words too short or not made of letters, which recur without telling anything."""
    core = core_form(word)
    return core if len(core) >= 3 and word.isalpha() else None


@lru_cache(maxsize=1 << 17)
def before_evidence(word: str) -> tuple[str, ...]:
    """What a word says about the word after it: a trigger word's cue, or "first" for a
    first name (a PER word of the name lists), which makes the next word a likely surname."""
    own = word_features(word)
    found = [cue for cue in CUES if cue in own]
    if "PER" in name_word_labels().get(core_form(word), ()):
        found.append("first")
    return tuple(found)


@lru_cache(maxsize=1 << 17)
def has_article(word: str) -> bool:
    """The word carries the article (الحكومه، والحكومه، للحكومه): names rarely do."""
    prefix = word[:len(word) - len(core_form(word))]
    return prefix.endswith("ال") or prefix == "لل"


def document_features(words: list[str] | tuple[str, ...], gaz_tags: list[str]) -> list[tuple[str, ...]]:
    """Per token, what the other occurrences of its document_key in the document show: "d:" plus
    a cue or "first" of the word before one of them, the name-list label of one of them, "al" if
    one has the article; and "dn=" the bucketed number of occurrences. Nothing for a word that
    occurs once. Evidence is a bit mask (EVIDENCE_BITS): a token's "others" is a few OR/ANDs."""
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        key = document_key(word)
        if key is not None:
            positions.setdefault(key, []).append(i)
    found: list[tuple[str, ...]] = [()] * len(words)
    for places in positions.values():
        if len(places) < 2:
            continue
        masks = [occurrence_evidence(words[i - 1] if i else "", words[i], gaz_tags[i]) for i in places]
        once = twice = 0
        for mask in masks:
            twice |= once & mask
            once |= mask
        count = count_bucket(len(places))
        for i, mask in zip(places, masks):
            found[i] = document_row(count, twice | (once & ~mask))
    return found


def document_features_per_text(texts: list[tuple[list[str], list[str]]]) -> list[list[tuple[str, ...]]]:
    """document_features of texts that together make one document (the sentences of an
    article), given as (words, name-list tags) per text, handed back per text."""
    found = document_features([w for words, _ in texts for w in words], [t for _, tags in texts for t in tags])
    per_text, start = [], 0
    for words, _ in texts:
        per_text.append(found[start:start + len(words)])
        start += len(words)
    return per_text


# Evidence item → its bit in an occurrence's mask; items (g + a name-list label) are numbered as first seen.
EVIDENCE_BITS: dict[str, int] = {}


def evidence_mask(items) -> int:
    mask = 0
    for item in items:
        mask |= EVIDENCE_BITS.setdefault(item, 1 << len(EVIDENCE_BITS))
    return mask


@lru_cache(maxsize=1 << 16)
def occurrence_evidence(before: str, word: str, gaz_tag: str) -> int:
    """What one occurrence shows, as a mask of EVIDENCE_BITS: the before_evidence of the word
    before it, its name-list label (gPER, gORG …) and "al" if it has the article."""
    items = list(before_evidence(before)) if before else []
    if gaz_tag != "O":
        items.append("g" + gaz_tag[2:])
    if has_article(word):
        items.append("al")
    return evidence_mask(items)


@lru_cache(maxsize=4096)
def document_row(count: str, mask: int) -> tuple[str, ...]:
    return ("dn=" + count, *sorted("d:" + item for item, bit in EVIDENCE_BITS.items() if mask & bit))


# Word-cluster features (word_clusters.py): a token's cluster at each size ("k256=17") and its
# neighbours' one token either side ("-1k256=", "+1k256="). Like the name-likeness features they
# belong to one model and its cluster file; without clusters none of them exist.
def cluster_word_parts(ids: tuple[int, ...] | None,
                       sizes: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What a word's clusters give (itself, the token after it, the token before it); nothing
    for a word without clusters."""
    if ids is None:
        return (), (), ()
    own = tuple(f"k{size}={cluster}" for size, cluster in zip(sizes, ids))
    return own, tuple("-1" + feature for feature in own), tuple("+1" + feature for feature in own)


def cluster_features(parts_of, words) -> list[tuple[str, ...]]:
    """Per token, its cluster features; parts_of(word) is cluster_word_parts of the word's clusters
    (WordClusters.parts)."""
    parts = [parts_of(word) for word in words]
    last = len(parts) - 1
    return [(*own, *(parts[i - 1][1] if i else ()), *(parts[i + 1][2] if i < last else ()))
            for i, (own, _, _) in enumerate(parts)]
