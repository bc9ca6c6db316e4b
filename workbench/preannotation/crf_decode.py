"""Linear-chain CRF inference in numpy, for many sentences at once: Viterbi tags and per-token
marginal probabilities from a matrix of per-token label scores (emissions) and the label
transition weights. It computes what crfsuite's tagger computes for the same weights (a test
compares the two); doing it here lets the tagger cache label scores per word instead of giving
crfsuite every feature string of every token, which was most of the engine's time.

Sentences, of one text or of many, are padded into (sentences × longest × labels) arrays, so the
Python loop runs once per position of a group's longest sentence, not once per token; sentences
of similar length share a group when one group would be mostly padding."""
from __future__ import annotations

import numpy as np


def length_groups(lengths: list[int], waste: float = 1.5, min_cells: int = 2048) -> list[list[int]]:
    """Indexes of the sentences, longest first, cut into groups whose padded size (count × longest)
    stays within `waste` times their tokens, or within min_cells (a few small arrays are cheaper
    than more loop steps)."""
    order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
    found: list[list[int]] = []
    tokens = 0
    for k in order:
        if found and (len(found[-1]) + 1) * lengths[found[-1][0]] <= max(waste * (tokens + lengths[k]), min_cells):
            found[-1].append(k)
            tokens += lengths[k]
        else:
            found.append([k])
            tokens = lengths[k]
    return found


def decode(emissions: np.ndarray, slices: list[tuple[int, int]], transitions: np.ndarray, outside: int,
           o_threshold: float = 0.0) -> list[tuple[list[int], list[float]] | None]:
    """Per [first, last) slice of the emissions: its label indexes and each one's marginal
    probability, or None when every label is `outside`. Labels are Viterbi's; with an o_threshold,
    a position whose `outside` marginal is below it takes its most probable other label."""
    found: list = [None] * len(slices)
    for group in length_groups([last - first for first, last in slices]):
        batch, lengths = padded(emissions, [slices[k] for k in group])
        best = viterbi(batch, lengths, transitions)
        inside = np.arange(best.shape[1]) < lengths[:, None]
        wanted = np.flatnonzero(((best != outside) & inside).any(axis=1) if o_threshold <= 0 else lengths > 0)
        best = best[wanted]
        probabilities = marginals(batch[wanted], lengths[wanted], transitions)
        if o_threshold > 0:
            best = _posterior(best, probabilities, outside, o_threshold)
        chosen = np.take_along_axis(probabilities, best[:, :, None], 2)[:, :, 0]
        for row, labels, probability in zip(wanted.tolist(), best.tolist(), chosen.tolist()):
            n = int(lengths[row])
            found[group[row]] = (labels[:n], probability[:n])
    return found


def _posterior(best: np.ndarray, probabilities: np.ndarray, outside: int, o_threshold: float) -> np.ndarray:
    """Viterbi precise but misses names (recall 0.6): here a position labelled `outside` whose
    marginal for it is below the threshold takes its most probable other label."""
    low = (best == outside) & (probabilities[:, :, outside] < o_threshold)
    others = probabilities.copy()
    others[:, :, outside] = -1.0
    return np.where(low, others.argmax(axis=2), best)


def padded(emissions: np.ndarray, slices: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(sentences, longest, labels) scores, zero past each sentence's end, and the lengths."""
    lengths = np.array([last - first for first, last in slices], dtype=np.int64)
    batch = np.zeros((len(slices), int(lengths.max(initial=0)), emissions.shape[1]))
    for k, (first, last) in enumerate(slices):
        batch[k, :last - first] = emissions[first:last]
    return batch, lengths


def viterbi(batch: np.ndarray, lengths: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """The best label index per position ((sentences, longest); past a sentence's end: junk).
    Ties go to the lowest label index, as in crfsuite."""
    count, longest, labels = batch.shape
    if not count or not longest:
        return np.zeros((count, longest), dtype=np.int64)
    into = np.ascontiguousarray(transitions.T)  # [to, from]: numpy reduces a last axis fastest
    steps = time_major(batch)
    back = np.zeros(steps.shape, dtype=np.int64)
    best_to = np.empty(steps.shape)
    best_to[0] = steps[0]
    # Where each (sentence, to) row of a step's flattened scores starts: picking the best of each
    # row by flat index is several times faster than take_along_axis.
    row_starts = (np.arange(count * labels) * labels).reshape(count, labels)
    for t in range(1, longest):
        scores = best_to[t - 1, :, None, :] + into
        back[t] = came_from = scores.argmax(axis=2)
        best_to[t] = scores.ravel()[row_starts + came_from] + steps[t]
    rows = np.arange(count)
    last = best_to[lengths - 1, rows].argmax(axis=1)
    best = np.zeros((count, longest), dtype=np.int64)
    current = last
    for t in range(longest - 1, -1, -1):
        current = np.where(lengths - 1 == t, last, current)
        best[:, t] = current
        if t:
            current = back[t, rows, current]
    return best


def marginals(batch: np.ndarray, lengths: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """P(label at position | sentence) by scaled forward-backward ((sentences, longest, labels))."""
    count, longest, labels = batch.shape
    if not count or not longest:
        return np.zeros(batch.shape)
    # A constant per position changes no probability; taking out each position's maximum keeps exp finite.
    weights = time_major(np.exp(batch - batch.max(axis=2, keepdims=True)))
    step = np.exp(transitions)
    alpha = np.empty(weights.shape)
    current = weights[0]
    alpha[0] = current = current / current.sum(axis=1, keepdims=True)
    for t in range(1, longest):
        current = (current @ step) * weights[t]
        alpha[t] = current = current / current.sum(axis=1, keepdims=True)
    beta = np.empty(weights.shape)
    ones = np.full((count, labels), 1.0 / labels)
    beta[longest - 1] = current = ones
    for t in range(longest - 2, -1, -1):
        current = (weights[t + 1] * current) @ step.T
        current = current / current.sum(axis=1, keepdims=True)
        # Each sentence's backward pass starts at its own last position.
        beta[t] = current = np.where((lengths - 1 <= t)[:, None], ones, current)
    joint = alpha * beta
    return (joint / joint.sum(axis=2, keepdims=True)).transpose(1, 0, 2)


def time_major(batch: np.ndarray) -> np.ndarray:
    """(longest, sentences, labels), contiguous: each step of a pass over the positions then
    reads and writes one block of memory instead of a slice strided across the whole batch."""
    return np.ascontiguousarray(batch.transpose(1, 0, 2))
