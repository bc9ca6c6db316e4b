"""Arabic text handling for matching: a normalised copy of the text with a map back to the
original offsets, word tokens over that copy, and proclitic candidates for a word.

Nothing here changes the text that offsets are returned into: matching runs on the normalised
copy and every span is mapped back with `NormalisedText.to_original`."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, chain
from operator import attrgetter
from typing import NamedTuple

TATWEEL = "\u0640"
LETTER_MAP = {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه",
              # Persian forms of Arabic letters, common in scraped text (أوکرانیا)
              "ک": "ك", "ی": "ي", "ھ": "ه", "ۀ": "ه"}
# str.replace per letter is many times faster than str.translate on Arabic text, and the same
# here: no letter is mapped to a letter that is itself mapped.
LETTER_PAIRS = tuple(LETTER_MAP.items())
assert not set(LETTER_MAP.values()) & set(LETTER_MAP)
# Digits split from letters, so that فرانس24 reads as فرانس 24. Not pyarabic's
# tokenize_with_location: it keeps digits on letters and builds a dict per token (too slow for
# every article); pyarabic's tokenize is used where offsets are not needed (stance_model.py).
WORD_RE = re.compile(r"[^\W\d_]+|\d+")
WORD_SPLIT_RE = re.compile(f"({WORD_RE.pattern})")
# Between two tokens of one name: spaces or a hyphen, never punctuation or a line break.
NAME_GAP_RE = re.compile(r"[ \t\u00a0\-‐–]*")
# Longest first, so that a two-letter combination is tried before its first letter alone.
PROCLITICS = ("وب", "ول", "وك", "فب", "فل", "فك", "و", "ف", "ب", "ل", "ك")


def _is_dropped(char: str) -> bool:
    """Tashkeel, Quranic marks and tatweel: invisible to matching."""
    return char == TATWEEL or unicodedata.category(char) == "Mn"


@dataclass(frozen=True)
class NormalisedText:
    original: str
    text: str
    origin: Sequence[int]  # origin[i]: index in `original` of the character text[i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """A [start, end) span of the normalised text as a span of the original text.
        Combining marks written on the span's last letter stay inside it."""
        first = self.origin[start]
        last = self.origin[end - 1] + 1
        while last < len(self.original) and unicodedata.category(self.original[last]) == "Mn":
            last += 1
        return first, last


def _map_letters(text: str) -> str:
    for letter, replacement in LETTER_PAIRS:
        text = text.replace(letter, replacement)
    return text


def normalise(text: str) -> NormalisedText:
    """Dropped characters are found per distinct character, then removed segment by segment:
    no Python work per character of the text."""
    dropped = "".join(char for char in set(text) if _is_dropped(char))
    letters = _map_letters(text)
    if not dropped:
        return NormalisedText(original=text, text=letters, origin=range(len(text)))
    segments, start = [], 0
    for match in re.finditer(f"[{re.escape(dropped)}]+", text):
        segments.append((start, match.start()))
        start = match.end()
    segments.append((start, len(text)))
    return NormalisedText(original=text, text="".join(letters[a:b] for a, b in segments),
                          origin=tuple(chain.from_iterable(range(a, b) for a, b in segments)))


def normalise_word(text: str) -> str:
    return normalise(text).text


class Token(NamedTuple):
    """A word of the normalised text (a named tuple: articles have thousands, made quickly)."""
    start: int  # offsets into the normalised text
    end: int
    text: str


_new_tuple = tuple.__new__  # Token(...) without the named tuple's keyword handling: half the time


def tokenise(normalised: str) -> list[Token]:
    """Split, not finditer: the text alternates gap, word, gap, ... and the running length of
    the pieces gives every offset without a match object per word."""
    pieces = WORD_SPLIT_RE.split(normalised)
    ends = list(accumulate(map(len, pieces)))
    return [_new_tuple(Token, token) for token in zip(ends[0::2], ends[1::2], pieces[1::2])]


@lru_cache(maxsize=1 << 14)
def tokenise_phrase(phrase: str) -> tuple[str, ...]:
    """The normalised word tokens of a gazetteer entry or a lexicon phrase."""
    return tuple(t.text for t in tokenise(normalise_word(phrase)))


def joined_as_name(text: str, left: Token, right: Token) -> bool:
    """True when only spaces or a hyphen separate two tokens."""
    return NAME_GAP_RE.fullmatch(text, left.end, right.start) is not None


@lru_cache(maxsize=8)
def stem_positions(words: tuple[str, ...]) -> tuple[dict[str, list[int]], frozenset[str]]:
    """Stem (of any proclitic reading) → indexes of the words read so, and the set of those stems;
    cached, because every name list and rule table of a document looks its first words up here."""
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        for stem in reading_stems(word):
            positions.setdefault(stem, []).append(i)
    return positions, frozenset(positions)


_text_of = attrgetter("text")
# (tokens, their words) of the last document asked about: every name list and rule table of a
# document asks for the same tokens, and building the words is most of a call. One tuple, swapped
# whole, so that concurrent callers never see one document's tokens with another's words.
_last_words: tuple[Sequence[Token] | None, tuple[str, ...]] = (None, ())


def words_of(tokens: Sequence[Token]) -> tuple[str, ...]:
    global _last_words
    last_tokens, words = _last_words
    if last_tokens is not tokens or len(words) != len(tokens):
        words = tuple(map(_text_of, tokens))
        _last_words = (tokens, words)
    return words


def starts_of(tokens: Sequence[Token], first_words) -> list[int]:
    """Indexes, in order, of the tokens that can be read as one of the first words."""
    positions, stems = stem_positions(words_of(tokens))
    found: set[int] = set()
    for stem in stems & first_words:  # two sets: Python walks the smaller one
        found.update(positions[stem])
    return sorted(found)


@lru_cache(maxsize=1 << 16)
def reading_stems(word: str) -> frozenset[str]:
    """The stems of all proclitic readings of a word, for fast set tests."""
    return frozenset(stem for _, stem in proclitic_readings(word))


@lru_cache(maxsize=1 << 16)
def proclitic_readings(word: str) -> tuple[tuple[int, str], ...]:
    """(prefix length, stem) readings of a normalised word: first the word itself, then each
    proclitic split. After a ل proclitic, a stem starting with ل is also read with the article
    restored (للحكومه → ل + الحكومه, span starting after the first ل)."""
    readings = [(0, word)]
    for prefix in PROCLITICS:
        stem = word[len(prefix):]
        if not word.startswith(prefix) or len(stem) < 2:
            continue
        readings.append((len(prefix), stem))
        if prefix.endswith("ل") and stem.startswith("ل"):
            readings.append((len(prefix), "ا" + stem))
    return tuple(readings)


def article_form(text: str, start: int, end: int) -> str | None:
    """A span written after ل as part of لل, with its article restored: للحكومة gives the span
    لحكومة (guidelines: it starts after the first ل), whose name is الحكومة. None when the span
    does not start so. Whether لل really hides an article (للحكومة) or not (للندن, للجنة) is
    for the caller to decide, from whether the restored name is known."""
    before = start - 1
    while before >= 0 and (text[before] == TATWEEL or unicodedata.category(text[before]) == "Mn"):
        before -= 1
    if before < 0 or text[before] != "ل" or not text.startswith("ل", start) or end - start < 3:
        return None
    return "ا" + text[start:end]
