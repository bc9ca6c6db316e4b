"""Word clusters from unlabelled text (word_clusters.py) and the CRF's cluster features: learning
is deterministic and groups words that share contexts, the cluster file travels with its model,
and without clusters nothing changes."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pycrfsuite
import pytest
from test_preannotation_models import synthetic_conll

from workbench.errors import ConfigError, InputError
from workbench.preannotation import word_clusters
from workbench.preannotation.conll import read_conll
from workbench.preannotation.crf import DEFAULT_MODEL, CrfTagger, model_weights
from workbench.preannotation.crf_features import NameScorer, cluster_features, gazetteer_tags
from workbench.preannotation.crf_sequence import LabelScores, sequence_features
from workbench.preannotation.engine import LIST_SCORE, default_gazetteer, list_candidates
from workbench.preannotation.ner_training import train_crf, write_model_info
from workbench.preannotation.text import normalise, normalise_word, tokenise
from workbench.preannotation.word_clusters import WordClusters, learn_clusters

CITIES = ["حمص", "تدمر", "دوما", "بانياس", "جبلة"]
PEOPLE = ["زاهر", "نبيل", "هشام", "ماجد", "فراس"]
SMALL = {"sizes": (2, 4), "dimensions": 16, "min_count": 2, "epochs": 10, "sample": 0}
ROOT = Path(__file__).resolve().parents[1]


def corpus(n: int = 600) -> list[str]:
    """Cities after الى, people before انه: two groups of words that share contexts."""
    rng = random.Random(0)
    frames = ["سافر الوفد الى {c} امس.", "وصل القطار الى {c} صباحا.", "قال {p} انه سعيد.", "أكد {p} أنه مستعد."]
    return [rng.choice(frames).format(c=rng.choice(CITIES), p=rng.choice(PEOPLE)) for _ in range(n)]


@pytest.fixture(scope="module")
def learnt() -> WordClusters:
    sizes = SMALL["sizes"]
    return learn_clusters(iter(corpus()), sizes, **{k: v for k, v in SMALL.items() if k != "sizes"})


def ids_of(clusters: WordClusters, words: list[str]) -> list:
    return [clusters.of_word(normalise_word(word)) for word in words]


def test_words_that_share_contexts_share_a_cluster(learnt):
    cities, people = ids_of(learnt, CITIES), ids_of(learnt, PEOPLE)
    assert None not in cities + people  # جبلة is looked up as the tagger sees it (جبله)
    finest = [ids[-1] for ids in cities], [ids[-1] for ids in people]  # the 4-cluster level
    assert len(set(finest[0])) == 1 and len(set(finest[1])) == 1 and finest[0][0] != finest[1][0]
    assert learnt.of_word("والحمص") == learnt.of_word("حمص")  # by the word's core form
    assert learnt.of_word("كلمهغريبه") is None
    assert learnt.info["texts"] == 600 and learnt.info["tokens"] == sum(len(t.split()) for t in corpus())


LEARN_IN_A_NEW_INTERPRETER = """
import sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/tests")
from test_word_clusters import SMALL, corpus
from workbench.preannotation.word_clusters import learn_clusters
clusters = learn_clusters(corpus(), SMALL["sizes"], **{k: v for k, v in SMALL.items() if k != "sizes"})
print("\\n".join(clusters.lines()))
"""


def test_learning_is_deterministic_across_interpreters(learnt):
    """The same clusters whatever Python's string hash seed (gensim's default hash depends on it)."""
    runs = [subprocess.run([sys.executable, "-c", LEARN_IN_A_NEW_INTERPRETER, str(ROOT)], capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")]
    assert runs[0] == runs[1] == "\n".join(learnt.lines()) + "\n"


@pytest.mark.parametrize("texts", [[], ["", "  \n ", "...؟"], ["كلمة واحدة فقط"]])
def test_an_empty_or_tiny_corpus_gives_empty_clusters_that_never_fire(texts, tmp_path):
    clusters = learn_clusters(texts)
    assert len(clusters) == 0 and not clusters
    assert cluster_features(clusters.parts, ["حمص", "كلمه"]) == [(), ()]
    assert word_clusters.write_for_model(clusters, tmp_path / "m.crfsuite") == {}
    assert list(tmp_path.iterdir()) == []  # an empty representation is no sidecar at all


def test_the_cluster_file_round_trips(learnt, tmp_path):
    path = tmp_path / "c.tsv"
    sha = learnt.write(path)
    again = WordClusters.load(path)
    assert (again.sizes, again.ids, again.info) == (learnt.sizes, learnt.ids, json.loads(json.dumps(learnt.info)))
    assert again.write(tmp_path / "d.tsv") == sha


@pytest.mark.parametrize("content", ["", "حمص\t1\t2\n", '# {"format": "workbench word clusters 1", "sizes": [2, 4]}\n'
                                     "حمص\t1\n"])
def test_a_file_that_is_not_a_cluster_file_is_refused(content, tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="not a word-cluster file"):
        WordClusters.load(path)


def test_cluster_features_of_a_token_and_its_neighbours():
    clusters = WordClusters((4, 16), {"حمص": (1, 9), "زار": (2, 3)})
    rows = cluster_features(clusters.parts, ["زار", "وحمص", "امس"])
    assert rows == [("k4=2", "k16=3", "+1k4=1", "+1k16=9"),
                    ("k4=1", "k16=9", "-1k4=2", "-1k16=3"),
                    ("-1k4=1", "-1k16=9")]


def prepared(text: str):
    norm = normalise(text)
    tokens = tokenise(norm.text)
    spans = list_candidates(norm.text, tokens, default_gazetteer(), LIST_SCORE, "list")
    return norm.text, tokens, gazetteer_tags(tokens, spans)


TEXT = "قال زاهر القباني إن الوضع في مدينة حمص هادئ. وسافر الوفد إلى تدمر أمس."


def test_without_clusters_the_features_and_label_scores_are_unchanged():
    """The shipped model has no clusters; no clusters and empty ones add nothing, bit for bit."""
    assert CrfTagger(DEFAULT_MODEL).scores.clusters is None
    text, tokens, tags = prepared(TEXT)
    scorer = NameScorer.for_model(DEFAULT_MODEL)
    plain = sequence_features(text, tokens, tags, scorer)
    assert sequence_features(text, tokens, tags, scorer, clusters=None) == plain
    assert sequence_features(text, tokens, tags, scorer, clusters=WordClusters((64,), {})) == plain
    assert not any(f.startswith(("k64=", "-1k", "+1k")) for row in plain for f in row)
    tagger = pycrfsuite.Tagger()
    tagger.open(str(DEFAULT_MODEL))
    labels, weights, _ = model_weights(tagger)
    expected = LabelScores(weights, len(labels), scorer).sequence(text, tokens, tags)
    empty = LabelScores(weights, len(labels), scorer, clusters=WordClusters((64,), {}))
    assert np.array_equal(empty.sequence(text, tokens, tags), expected)


@pytest.fixture(scope="module")
def clustered_model(tmp_path_factory, learnt):
    folder = tmp_path_factory.mktemp("clustered")
    sentences = read_conll(synthetic_conll(folder / "train.txt"), {"PERS": "PER", "LOC": "GPE"})
    clusters = learn_clusters(corpus() + [s.text for s in sentences], (2, 4),
                              **{k: v for k, v in SMALL.items() if k != "sizes"})
    info = train_crf(sentences, folder / "m.crfsuite", max_iterations=30, clusters=clusters)
    write_model_info(folder / "m.crfsuite", info)
    return folder / "m.crfsuite", info, clusters


def test_a_model_trained_with_clusters_records_and_uses_them(clustered_model):
    model, info, clusters = clustered_model
    path = word_clusters.path_for(model)
    assert info["word_clusters"]["file"] == path.name == "m.clusters.tsv"
    assert info["word_clusters"]["words"] == len(clusters) and info["word_clusters"]["sizes"] == [2, 4]
    tagger = CrfTagger(model)
    assert tagger.scores.clusters.ids == clusters.ids
    labels, weights, _ = model_weights(_opened(model))
    assert any(f.startswith(("k2=", "k4=", "-1k", "+1k")) for f in weights)  # the CRF kept some
    text, tokens, tags = prepared(TEXT)
    rows = sequence_features(text, tokens, tags, NameScorer.for_model(model), clusters=clusters)
    assert any(f.startswith("-1k4=") for row in rows for f in row)
    expected = np.array([sum((weights[f] for f in row if f in weights), np.zeros(len(labels))) for row in rows])
    assert np.allclose(tagger.scores.sequence(text, tokens, tags), expected)  # run time = training features
    without = LabelScores(weights, len(labels), NameScorer.for_model(model)).sequence(text, tokens, tags)
    assert not np.allclose(without, expected)


def _opened(model: Path) -> pycrfsuite.Tagger:
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    return tagger


def test_a_model_trained_with_clusters_refuses_to_load_without_its_file(clustered_model, tmp_path):
    model, _, _ = clustered_model
    copy = tmp_path / "m.crfsuite"
    for path in model.parent.glob("m.*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    CrfTagger(copy)  # complete: loads
    clusters = word_clusters.path_for(copy)
    clusters.write_text(clusters.read_text(encoding="utf-8").replace("\t0", "\t1", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="not the word-cluster file m.crfsuite was trained with"):
        CrfTagger(copy)
    clusters.unlink()
    with pytest.raises(ConfigError, match=r"m.clusters.tsv is missing: m.crfsuite was trained with"):
        CrfTagger(copy)


def test_training_with_empty_clusters_is_training_without(tmp_path):
    sentences = read_conll(synthetic_conll(tmp_path / "train.txt"), {"PERS": "PER", "LOC": "GPE"})
    with_empty = train_crf(sentences, tmp_path / "a.crfsuite", max_iterations=10, clusters=learn_clusters([]))
    without = train_crf(sentences, tmp_path / "b.crfsuite", max_iterations=10)
    assert "word_clusters" not in with_empty and with_empty["sha256"] == without["sha256"]
    assert not word_clusters.path_for(tmp_path / "a.crfsuite").exists()
