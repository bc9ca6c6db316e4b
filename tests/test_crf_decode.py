"""The tagger's own CRF inference (crf_decode, crf_sequence.LabelScores) against crfsuite's:
same tags, same marginals, for one text and for many decoded together."""
from __future__ import annotations

import numpy as np
import pycrfsuite
import pytest
from test_preannotation_models import synthetic_conll

from workbench.preannotation.conll import read_conll
from workbench.preannotation.crf import CrfTagger, bio_spans, model_weights, sentence_slices
from workbench.preannotation.crf_decode import decode, length_groups, marginals, padded, viterbi
from workbench.preannotation.crf_features import NameScorer, document_features, gazetteer_tags
from workbench.preannotation.crf_sequence import (LabelScores, SumTable, context_features, context_keys,
                                                  sequence_features)
from workbench.preannotation.engine import LIST_SCORE, default_gazetteer, list_candidates
from workbench.preannotation.ner_training import train_crf
from workbench.preannotation.rules import Candidate
from workbench.preannotation.text import normalise, tokenise, words_of

TEXTS = [
    "قال وسيم الخطيب إن الوضع في مدينة قطنا هادئ. وزار سمير حداد مدينة حمص أمس!",
    "التقى الرئيس محمد بن سلمان نظيره في الرياض\nثم غادر إلى باريس؟ نعم.",
    "خبر",
    "",
    "وقال مسؤول في وزارة الخارجية الفرنسية إن باريس ترحب، وأضاف: «لا تعليق».",
    # a name that recurs: document features (its other occurrences follow قال and مدينة)
    "قال وسيم الخطيب إن قطنا هادئة. وزار الخطيب مدينة قطنا أمس!\nوقال الخطيب إن قطنا بخير.",
]
RECURRING = TEXTS[-1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decode")
    sentences = read_conll(synthetic_conll(folder / "train.txt"), {"PERS": "PER", "LOC": "GPE"})
    train_crf(sentences, folder / "m.crfsuite", max_iterations=40)
    return folder / "m.crfsuite"


def prepared(text):
    norm = normalise(text)
    tokens = tokenise(norm.text)
    return norm.text, tokens, list_candidates(norm.text, tokens, default_gazetteer(), LIST_SCORE, "list")


def crfsuite_spans(model, text, tokens, list_spans):
    """What crfsuite itself makes of the same features: Viterbi tags and mean marginals per span."""
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    features = sequence_features(text, tokens, gazetteer_tags(tokens, list_spans), NameScorer.for_model(model))
    found = []
    for first, last in sentence_slices(text, tokens):
        tagger.set(features[first:last])
        tags = tagger.tag()
        for a, b, label in bio_spans(tags):
            score = sum(tagger.marginal(tags[k], k) for k in range(a, b + 1)) / (b - a + 1)
            found.append((first + a, first + b, label, score))
    return found


@pytest.mark.parametrize("text", TEXTS)
def test_tags_and_scores_are_crfsuites(model, text):
    expected = crfsuite_spans(model, *prepared(text))
    found = CrfTagger(model).tag_tokens(*prepared(text))
    assert [s[:3] for s in found] == [s[:3] for s in expected]
    assert [s[3] for s in found] == pytest.approx([s[3] for s in expected], abs=1e-5)
    if text.startswith("قال"):
        assert found  # the comparison is about names, not only about empty results


def test_many_texts_decoded_together_give_each_texts_own_result(model):
    tagger = CrfTagger(model)
    together = tagger.tag_many([prepared(text) for text in TEXTS * 3])
    alone = [CrfTagger(model).tag_tokens(*prepared(text)) for text in TEXTS * 3]
    assert [[s[:3] for s in spans] for spans in together] == [[s[:3] for s in spans] for spans in alone]
    assert any(together)


@pytest.mark.parametrize("text", [TEXTS[0], RECURRING])
def test_label_scores_are_the_summed_weights_of_the_training_features(model, text):
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    labels, weights, _ = model_weights(tagger)
    text, tokens, list_spans = prepared(text)
    tags = gazetteer_tags(tokens, list_spans)
    scorer = NameScorer.for_model(model)
    rows = sequence_features(text, tokens, tags, scorer)
    assert any(f.startswith("nlP=") for row in rows for f in row)  # the model's name-likeness features are in
    expected = np.array([sum((weights[f] for f in row if f in weights), np.zeros(len(labels))) for row in rows])
    scores = LabelScores(weights, len(labels), scorer)
    assert np.allclose(scores.sequence(text, tokens, tags), expected)
    assert np.allclose(scores.sequence(text, tokens, tags), expected)  # again, from the cached rows
    if text == RECURRING:
        assert any(f.startswith("d:") and f in weights for row in rows for f in row)  # document features count


@pytest.mark.parametrize("text", TEXTS)
def test_context_scores_are_the_sums_of_the_context_features_to_the_last_bit(model, text):
    """LabelScores.context adds per-feature rows instead of summing each context key's features:
    the same additions in the same order, so the same floats (tagging output must not change)."""
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    labels, weights, _ = model_weights(tagger)
    text, tokens, list_spans = prepared(text + " وقال-الخطيب: «قطنا»")
    tags = gazetteer_tags(tokens, list_spans)
    scores = LabelScores(weights, len(labels))
    expected = np.array([scores._sum(context_features(key)) for key in context_keys(text, tokens, tags)])
    assert np.array_equal(scores.context(text, tokens, tags), expected)
    assert any(f.startswith("gb=") and f in weights for key in context_keys(text, tokens, tags)
               for f in context_features(key))


def test_gazetteer_tags_mark_the_tokens_a_span_covers():
    text = "زار والرئيس جو بايدن كييف"
    tokens = tokenise(text)
    start = text.index("الرئيس")
    spans = [Candidate(start, text.index(" بايدن"), "PER", 0.9, "list"),  # from inside a token to a token end
             Candidate(text.index("كييف"), len(text), "GPE", 0.9, "list"),
             Candidate(text.index("بايدن"), text.index("بايدن") + 2, "PER", 0.9, "list")]  # ends mid-token: ignored
    assert gazetteer_tags(tokens, spans) == ["O", "B-PER", "I-PER", "O", "B-GPE"]


def test_sentences_given_as_one_document_are_tagged_as_crfsuite_tags_them(model):
    """tag_many with document numbers: each sentence its own sequence, document features over all."""
    sentences = [prepared(s) for s in ("قال وسيم الخطيب إن قطنا هادئة", "وزار الخطيب مدينة قطنا أمس",
                                       "وقال الخطيب إن قطنا بخير", "زار سمير حداد حمص")]
    words = [w for _, tokens, _ in sentences for w in words_of(tokens)]
    document = document_features(words, [t for _, tokens, spans in sentences for t in gazetteer_tags(tokens, spans)])
    crfsuite = pycrfsuite.Tagger()
    crfsuite.open(str(model))
    expected, start = [], 0
    for text, tokens, spans in sentences:
        crfsuite.set(sequence_features(text, tokens, gazetteer_tags(tokens, spans), NameScorer.for_model(model),
                                       document=document[start:start + len(tokens)]))
        expected.append([span[:3] for span in bio_spans(crfsuite.tag())])
        start += len(tokens)
    found = CrfTagger(model).tag_many(sentences, document_of=[0, 0, 0, 0])
    assert [[span[:3] for span in spans] for spans in found] == expected
    assert any(document[:len(sentences[0][1])])  # the first sentence's words recur in the others


def test_label_score_tables_start_again_past_their_bound(model):
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    labels, weights, _ = model_weights(tagger)
    text, tokens, list_spans = prepared(TEXTS[0])
    tags = gazetteer_tags(tokens, list_spans)
    bounded = LabelScores(weights, len(labels), max_words=len(tokens) + 2)
    first = bounded.sequence(text, tokens, tags)
    other_text, other_tokens, other_spans = prepared(TEXTS[1])
    bounded.sequence(other_text, other_tokens, gazetteer_tags(other_tokens, other_spans))
    assert len(bounded._word_ids) <= len(tokens) + 2
    assert np.allclose(bounded.sequence(text, tokens, tags), first)


def brute_force(emissions, transitions):
    """Every label sequence of a short sentence: the best one and the marginals."""
    n, labels = emissions.shape
    sequences = np.array(np.meshgrid(*[range(labels)] * n, indexing="ij")).reshape(n, -1).T
    scores = np.array([emissions[np.arange(n), s].sum() + sum(transitions[a, b] for a, b in zip(s, s[1:]))
                       for s in sequences])
    weights = np.exp(scores - scores.max())
    probabilities = np.zeros((n, labels))
    for s, w in zip(sequences, weights):
        probabilities[np.arange(n), s] += w
    return sequences[scores.argmax()], probabilities / weights.sum()


def test_viterbi_and_marginals_match_brute_force_on_ragged_batches():
    rng = np.random.default_rng(7)
    transitions = rng.normal(size=(3, 3))
    emissions = rng.normal(size=(12, 3)) * 2
    slices = [(0, 4), (4, 5), (5, 7), (7, 12)]
    batch, lengths = padded(emissions, slices)
    best = viterbi(batch, lengths, transitions)
    probabilities = marginals(batch, lengths, transitions)
    for k, (first, last) in enumerate(slices):
        expected_best, expected_probabilities = brute_force(emissions[first:last], transitions)
        assert best[k, :last - first].tolist() == expected_best.tolist()
        assert np.allclose(probabilities[k, :last - first], expected_probabilities)


def test_decode_leaves_out_sentences_without_names():
    transitions = np.zeros((2, 2))
    emissions = np.array([[5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    found = decode(emissions, [(0, 2), (2, 4)], transitions, outside=0)
    assert found[0] is None
    labels, probability = found[1]
    assert labels == [1, 0] and probability == pytest.approx([np.exp(5) / (1 + np.exp(5))] * 2)


def test_decode_with_a_threshold_gives_low_outside_positions_their_best_other_label():
    transitions = np.zeros((3, 3))
    emissions = np.array([[1.0, 0.8, 0.0], [3.0, 0.0, 0.0]])
    assert decode(emissions, [(0, 2)], transitions, outside=0)[0] is None
    labels, _ = decode(emissions, [(0, 2)], transitions, outside=0, o_threshold=0.5)[0]
    assert labels == [1, 0]


def test_length_groups_bound_the_padding():
    lengths = [3000] + [5] * 40_000
    groups = length_groups(lengths)
    assert sorted(k for group in groups for k in group) == list(range(len(lengths)))
    for group in groups:
        cells = len(group) * max(lengths[k] for k in group)
        assert cells <= max(1.5 * sum(lengths[k] for k in group), 2048)
    assert len(length_groups([10, 9, 3, 1])) == 1  # small inputs: one group


def test_sum_table_rows_are_right_when_one_call_outgrows_the_table(model):
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    labels, weights, _ = model_weights(tagger)
    keys = [(feature,) for feature in list(weights)[:200]]
    assert len(keys) > 64  # more new keys in one call than the table's first size
    table = SumTable(LabelScores(weights, len(labels)))
    assert np.allclose(table.rows(keys), np.array([weights[feature] for (feature,) in keys]))
    assert np.allclose(table.rows(keys[::-1]), np.array([weights[feature] for (feature,) in keys[::-1]]))
