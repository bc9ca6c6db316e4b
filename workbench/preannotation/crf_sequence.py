"""Feature sequences for the CRF: each token's features are the concatenation of cached parts,
its own word's (crf_features.word_features), its four neighbours' (neighbour_features) and a small
context key (name-list tags and punctuation gaps around it). Training and tagging build them here
the same way."""
from __future__ import annotations

from .crf_features import EDGES, gap_class, neighbour_features, word_features
from .text import Token, words_of


class FeatureBuilder:
    """Feature tuples per token; with `known` (a model's attributes) only those it has weights for.
    With `encoded`, the features are UTF-8 bytes: crfsuite then takes them without encoding every
    string of every token again (most of its time per article)."""

    def __init__(self, known: frozenset[str] | None = None, encoded: bool = False):
        self.known = known
        self.encoded = encoded
        self.edges = tuple(self._kept_all(part) for part in EDGES)
        self._own: dict[str, tuple[str, ...]] = {}
        self._neighbours: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._small: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _kept_all(self, features) -> tuple[str, ...]:
        return tuple(f.encode() for f in features) if self.encoded else tuple(features)

    def _kept(self, features) -> tuple[str, ...]:
        return self._kept_all(features if self.known is None else [f for f in features if f in self.known])

    def own(self, word: str) -> tuple[str, ...]:
        found = self._own.get(word)
        if found is None:
            found = self._own[word] = self._kept(word_features(word))
        return found

    def neighbours(self, word: str) -> tuple[tuple[str, ...], ...]:
        found = self._neighbours.get(word)
        if found is None:
            found = self._neighbours[word] = tuple(self._kept(part) for part in neighbour_features(word))
        return found

    def tags_and_gaps(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """The features of (tag two before, one before, own, one after, two after, gap before,
        gap after); cached, as few combinations occur."""
        found = self._small.get(key)
        if found is None:
            names = ("-2g=", "-1g=", "g=", "1g=", "2g=", "gb=", "ga=")
            found = self._small[key] = self._kept(name + value for name, value in zip(names, key))
        return found

    def sequence(self, text: str, tokens: list[Token], gaz_tags: list[str]) -> list[tuple[str, ...]]:
        """One feature tuple per token of the text."""
        n = len(tokens)
        words = words_of(tokens)
        # The caches are read inline (a method call per token and table costs more than the lookup).
        own_of, near_of, around_of, edges = self._own, self._neighbours, self._small, self.edges
        own = [own_of[w] if w in own_of else self.own(w) for w in words]
        # near[i + 2] is token i's
        near = [edges, edges] + [near_of[w] if w in near_of else self.neighbours(w) for w in words] + [edges, edges]
        tags = ["^", "^"] + gaz_tags + ["$", "$"]
        gaps = ["^"] + [gap_class(text[tokens[i - 1].end:tokens[i].start]) for i in range(1, n)] + ["$"]
        around = [around_of[key] if key in around_of else self.tags_and_gaps(key)
                  for key in zip(tags, tags[1:], tags[2:], tags[3:], tags[4:], gaps, gaps[1:])]
        return [(*mine, *left[0], *far_left[1], *right[2], *far_right[3], *context)
                for mine, far_left, left, right, far_right, context in zip(own, near, near[1:], near[3:], near[4:],
                                                                           around)]


TRAINING_FEATURES = FeatureBuilder()


def sequence_features(text: str, tokens: list[Token], gaz_tags: list[str]) -> list[tuple[str, ...]]:
    """All features, as training sees them."""
    return TRAINING_FEATURES.sequence(text, tokens, gaz_tags)
