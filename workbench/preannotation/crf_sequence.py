"""How the CRF sees a token: the concatenation of cached parts, its own word's features
(crf_features.word_features, and the name-likeness ones of the model's NameScorer), what each
of its four neighbours says to it (neighbour_features) and a small context key (the name-list
tags of the five tokens around it and the punctuation gaps on either side), and its
document features (crf_features.document_features: what the word's other occurrences in the
document show).

Training needs the feature strings (FeatureBuilder). Tagging only needs their summed weights per
label, and a sum of parts is the sum of the parts' sums: LabelScores keeps one label-score
vector per word and part, so a word seen before costs a table lookup instead of its features.
Each context feature has one value (a tag, a gap class): its weights are a row per value
(ValueTable). Document features depend on the document, not on the word: they are a separate
per-token term, from a handful of strings whose sums are cached per distinct tuple."""
from __future__ import annotations

import numpy as np

from .crf_features import (EDGES, NameScorer, cluster_features, document_features, gap_class, neighbour_features,
                           word_features)
from .text import Token, words_of

CONTEXT_NAMES = ("-2g=", "-1g=", "g=", "1g=", "2g=", "gb=", "ga=")
# neighbour_features(word)[k] is read by the token at this offset from the word.
NEIGHBOUR_OFFSETS = (1, 2, -1, -2)


def context_keys(text: str, tokens: list[Token], gaz_tags: list[str]) -> list[tuple[str, ...]]:
    """Per token: (name-list tag two before, one before, own, one after, two after, gap before, gap after)."""
    tags = padded_tags(gaz_tags)
    gaps = padded_gaps(text, tokens)
    return list(zip(tags, tags[1:], tags[2:], tags[3:], tags[4:], gaps, gaps[1:]))


def padded_tags(gaz_tags: list[str]) -> list[str]:
    """The name-list tags with two edge marks either side: token i's five tags start at i."""
    return ["^", "^", *gaz_tags, "$", "$"]


def padded_gaps(text: str, tokens: list[Token]) -> list[str]:
    """The gap_class of each gap between tokens, with an edge mark either side: token i's gaps
    (before, after) are items i and i + 1."""
    classes = _GAP_CLASSES  # read inline: most gaps are one space, and a call per token costs more
    return ["^", *[classes.get(text[left.end:right.start]) or _gap_class(text[left.end:right.start])
                   for left, right in zip(tokens, tokens[1:])], "$"]


_GAP_CLASSES: dict[str, str] = {}


def _gap_class(gap: str) -> str:
    if len(_GAP_CLASSES) < 4096:
        _GAP_CLASSES[gap] = gap_class(gap)
    return gap_class(gap)


def context_features(key: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name + value for name, value in zip(CONTEXT_NAMES, key))


class FeatureBuilder:
    """Feature tuples per token, with every part cached; the document and name-likeness
    features are not among them (sequence_features adds them)."""

    def __init__(self):
        self._own: dict[str, tuple[str, ...]] = {}
        self._neighbours: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._context: dict[tuple[str, ...], tuple[str, ...]] = {}

    def sequence(self, text: str, tokens: list[Token], gaz_tags: list[str]) -> list[tuple[str, ...]]:
        """One feature tuple per token of the text."""
        words = words_of(tokens)
        own = [self._own[w] if w in self._own else self._own.setdefault(w, word_features(w)) for w in words]
        near = [EDGES, EDGES] + [self._neighbours[w] if w in self._neighbours
                                 else self._neighbours.setdefault(w, neighbour_features(w)) for w in words]
        near += [EDGES, EDGES]  # near[i + 2] is token i's
        around = [self._context[key] if key in self._context else self._context.setdefault(key, context_features(key))
                  for key in context_keys(text, tokens, gaz_tags)]
        return [(*mine, *left[0], *far_left[1], *right[2], *far_right[3], *context)
                for mine, far_left, left, right, far_right, context in zip(own, near, near[1:], near[3:], near[4:],
                                                                           around)]


TRAINING_FEATURES = FeatureBuilder()


def sequence_features(text: str, tokens: list[Token], gaz_tags: list[str], scorer: NameScorer | None = None,
                      document: list[tuple[str, ...]] | None = None, clusters=None) -> list[tuple[str, ...]]:
    """All features, as training sees them, with the scorer's name-likeness features and the
    word-cluster features of `clusters` (word_clusters.WordClusters) if given.
    `document`: the tokens' document features when the text is part of a larger document;
    by default the text is the document."""
    rows = TRAINING_FEATURES.sequence(text, tokens, gaz_tags)
    if document is None:
        document = document_features(words_of(tokens), gaz_tags)
    rows = [(*row, *extra) for row, extra in zip(rows, document)]
    if scorer is not None:
        rows = [(*row, *scorer.features(word)) for row, word in zip(rows, words_of(tokens))]
    return with_cluster_features(rows, words_of(tokens), clusters)


def with_cluster_features(rows: list[tuple[str, ...]], words, clusters) -> list[tuple[str, ...]]:
    """The rows (one per word) with the word-cluster features added; unchanged without clusters."""
    if not clusters:
        return rows
    return [(*row, *extra) for row, extra in zip(rows, cluster_features(clusters.parts, words))]


class LabelScores:
    """Per token, the summed weights of its features for each label ((tokens, labels) array),
    from a model's state weights (attribute → weight per label). Words are numbered as they are
    first seen; row i of `_parts` holds word i's five score vectors (own, the model's name-likeness
    features included, then one per neighbour position; a model's word-cluster features go to
    the own and one-away parts). `max_words` bounds the tables of a long-running process: past it
    they start again."""

    def __init__(self, weights: dict[str, np.ndarray], labels: int, scorer: NameScorer | None = None,
                 max_words: int = 200_000, clusters=None):
        self.weights = weights
        self.labels = labels
        self.scorer = scorer
        self.clusters = clusters or None
        self.max_words = max_words
        # The weights as rows of one table (a last row of zeros for features the model lacks), so
        # that many words' sums are one gathering of rows (_sums).
        self._row_of = {attribute: k for k, attribute in enumerate(weights)}
        self._rows = np.vstack([*weights.values(), np.zeros(labels)])
        self.edges = np.array([self._sum(part) for part in EDGES])
        self._tags = ValueTable(self, CONTEXT_NAMES[:5])
        self._gaps = ValueTable(self, CONTEXT_NAMES[5:])
        self._reset()

    def _reset(self) -> None:
        self._word_ids: dict[str, int] = {}
        self._parts = np.zeros((1024, 5, self.labels))
        self._document = SumTable(self)

    def _sum(self, features) -> np.ndarray:
        total = np.zeros(self.labels)
        for feature in features:
            weight = self.weights.get(feature)
            if weight is not None:
                total += weight
        return total

    def _sums(self, feature_lists: list[tuple[str, ...]]) -> np.ndarray:
        """_sum of each feature list, as one (lists, labels) array, with the same additions in the
        same order: a list's weights are added one by one from zero (a feature the model lacks adds
        the zero row, which changes no sum), one column of the padded lists at a time."""
        absent = len(self._row_of)
        lengths = np.fromiter(map(len, feature_lists), dtype=np.intp, count=len(feature_lists))
        longest = int(lengths.max(initial=0))
        index = np.full((len(feature_lists), longest), absent, dtype=np.intp)
        row_of = self._row_of.get
        index[np.arange(longest) < lengths[:, None]] = [row_of(f, absent) for fs in feature_lists for f in fs]
        weights = self._rows[index.T]  # (longest, lists, labels): a column's rows are contiguous
        total = np.zeros((len(feature_lists), self.labels))
        for column in weights:
            total += column
        return total

    def _add_words(self, words: list[str]) -> None:
        """Numbers the new words in order and fills their rows of `_parts`, all together: per word,
        its own features' sum plus its name-likeness features' (and word clusters'), and one sum
        per neighbour position, each the sum _sum makes of the same features."""
        first = len(self._word_ids)
        while first + len(words) > len(self._parts):
            self._parts = np.concatenate([self._parts, np.zeros_like(self._parts)])
        lists: list[tuple[str, ...]] = []
        for word in words:
            lists.append(word_features(word))
            lists.extend(neighbour_features(word))
        if self.scorer is not None:
            lists.extend(self.scorer.features_many(words))
        if self.clusters is not None:
            for word in words:
                lists.extend(self.clusters.parts(word))
        sums = self._sums(lists)
        count = len(words)
        parts = sums[:5 * count].reshape(count, 5, self.labels)
        more = 5 * count
        if self.scorer is not None:
            parts[:, 0] += sums[more:more + count]
            more += count
        if self.clusters is not None:
            own, to_next, to_previous = (sums[more + k:more + 3 * count:3] for k in range(3))
            parts[:, 0] += own
            parts[:, 1] += to_next  # read by the token after (offset 1)
            parts[:, 3] += to_previous  # by the token before (offset -1)
        self._parts[first:first + count] = parts
        self._word_ids.update(zip(words, range(first, first + count)))

    def context(self, text: str, tokens: list[Token], gaz_tags: list[str]) -> np.ndarray:
        """The summed weights of each token's context_features, without making its context key:
        each of the seven features has one value, so its weights are one row of a per-value table.
        The rows are added in the features' order, from zero, as _sum adds them: the same floats."""
        n = len(tokens)
        tags = self._tags.codes(padded_tags(gaz_tags))
        gaps = self._gaps.codes(padded_gaps(text, tokens))
        total = np.zeros((n, self.labels))
        for k in range(5):  # the tags two before ... two after
            total += self._tags.rows[k, tags[k:k + n]]
        for k in range(2):  # the gaps before and after
            total += self._gaps.rows[k, gaps[k:k + n]]
        return total

    def document(self, features: list[tuple[str, ...]]) -> np.ndarray:
        """The summed weights of each token's document features."""
        return self._document.rows(features)

    def sequence(self, text: str, tokens: list[Token], gaz_tags: list[str],
                 document: list[tuple[str, ...]] | None = None) -> np.ndarray:
        """Label scores of the tokens; `document` as in sequence_features (default: the text is the document)."""
        if not tokens:
            return np.zeros((0, self.labels))
        if len(self._word_ids) + len(tokens) > self.max_words:
            self._reset()
        word_ids = self._word_ids
        words = words_of(tokens)
        new = [w for w in dict.fromkeys(words) if w not in word_ids]
        if new:
            self._add_words(new)
        words = list(map(word_ids.__getitem__, words))
        parts = self._parts[words]
        scores = parts[:, 0] + self.context(text, tokens, gaz_tags)
        n = len(words)
        for part, offset in enumerate(NEIGHBOUR_OFFSETS, start=1):
            if offset > 0:  # a word's part for the token `offset` after it
                scores[offset:] += parts[:n - offset, part]
                scores[:offset] += self.edges[part - 1]
            else:
                scores[:n + offset] += parts[-offset:, part]
                scores[n + offset:] += self.edges[part - 1]
        return scores + self.document(document if document is not None
                                      else document_features(words_of(tokens), gaz_tags))


class SumTable:
    """Summed weights per distinct key (a context key, a tuple of document features), one row
    each in a growing array, so a sequence's rows are one fancy-indexing of that array."""

    def __init__(self, scores: LabelScores):
        self._sum = scores._sum
        self._ids: dict[tuple[str, ...], int] = {}
        self._table = np.zeros((64, scores.labels))

    def rows(self, keys: list[tuple[str, ...]], features_of=None) -> np.ndarray:
        """The rows of the keys; a key's features are features_of(key), or the key itself."""
        ids = self._ids
        rows = [ids[key] if key in ids else self._add(key, features_of) for key in keys]
        return self._table[rows]  # read after the rows: adding them may have replaced the array

    def _add(self, key: tuple[str, ...], features_of) -> int:
        index = len(self._ids)
        if index == len(self._table):
            self._table = np.concatenate([self._table, np.zeros_like(self._table)])
        self._table[index] = self._sum(features_of(key) if features_of else key)
        self._ids[key] = index
        return index


class ValueTable:
    """Weights of the features `name + value`, for feature names whose values come from one small
    set (the five name-list tag features; the two gap features): rows[k, code] is the weight of
    names[k] + the value numbered `code`, zero for a feature the model does not have."""

    def __init__(self, scores: LabelScores, names: tuple[str, ...]):
        self._sum = scores._sum
        self.names = names
        self._codes: dict[str, int] = {}
        self.rows = np.zeros((len(names), 16, scores.labels))

    def codes(self, values: list[str]) -> np.ndarray:
        """The values' numbers, new values added first."""
        for value in set(values).difference(self._codes):
            self._add(value)
        return np.fromiter(map(self._codes.__getitem__, values), dtype=np.intp, count=len(values))

    def _add(self, value: str) -> None:
        code = len(self._codes)
        if code == self.rows.shape[1]:
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)], axis=1)
        for k, name in enumerate(self.names):
            self.rows[k, code] = self._sum((name + value,))
        self._codes[value] = code
