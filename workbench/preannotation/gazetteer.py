"""Name lists: loading the data files and finding their entries in tokenised text.

Data files are UTF-8, one `name<TAB>LABEL` entry a line; lines starting with # are comments
(each file's first line names its source)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from .text import Token, joined_as_name, proclitic_readings, tokenise_phrase

DATA_DIR = Path(__file__).parent / "data"
NAME_FILES = ("gpe_cldr.tsv", "gpe_pyarabic.tsv", "gpe.tsv", "loc.tsv", "org.tsv", "per.tsv", "weapon.tsv")


def read_entries(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, label = line.split("\t")
        entries.append((name.strip(), label.strip()))
    return entries


@lru_cache(maxsize=1)
def name_list_entries() -> tuple[tuple[str, str], ...]:
    """All entries of the name files; a later file's label wins for a repeated name."""
    return tuple(entry for name in NAME_FILES for entry in read_entries(DATA_DIR / name))


class Match(NamedTuple):
    first: int        # index of the first token
    last: int         # index of the last token
    prefix: int       # proclitic letters at the start of the first token, outside the span
    label: str


class Gazetteer:
    """Multi-word names keyed by their normalised tokens."""

    def __init__(self, entries: list[tuple[str, str]] | tuple[tuple[str, str], ...]):
        self.labels: dict[tuple[str, ...], str] = {}
        for name, label in entries:
            key = tokenise_phrase(name)
            if key:
                self.labels[key] = label
        self.first_words = {key[0] for key in self.labels}
        # Every word sequence a longer name continues: matching stops as soon as none does.
        self.open_prefixes = {key[:n] for key in self.labels for n in range(1, len(key))}
        self.longest = max((len(key) for key in self.labels), default=0)

    def label_of_word(self, word: str) -> str | None:
        """The label of a one-word name, read with or without a proclitic."""
        for _, stem in proclitic_readings(word):
            label = self.labels.get((stem,))
            if label:
                return label
        return None

    def match_at(self, text: str, tokens: list[Token], i: int) -> Match | None:
        """The longest name starting at token i; a proclitic is split off only when the word
        as written is not a known name start."""
        for prefix, stem in proclitic_readings(tokens[i].text):
            if stem in self.first_words:
                last, label = self._longest_name(text, tokens, i, stem)
                if label:
                    return Match(i, last, prefix, label)
        return None

    def _longest_name(self, text: str, tokens: list[Token], i: int, stem: str) -> tuple[int, str | None]:
        """(index of its last token, label) of the longest name made of `stem` and the tokens
        after token i; the label is None when there is no such name."""
        words = (stem,)
        best = i, self.labels.get(words)
        j = i + 1
        end = min(len(tokens), i + self.longest)
        while j < end and words in self.open_prefixes and joined_as_name(text, tokens[j - 1], tokens[j]):
            words += (tokens[j].text,)
            label = self.labels.get(words)
            if label:
                best = j, label
            j += 1
        return best
