"""A lexicon stance baseline: for each target, the sentences that mention it are scored with
small positive and negative word lists; a label other than NONE needs enough evidence and a
clear margin, because most news is neutral reporting."""
from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from .rules import nisba_forms
from .text import NormalisedText, Token, normalise_word, proclitic_readings, reading_stems

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


def sentences(norm: NormalisedText, tokens: list[Token]) -> list[list[Token]]:
    """Tokens grouped by sentence (split at . ! ? ؟ and line breaks)."""
    starts = [token.start for token in tokens]
    groups: list[list[Token]] = []
    index = 0
    for match in SENTENCE_RE.finditer(norm.text):
        end = bisect_left(starts, match.end(), index)
        if end > index:
            groups.append(tokens[index:end])
        index = end
    return groups


def _group_stems(group: list[Token]) -> frozenset[str]:
    """The stems of every reading of every word of a sentence, gathered once for all targets."""
    return frozenset().union(*[reading_stems(token.text) for token in group])


def _polarity(group: list[Token]) -> tuple[int, int]:
    positive = negative = 0
    for token in group:
        forms = word_forms(token.text)
        positive += bool(forms & POSITIVE)
        negative += bool(forms & NEGATIVE)
    return positive, negative


def stance_towards(norm: NormalisedText, groups: list[list[Token]], group_stems: list[frozenset[str]],
                   target: str, other_targets: list[str]) -> dict:
    """Stance toward one target. Sentences that also name another target are skipped: a word
    like غزو there says nothing about which side it blames."""
    aliases = target_aliases(target)
    others = frozenset().union(*(target_aliases(t) for t in other_targets))
    scored = []
    for group, stems in zip(groups, group_stems):
        if not aliases.isdisjoint(stems) and others.isdisjoint(stems):
            positive, negative = _polarity(group)
            if positive or negative:
                scored.append((positive, negative, group))
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
    groups = sentences(norm, tokens)
    group_stems = [_group_stems(group) for group in groups]
    return {target: stance_towards(norm, groups, group_stems, target, [t for t in targets if t != target])
            for target in targets}
