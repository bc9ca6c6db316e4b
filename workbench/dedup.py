"""Exact and near-duplicate articles, so that copies of one story land in the same split.

Texts are normalised (Arabic diacritics and tatweel removed, alef/yeh/teh marbuta variants
folded, punctuation dropped, whitespace collapsed). Two articles belong to the same group when
their normalised texts are identical, or when MinHash over character 5-gram shingles (32
hashes, LSH with 4 bands of 8 rows: pairs with Jaccard similarity above about 0.84 are
caught) puts them in the same bucket; groups are closed transitively. Only a few integers per
article are kept, never the texts."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache

import numpy as np

from .conll import punctuation_class

SHINGLE = 5
BANDS, ROWS = 4, 8
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20240501)  # fixed seed: signatures must not change between releases
_A = _rng.integers(1, 1 << 61, size=BANDS * ROWS, dtype=np.uint64)
_B = _rng.integers(0, 1 << 61, size=BANDS * ROWS, dtype=np.uint64)
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})


@cache
def _punctuation() -> re.Pattern:
    return re.compile(f"[{punctuation_class()}]")


def normalise(text: str) -> str:
    text = _DIACRITICS.sub("", unicodedata.normalize("NFKC", text)).translate(_FOLD).lower()
    return " ".join(_punctuation().sub(" ", text).split())


def signature(text: str) -> np.ndarray:
    """[exact-text key, band keys...] as uint64."""
    norm = normalise(text)
    exact = int.from_bytes(hashlib.sha256(norm.encode("utf-8")).digest()[:8], "big")
    return np.array([exact, *_band_keys(norm)], dtype=np.uint64)


def _band_keys(norm: str) -> list[int]:
    codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < SHINGLE:
        codes = np.pad(codes, (0, SHINGLE - len(codes)))
    shingles = np.zeros(len(codes) - SHINGLE + 1, dtype=np.uint64)
    for offset in range(SHINGLE):  # polynomial hash of each 5-gram; uint64 arithmetic wraps by design
        shingles = shingles * np.uint64(1_000_003) + codes[offset:len(codes) - SHINGLE + 1 + offset]
    hashed = (_A[:, None] * shingles[None, :] + _B[:, None]) % _MERSENNE
    minimums = hashed.min(axis=1).reshape(BANDS, ROWS)
    return [int.from_bytes(hashlib.blake2b(band.tobytes(), digest_size=8).digest(), "big") for band in minimums]


def group_leaders(signatures: np.ndarray) -> np.ndarray:
    """For rows of signatures (one per article, articles sorted by id), the row of each article's
    group leader: the smallest row connected to it through any shared key."""
    leader = np.arange(len(signatures))
    if not len(signatures):
        return leader
    inverses = [np.unique(signatures[:, col], return_inverse=True)[1] for col in range(signatures.shape[1])]
    while True:
        before = leader.copy()
        for inverse in inverses:
            smallest = np.full(inverse.max() + 1, len(leader))
            np.minimum.at(smallest, inverse, leader)
            leader = smallest[inverse]
        leader = leader[leader]
        if np.array_equal(before, leader):
            return leader
