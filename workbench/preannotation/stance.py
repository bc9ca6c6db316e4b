"""A lexicon stance baseline: for each target, the sentences that mention it are scored with
small positive and negative word lists; a label other than NONE needs enough evidence and a
clear margin, because most news is neutral reporting."""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache

from .rules import nisba_forms
from .text import NormalisedText, Token, normalise_word, proclitic_readings, stem_positions, words_of

TARGET_ALIASES = {
    "أوكرانيا": ["أوكرانيا", "كييف", "كيف", "زيلينسكي", "زيلنسكي", *nisba_forms("أوكراني")],
    "روسيا": ["روسيا", "موسكو", "الكرملين", "بوتين", "الروس", *nisba_forms("روسي")],
}
POSITIVE_WORDS = """
دعم دعما الدعم مساعدة مساعدات مساندة تأييد تضامن صمود الصمود شجاعة بطولة بطولي أبطال انتصار
انتصارات نصر نجاح نجاحات تحرير حليف حلفاء شراكة صداقة إغاثة حماية يستحق شرعي مشروع
""".split()
NEGATIVE_WORDS = """
عدوان عدواني العدوان غزو الغزو احتلال الاحتلال جرائم جريمة قصف هجوم هجمات فشل فاشل فشلت إخفاق
خسائر هزيمة فساد انتهاكات وحشي وحشية إرهاب إرهابي دعاية تضليل أكاذيب عدو مجازر مجزرة كارثة
كارثي انهيار ضعف فادحة نازي النازيين استفزاز تهديد تهديدات عقوبات
""".split()
PRONOUN_SUFFIXES = ("ها", "هم", "هما", "ه", "نا")
MIN_EVIDENCE = 3      # lexicon hits needed before the text can lean either way
MIN_MARGIN = 0.6      # |positive - negative| / hits needed to call FAVOR or AGAINST
MAX_EVIDENCE_SENTENCES = 3
SENTENCE_RE = re.compile(r"[^.!?؟\n]+")


def _normalised_set(words: list[str]) -> frozenset[str]:
    return frozenset(normalise_word(w) for w in words)


POSITIVE = _normalised_set(POSITIVE_WORDS)
NEGATIVE = _normalised_set(NEGATIVE_WORDS)


@lru_cache(maxsize=1 << 16)
def word_forms(word: str) -> frozenset[str]:
    """A word with its proclitics, article and pronoun suffix peeled off in every way."""
    forms = set()
    for _, stem in proclitic_readings(word):
        for base in (stem, stem[2:] if stem.startswith("ال") else stem):
            forms.add(base)
            forms.update(base[:-len(s)] for s in PRONOUN_SUFFIXES if base.endswith(s) and len(base) > len(s) + 2)
    return frozenset(forms)


@lru_cache(maxsize=256)
def target_aliases(target: str) -> frozenset[str]:
    return _normalised_set(TARGET_ALIASES.get(target, [target]))


def sentence_bounds(norm: NormalisedText, tokens: list[Token]) -> list[tuple[int, int]]:
    """[first, end) token ranges of the sentences (split at . ! ? ؟ and line breaks); they cover
    every token, as no token holds a break character."""
    starts = [token.start for token in tokens]
    bounds = []
    index = 0
    for match in SENTENCE_RE.finditer(norm.text):
        end = bisect_left(starts, match.end(), index)
        if end > index:
            bounds.append((index, end))
        index = end
    return bounds


def sentences(norm: NormalisedText, tokens: list[Token]) -> list[list[Token]]:
    """Tokens grouped by sentence."""
    return [tokens[first:end] for first, end in sentence_bounds(norm, tokens)]


def _polarity(group: list[Token]) -> tuple[int, int]:
    positive = negative = 0
    for token in group:
        forms = word_forms(token.text)
        positive += bool(forms & POSITIVE)
        negative += bool(forms & NEGATIVE)
    return positive, negative


class SentenceIndex:
    """A document's sentences and which of them name a word (any proclitic reading), from the
    document's stem index: no per-sentence word sets."""

    def __init__(self, norm: NormalisedText, tokens: list[Token]):
        self.tokens = tokens
        self.bounds = sentence_bounds(norm, tokens)
        self.firsts = [first for first, _ in self.bounds]
        self.positions, _ = stem_positions(words_of(tokens))
        self._polarity: dict[int, tuple[int, int]] = {}

    def naming(self, words: frozenset[str]) -> set[int]:
        return {bisect_right(self.firsts, i) - 1 for word in words for i in self.positions.get(word, ())}

    def group(self, k: int) -> list[Token]:
        first, end = self.bounds[k]
        return self.tokens[first:end]

    def polarity(self, k: int) -> tuple[int, int]:
        if k not in self._polarity:
            self._polarity[k] = _polarity(self.group(k))
        return self._polarity[k]


def stance_towards(norm: NormalisedText, index: SentenceIndex, target: str, other_targets: list[str]) -> dict:
    """Stance toward one target. Sentences that also name another target are skipped: a word
    like غزو there says nothing about which side it blames."""
    others = frozenset().union(*(target_aliases(t) for t in other_targets))
    scored = []
    for k in sorted(index.naming(target_aliases(target)) - index.naming(others)):
        positive, negative = index.polarity(k)
        if positive or negative:
            scored.append((positive, negative, index.group(k)))
    positive = sum(p for p, _, _ in scored)
    negative = sum(n for _, n, _ in scored)
    label, score = _decide(positive, negative)
    return {"label": label, "score": round(score, 3), "evidence": _evidence(norm, scored, label)}


def _decide(positive: int, negative: int) -> tuple[str, float]:
    hits = positive + negative
    margin = abs(positive - negative) / hits if hits else 0.0
    if hits >= MIN_EVIDENCE and margin >= MIN_MARGIN:
        return ("FAVOR" if positive > negative else "AGAINST"), margin
    return "NONE", 1.0 - margin * min(hits, MIN_EVIDENCE) / MIN_EVIDENCE


def _evidence(norm: NormalisedText, scored: list, label: str) -> list[dict]:
    """The sentences with the most hits for the label (for NONE: any hits), in text order."""
    def weight(item):
        positive, negative, _ = item
        return {"FAVOR": positive, "AGAINST": negative}.get(label, positive + negative)

    best = sorted((item for item in scored if weight(item)), key=weight, reverse=True)[:MAX_EVIDENCE_SENTENCES]
    spans = []
    for _, _, group in sorted(best, key=lambda item: item[2][0].start):
        start, end = norm.to_original(group[0].start, group[-1].end)
        spans.append({"start": start, "end": end, "text": norm.original[start:end]})
    return spans


def predict_stance(norm: NormalisedText, tokens: list[Token], targets: list[str]) -> dict:
    index = SentenceIndex(norm, tokens)
    return {target: stance_towards(norm, index, target, [t for t in targets if t != target]) for target in targets}
