"""Arabic text handling for matching: a normalised copy of the text with a map back to the
original offsets, word tokens over that copy, and proclitic candidates for a word.

Nothing here changes the text that offsets are returned into: matching runs on the normalised
copy and every span is mapped back with `NormalisedText.to_original`."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

TATWEEL = "\u0640"
LETTER_MAP = {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه",
              # Persian forms of Arabic letters, common in scraped text (أوکرانیا)
              "ک": "ك", "ی": "ي", "ھ": "ه", "ۀ": "ه"}
# Digits split from letters, so that فرانس24 reads as فرانس 24.
WORD_RE = re.compile(r"[^\W\d_]+|\d+")
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
    origin: tuple[int, ...]  # origin[i]: index in `original` of the character text[i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """A [start, end) span of the normalised text as a span of the original text.
        Combining marks written on the span's last letter stay inside it."""
        first = self.origin[start]
        last = self.origin[end - 1] + 1
        while last < len(self.original) and unicodedata.category(self.original[last]) == "Mn":
            last += 1
        return first, last


def normalise(text: str) -> NormalisedText:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if _is_dropped(char):
            continue
        chars.append(LETTER_MAP.get(char, char))
        origin.append(index)
    return NormalisedText(original=text, text="".join(chars), origin=tuple(origin))


def normalise_word(text: str) -> str:
    return normalise(text).text


@dataclass(frozen=True)
class Token:
    start: int  # offsets into the normalised text
    end: int
    text: str


def tokenise(normalised: str) -> list[Token]:
    return [Token(m.start(), m.end(), m.group()) for m in WORD_RE.finditer(normalised)]


def tokenise_phrase(phrase: str) -> tuple[str, ...]:
    """The normalised word tokens of a gazetteer entry or a lexicon phrase."""
    return tuple(t.text for t in tokenise(normalise_word(phrase)))


def joined_as_name(text: str, left: Token, right: Token) -> bool:
    """True when only spaces or a hyphen separate two tokens."""
    return NAME_GAP_RE.fullmatch(text, left.end, right.start) is not None


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
