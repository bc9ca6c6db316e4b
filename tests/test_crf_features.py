"""The CRF's dictionary and name-likeness features (crf_features) and how training fits and
cross-fits the name-likeness scorer (ner_training). No network, no shared data: the dictionary
file is the shipped data/arabic_words.tsv, the training sentences are made up here."""
from __future__ import annotations

import json

import pytest

from workbench.preannotation import ner_training
from workbench.preannotation.conll import Sentence
from workbench.preannotation.crf import CrfTagger
from workbench.preannotation.crf_features import (WORD_CLASSES_FILE, NameScorer, dictionary_features,
                                                  document_features, verb_forms, word_classes, word_features)
from workbench.preannotation.ner_training import (cross_fitted, document_numbers, fit_name_scorer, name_class,
                                                  train_crf, write_model_info)


def test_word_classes_file_names_its_source():
    first = WORD_CLASSES_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# source: arramooz-pysqlite") and "GPL" in first


def test_verb_forms_by_rule():
    assert {"يقول", "تقول", "قالت", "قالوا"} <= set(verb_forms("قال"))  # hollow verb
    assert {"ينتخب", "ينتخبون"} <= set(verb_forms("انتخب"))
    assert {"يكتب", "نكتب"} <= set(verb_forms("كتب"))
    assert "يستحيل" in verb_forms("استحال")


def test_dictionary_readings():
    classes = word_classes()
    assert "n" in classes["حكومه"][0] and "v" in classes["يقول"][0]  # a verb form built at load time
    assert dictionary_features("الحكومه", []) == ["d=" + classes["حكومه"][0], "df=" + classes["حكومه"][1]]
    assert dictionary_features("والحكومه", ["الحكومه"])[0] == "d=" + classes["حكومه"][0]  # proclitic and article
    assert dictionary_features("حكومته", [])[0] == "d=" + classes["حكومه"][0] + "+"  # pronoun suffix, ة → ت
    assert dictionary_features("ميدفيديف", []) == ["d=-"]  # a name no dictionary has


def test_word_features_carry_the_dictionary_class_and_no_model_feature():
    assert "d=-" in word_features("ميدفيديف")
    assert not any(f.startswith("nl") for f in word_features("ميدفيديف"))


TOY = [("ميدفيديف", "P"), ("بوتين", "P"), ("شيراك", "P"), ("كلينتون", "P"), ("فيديفسكي", "P"),
       ("الحكومه", "O"), ("الوزاره", "O"), ("الاقتصاد", "O"), ("المدينه", "O"), ("يقول", "O"), ("قالت", "O"),
       ("باريس", "L"), ("لندن", "L"), ("برلين", "L"), ("بريطانيا", "L")]


def test_name_scorer_fit_buckets_and_round_trip(tmp_path):
    scorer = fit_name_scorer(TOY * 3)
    assert scorer.classes == ["L", "O", "P"]
    features = scorer.features("ميدفيديفسكي")
    assert [f[:4] for f in features] == ["nlL=", "nlP="]  # one bucket feature per name class, none for O
    probabilities = dict(zip(scorer.classes, scorer.probabilities("ميدفيديفسكي")))
    assert probabilities["P"] > probabilities["O"]
    assert scorer.features("2024") == () and scorer.features("Reuters") == ()
    path = tmp_path / "s.names.json"
    path.write_text(json.dumps(scorer.to_json()), encoding="utf-8")
    assert NameScorer.load(path).features("ميدفيديفسكي") == features


def test_binary_name_scorer_matches_a_two_class_regression():
    scorer = fit_name_scorer([(w, "O" if c == "O" else "P") for w, c in TOY] * 3)
    assert scorer.classes == ["O", "P"] and len(scorer.bias) == 2
    assert abs(sum(scorer.probabilities("بوتينوف")) - 1) < 1e-9


def test_name_class():
    assert [name_class(t) for t in ("O", "B-PER", "I-ORG", "B-GPE", "I-LOC")] == ["O", "P", "O", "L", "L"]


def test_cross_fitting_never_scores_a_block_with_itself(monkeypatch):
    seen = []
    real = ner_training.fit_name_scorer

    def recording(pairs):
        pairs = list(pairs)
        seen.append({w for w, _ in pairs})
        return real(pairs)
    monkeypatch.setattr(ner_training, "fit_name_scorer", recording)
    words = [("ميدفيديف", "يقول"), ("بوتين", "قالت"), ("شيراك", "الحكومه"), ("لندن", "الوزاره")] * 2
    data = [([("w=" + a,), ("w=" + b,)], ["B-PER", "O"]) for a, b in words]
    out = cross_fitted(data, words, parts=2)
    assert len(out) == len(data) and [y for _, y in out] == [y for _, y in data]
    assert len(seen) == 2
    assert seen[0] == set(words[4][0:2]) | set(words[5]) | set(words[6]) | set(words[7])  # block 2 only
    assert seen[1] == {w for pair in words[:4] for w in pair}
    assert all(len(x[0]) > 1 and x[0][0].startswith("w=") for x, _ in out)  # name-likeness features added


def test_train_crf_writes_the_scorer_that_the_models_tagger_uses(tmp_path):
    sentences = [Sentence("قال ميدفيديف في موسكو", [{"start": 4, "end": 12, "label": "PER"},
                                                      {"start": 16, "end": 21, "label": "GPE"}]),
                 Sentence("وقالت الحكومه في باريس", [{"start": 17, "end": 22, "label": "GPE"}]),
                 Sentence("زار بوتين لندن", [{"start": 4, "end": 9, "label": "PER"},
                                            {"start": 10, "end": 14, "label": "GPE"}])] * 4
    model = tmp_path / "tiny.crfsuite"
    info = train_crf(sentences, model, max_iterations=5)
    stored = json.loads(model.with_suffix(".names.json").read_text(encoding="utf-8"))
    assert stored["classes"] == ["L", "O", "P"] and info["name_scorer"]["file"] == "tiny.names.json"
    assert NameScorer.path_for(model) == model.with_suffix(".names.json")
    tagger = CrfTagger(model)
    assert tagger.scores.scorer is not None
    assert tagger.scores.scorer.features("ميدفيديف") == NameScorer.for_model(model).features("ميدفيديف")
    write_model_info(model, info)  # as `workbench train ner` does
    scorer_file = model.with_suffix(".names.json").read_bytes()
    model.with_suffix(".names.json").unlink()
    with pytest.raises(FileNotFoundError, match="tiny.names.json is missing"):
        CrfTagger(model)  # its sidecar says it was trained with a scorer
    model.with_suffix(".json").write_text(json.dumps({"sha256": info["sha256"]}), encoding="utf-8")
    assert CrfTagger(model).scores.scorer is None  # a model from before name-likeness features
    model.with_suffix(".names.json").write_bytes(scorer_file)


def test_document_features_tell_a_word_what_its_other_occurrences_show():
    words = "قال الرئيس جوتشولك ان جوتشولك والحكومه في الحكومه محمد جوتشولك زار".split()
    tags = ["O"] * len(words)
    tags[7] = "B-ORG"
    found = dict(enumerate(document_features(words, tags)))
    assert found[4] == ("dn=3", "d:first", "d:title")  # after الرئيس at 2, after the first name محمد at 9
    assert found[2] == ("dn=3", "d:first")  # its own title does not count
    assert found[9] == ("dn=3", "d:title")
    assert found[5] == ("dn=2", "d:al", "d:gORG")  # الحكومه: the article, and a name-list match
    assert found[7] == ("dn=2", "d:al")
    assert found[0] == found[10] == () and found[3] == ()  # once only; too short to count


def test_training_documents_are_blocks_of_consecutive_sentences():
    assert document_numbers(5, size=2) == [0, 0, 1, 1, 2]
    assert document_numbers(0) == []
