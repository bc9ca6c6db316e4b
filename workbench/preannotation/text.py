"""Arabic text handling for matching: a normalised copy of the text with a map back to the
original offsets, word tokens over that copy, and proclitic candidates for a word.

Nothing here changes the text that offsets are returned into: matching runs on the normalised
copy and every span is mapped back with `NormalisedText.to_original`."""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, chain, repeat
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


# The characters normalise has to test with _is_dropped: tatweel and every non-ASCII character
# that is neither a word character nor a space. Every Mn character is among them (a test checks),
# and looking at these few is much faster than making a set of all the text's characters.
DROP_CANDIDATE_RE = re.compile(r"[^\w\s\x00-\x7f]|" + TATWEEL)


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
    dropped = "".join(char for char in set(DROP_CANDIDATE_RE.findall(text)) if _is_dropped(char))
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
    return list(map(_new_tuple, repeat(Token), zip(ends[0::2], ends[1::2], pieces[1::2])))


@lru_cache(maxsize=1 << 14)
def tokenise_phrase(phrase: str) -> tuple[str, ...]:
    """The normalised word tokens of a gazetteer entry or a lexicon phrase."""
    return tuple(t.text for t in tokenise(normalise_word(phrase)))


_start_of = attrgetter("start")


def token_starting_at(tokens: Sequence[Token], offset: int) -> int | None:
    """Index of the token that starts at the offset, if one does."""
    i = bisect_left(tokens, offset, key=_start_of)
    return i if i < len(tokens) and tokens[i].start == offset else None


def joined_as_name(text: str, left: Token, right: Token) -> bool:
    """True when only spaces or a hyphen separate two tokens."""
    return NAME_GAP_RE.fullmatch(text, left.end, right.start) is not None


# Documents whose words and stem index are kept: a batch of articles (base.BATCH_SIZE) is worked
# through stage by stage, so each of its documents is asked about again after all the others.
RECENT_DOCUMENTS = 64
RECENT_WORDS = 200_000  # and, for the words, about this many at most: a few long texts are enough


@lru_cache(maxsize=RECENT_DOCUMENTS)
def stem_positions(words: tuple[str, ...]) -> tuple[dict[str, list[int]], frozenset[str]]:
    """Stem (of any proclitic reading) → indexes of the words read so, and the set of those stems;
    cached, because every name list and rule table of a document looks its first words up here."""
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        for stem in reading_stems(word):
            positions.setdefault(stem, []).append(i)
    return positions, frozenset(positions)


_text_of = attrgetter("text")
# id(tokens) → (tokens, their words), for the last documents asked about: every name list, rule
# table and tagger stage of a document asks for the same tokens, and building the words is most
# of a call. Entries are whole tuples and a full dict is replaced, not emptied, so concurrent
# callers never see one document's tokens with another's words.
_recent_words: dict[int, tuple[Sequence[Token], tuple[str, ...]]] = {}
_recent_total = 0  # words in _recent_words


def words_of(tokens: Sequence[Token]) -> tuple[str, ...]:
    global _recent_words, _recent_total
    known_tokens, words = _recent_words.get(id(tokens), (None, ()))
    if known_tokens is not tokens or len(words) != len(tokens):
        words = tuple(map(_text_of, tokens))
        if len(_recent_words) >= RECENT_DOCUMENTS or _recent_total > RECENT_WORDS:
            _recent_words, _recent_total = {}, 0
        _recent_words[id(tokens)] = (tokens, words)
        _recent_total += len(words)
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


ALEF_FORMS = str.maketrans({form: alef for form, alef in LETTER_MAP.items() if alef == "ا"})


def written_words(text: str) -> list[str]:
    """The words of an original text as written, to tell apart what normalise merges on purpose:
    marks and tatweel dropped and the alef forms unified, but ى and ي, ة and ه kept apart (the
    preposition على and the name علي are one word once normalised)."""
    return WORD_RE.findall("".join(char for char in text if not _is_dropped(char)).translate(ALEF_FORMS))
