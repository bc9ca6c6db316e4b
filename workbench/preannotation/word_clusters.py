"""Word clusters learnt from unlabelled text: a team's own articles are its biggest data.

Texts are read the way the CRF tagger reads words (text.normalise, text.tokenise, then each
word's core form, crf_features.core_form: والحكومة, الحكومه and حكومه are one word), a sentence
at a time (a break after . ! ? ؟ or a line). word2vec (gensim; skip-gram) learns a vector per
word seen at least `min_count` times, the `max_words` commonest at most, and k-means groups the
vectors (cosine: unit length first) at a few granularities (like Brown-cluster prefixes: 64,
256 and 1024 clusters). A word's clusters are a small discrete feature of the CRF
(crf_features.cluster_features); a word outside the vocabulary has none.

Deterministic: one worker thread, fixed seeds and a hash of our own (gensim's default is
Python's `hash`, which changes from one interpreter to the next), the texts in the order given.
Memory-bounded: the texts are streamed once into a temporary file of tokenised sentences, which
word2vec reads in its passes. An empty corpus gives empty clusters, which never fire.

File format (`model.clusters.tsv`, stored next to a model whose .json sidecar records its SHA-256):
a `# ` line of JSON metadata (sizes, settings, corpus counts), then `word TAB id TAB id ...`, one
id per size."""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError, InputError
from .crf_features import cluster_word_parts, core_form
from .text import normalise, tokenise

SIZES = (64, 256, 1024)
SETTINGS = {"dimensions": 100, "window": 5, "min_count": 5, "max_words": 100_000, "epochs": 5,
            "negative": 5, "sample": 1e-4, "seed": 1}
SENTENCE_END_RE = re.compile(r"[.!?؟\n]+")
FORMAT = "workbench word clusters 1"


def text_sentences(text: str) -> Iterator[list[str]]:
    """The sentences of a text as lists of the core forms of its words (digits kept as written)."""
    for piece in SENTENCE_END_RE.split(normalise(text).text):
        words = [core_form(token.text) for token in tokenise(piece)]
        if words:
            yield words


def stable_hash(text: str) -> int:
    """The same number in every interpreter (word2vec seeds each word's first vector with it)."""
    return zlib.crc32(text.encode("utf-8"))


@dataclass
class WordClusters:
    """Word (a core form) → its cluster id at each of `sizes`; `info` says how it was learnt."""

    sizes: tuple[int, ...]
    ids: dict[str, tuple[int, ...]]
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def __post_init__(self):
        self.sizes = tuple(self.sizes)
        self.of_word = lru_cache(maxsize=1 << 17)(self._of_word)
        self.parts = lru_cache(maxsize=1 << 17)(self._parts)

    def _of_word(self, word: str) -> tuple[int, ...] | None:
        """The clusters of a token as the tagger sees it (by its core form); None when unknown."""
        return self.ids.get(core_form(word))

    def _parts(self, word: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """crf_features.cluster_word_parts of the word: its own features, the token after's, the token before's."""
        return cluster_word_parts(self.of_word(word), self.sizes)

    def lines(self) -> list[str]:
        header = "# " + json.dumps({"format": FORMAT, "sizes": list(self.sizes), **self.info}, ensure_ascii=False,
                                   sort_keys=True)
        return [header] + ["\t".join((word, *map(str, ids))) for word, ids in self.ids.items()]

    def write(self, path: Path) -> str:
        """Writes the file; returns its SHA-256."""
        data = ("\n".join(self.lines()) + "\n").encode("utf-8")
        Path(path).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: Path) -> WordClusters:
        """A file written by `write`; InputError for anything else."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            meta = json.loads(lines[0][2:]) if lines and lines[0].startswith("# ") else {}
            if meta.get("format") != FORMAT:
                raise ValueError("no word-cluster header")
            sizes = tuple(int(size) for size in meta.pop("sizes"))
            meta.pop("format")
            ids = {}
            for number, line in enumerate(lines[1:], start=2):
                word, *values = line.split("\t")
                if len(values) != len(sizes) or not word:
                    raise ValueError(f"line {number}: a word and {len(sizes)} cluster ids expected")
                ids[word] = tuple(int(value) for value in values)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a word-cluster file: {exc}")
        return cls(sizes, ids, meta)


def spill_sentences(texts: Iterable[str], handle) -> tuple[int, int, Counter]:
    """Writes the texts' sentences to an open text file, one a line, words separated by spaces;
    returns (texts, sentences, word counts)."""
    counts: Counter = Counter()
    n_texts = n_sentences = 0
    for text in texts:
        n_texts += 1
        for words in text_sentences(text or ""):
            counts.update(words)
            n_sentences += 1
            handle.write(" ".join(words) + "\n")
    return n_texts, n_sentences, counts


def learn_clusters(texts: Iterable[str], sizes: tuple[int, ...] = SIZES, **settings) -> WordClusters:
    """Word clusters of the texts (any iterable of str, read once): word2vec, then k-means at
    each size (fewer clusters when the vocabulary is smaller). `settings` override SETTINGS."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise InputError(f"unknown word-cluster settings: {', '.join(sorted(unknown))}")
    options = {**SETTINGS, **settings}
    with tempfile.TemporaryDirectory(prefix="word-clusters-") as tmp:
        corpus = Path(tmp) / "sentences.txt"
        with open(corpus, "w", encoding="utf-8") as handle:
            n_texts, n_sentences, counts = spill_sentences(texts, handle)
        info = {"settings": options, "texts": n_texts, "sentences": n_sentences, "tokens": sum(counts.values()),
                "method": "word2vec skip-gram (gensim) over core forms, k-means of the unit vectors per size"}
        kept = sum(1 for count in counts.values() if count >= options["min_count"])
        if kept < 2:
            return WordClusters(sizes, {}, info)
        words, vectors = word_vectors(corpus, options)
    return WordClusters(sizes, cluster_vectors(words, vectors, sizes, options["seed"]), info)


def word_vectors(corpus: Path, options: dict):
    """(words, unit vectors) from word2vec over a file of sentences, one worker, fixed seed."""
    import numpy as np
    from gensim.models import Word2Vec
    model = Word2Vec(corpus_file=str(corpus), vector_size=options["dimensions"], window=options["window"],
                     min_count=options["min_count"], max_final_vocab=options["max_words"], sg=1,
                     negative=options["negative"], sample=options["sample"], epochs=options["epochs"],
                     seed=options["seed"], workers=1, hashfxn=stable_hash)
    words = list(model.wv.index_to_key)
    vectors = np.asarray(model.wv.vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return words, vectors / np.where(norms > 0, norms, 1.0)


def cluster_vectors(words: list[str], vectors, sizes: tuple[int, ...], seed: int) -> dict[str, tuple[int, ...]]:
    """Word → its k-means cluster at each size (at most one cluster per word)."""
    from sklearn.cluster import KMeans
    columns = []
    for size in sizes:
        k = min(size, len(words))
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100)
        columns.append(kmeans.fit_predict(vectors).tolist())
    return {word: tuple(column[i] for column in columns) for i, word in enumerate(words)}


def path_for(model_path: Path) -> Path:
    """Where a model's clusters are stored: model.clusters.tsv."""
    return Path(model_path).with_suffix(".clusters.tsv")


def write_for_model(clusters: WordClusters | None, model_path: Path) -> dict:
    """Stores non-empty clusters next to the model; returns what the model's .json sidecar
    records of them ({} when there are none: such a model is one trained without clusters)."""
    path = path_for(model_path)
    if not clusters:
        return {}
    sha = clusters.write(path)
    return {"word_clusters": {"file": path.name, "sha256": sha, "words": len(clusters),
                              "sizes": list(clusters.sizes)}}


def for_model(model_path: Path) -> WordClusters | None:
    """The clusters a model was trained with, or None for a model trained without. A model whose
    .json sidecar names a cluster file refuses to load without it, or with another file: its
    cluster weights would silently count for nothing, or for the wrong words."""
    sidecar = Path(model_path).with_suffix(".json")
    recorded = json.loads(sidecar.read_text(encoding="utf-8")).get("word_clusters") if sidecar.is_file() else None
    if not recorded:
        return None
    path = Path(model_path).parent / recorded["file"]
    if not path.is_file():
        raise ConfigError(f"{path} is missing: {Path(model_path).name} was trained with these word clusters; "
                          "keep the model's .crfsuite, .json and .clusters.tsv files together")
    if hashlib.sha256(path.read_bytes()).hexdigest() != recorded["sha256"]:
        raise ConfigError(f"{path} is not the word-cluster file {Path(model_path).name} was trained with "
                          "(its SHA-256 differs from the one in the model's .json)")
    return WordClusters.load(path)
