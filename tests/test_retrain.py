"""Retraining from a release: examples.jsonl (train split) into the CRF tagger, the lexicon, the
stance classifier or the lexicon baseline, the ledger; test-split figures of both models; the
release's examples.conll read with its `# id =` lines. Releases are made up (retrain_data.py)
and written by the release code."""
import hashlib
import json

import pytest
from click.testing import CliRunner
from conftest import make_settings
from retrain_data import article, built_bundle, stance_for, unseen_weapon_text, write_release

from workbench.bundles import bundle_preannotator
from workbench.cli import main
from workbench.errors import InputError
from workbench.preannotation.conll import Sentence, read_conll
from workbench.preannotation.crf import CrfTagger
from workbench.preannotation.ner_training import article_sentences, sentence_documents, token_labels
from workbench.preannotation.text import normalise, tokenise
from workbench.retrain import MIN_STANCE_LABELS, is_better, read_release, retrain, stance_plan


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    release, bundle = built_bundle(tmp_path_factory)
    return release, bundle, json.loads((bundle / "model.json").read_text(encoding="utf-8"))


def examples_of(release):
    return [json.loads(line) for line in (release / "examples.jsonl").read_text(encoding="utf-8").splitlines()]


# --- reading a release ------------------------------------------------------------------------

def test_the_releases_conll_is_read_with_its_id_lines(tmp_path):
    release = write_release(tmp_path / "exports", 12)
    sentences = read_conll(release / "examples.conll")
    ids = [e["id"] for e in examples_of(release)]
    assert [s.document for s in sentences if s.document] and {s.document for s in sentences} == set(ids)
    first = [s for s in sentences if s.document == ids[0]]
    assert ("منظومة" in first[0].text and
            {e["label"] for s in sentences for e in s.entities} == {"PER", "GPE", "WEAPON", "NORP", "DATE"})
    assert all(s.text[e["start"]:e["end"]] == e["text"] for s in sentences for e in s.entities)


def test_a_hash_token_is_not_a_comment(tmp_path):
    path = tmp_path / "x.conll"
    path.write_text("# id = doc1\n#\tO\nسمير\tB-PER\n# text = ignored\n\n# id = doc2\nحمص\tB-GPE\n", encoding="utf-8")
    first, second = read_conll(path)
    assert (first.text, first.document, first.entities[0]["text"]) == ("# سمير", "doc1", "سمير")
    assert (second.document, second.entities[0]["label"]) == ("doc2", "GPE")


def test_an_article_is_cut_into_sentences_that_keep_their_spans_and_their_article():
    example = article(3)
    sentences = article_sentences(example)
    assert len(sentences) == 12 and {s.document for s in sentences} == {example["id"]}
    assert sum(len(s.entities) for s in sentences) == len(example["entities"])
    assert all(s.text[e["start"]:e["end"]] == e["text"] for s in sentences for e in s.entities)
    assert sentence_documents(sentences) == [("article", example["id"])] * 12


def test_sentences_without_an_article_fall_back_to_blocks():
    assert sentence_documents([Sentence("أ"), Sentence("ب", document="x")]) == [("block", 0), ("article", "x")]


def test_a_token_with_a_proclitic_before_the_span_is_labelled():
    sentence = Sentence("التقى والرئيس بوتين", [{"start": 7, "end": 19, "label": "PER", "text": "الرئيس بوتين"}])
    norm = normalise(sentence.text)
    assert token_labels(sentence, tokenise(norm.text), norm.origin) == ["O", "B-PER", "I-PER"]


def test_a_span_that_does_not_fit_the_text_names_the_example(tmp_path):
    example = {**article(1), "split": "train"}
    example["entities"][0] = {**example["entities"][0], "end": example["entities"][0]["end"] + 1}
    path = tmp_path / "examples.jsonl"
    path.write_text(json.dumps(example, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_release(path)
    assert "a0001" in info.value.message and "the span says" in info.value.message


# --- the trained bundle -----------------------------------------------------------------------

def test_the_tagger_learns_every_label_of_the_release(trained):
    _, bundle, info = trained
    assert CrfTagger(bundle / "ner-crf.crfsuite").entity_labels == ["DATE", "GPE", "NORP", "PER", "WEAPON"]
    assert set(info["training"]["ner"]["spans_per_label"]) == {"DATE", "GPE", "NORP", "PER", "WEAPON"}


def test_the_new_bundle_tags_the_releases_convention_the_shipped_model_does_not(trained):
    from workbench.preannotation import default_preannotator
    _, bundle, _ = trained
    text = unseen_weapon_text()
    (doc, spans), = bundle_preannotator(bundle, []).spans_many([text])
    assert ("طرمول", "WEAPON", "crf") in [(doc.norm.text[s.start:s.end], s.label, s.source) for s in spans]
    assert "WEAPON" not in [e["label"] for e in default_preannotator([]).annotate(text).entities]


def test_training_reads_only_the_train_split_and_scores_the_test_split(trained):
    release, _, info = trained
    examples = examples_of(release)
    count = {split: sum(e["split"] == split for e in examples) for split in ("train", "dev", "test")}
    assert info["training"]["ner"]["articles"] == count["train"] and info["release"]["examples"] == count
    assert info["evaluation"]["documents"] == count["test"] > 0
    new, current = info["evaluation"]["new"], info["evaluation"]["current"]
    assert set(new["entities"]["per_label"]) >= {"WEAPON", "NORP", "DATE"} and "micro" in new["entities"]
    assert current["bundle"] == "shipped default"
    assert current["entities"]["per_label"].get("WEAPON", {}).get("f1", 0) == 0
    assert new["entities"]["micro"]["f1"] > current["entities"]["micro"]["f1"] and info["evaluation"]["better"]


def test_model_json_names_the_release_its_hash_and_every_file(trained):
    release, bundle, info = trained
    assert info["release"]["version"] == release.name
    assert info["release"]["examples_sha256"] == hashlib.sha256((release / "examples.jsonl").read_bytes()).hexdigest()
    assert info["parent"] is None and info["model_version"] == bundle.name and bundle.name.startswith("bundle-")
    assert set(info["files"]) == {"ner-crf.crfsuite", "ner-crf.json", "ner-crf.names.json", "ner-crf.clusters.tsv",
                                  "lexicon.tsv"}
    for name, entry in info["files"].items():
        data = (bundle / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    examples = info["release"]["examples"]
    assert info["ledger"]["about"]["documents"] == examples["train"] + examples["dev"]  # lists and rules
    assert info["ledger"]["about"]["documents_dev"] == examples["dev"]  # the tagger and consistency


def test_the_model_card_gives_the_test_figures_beside_the_current_models(trained):
    _, bundle, info = trained
    card = (bundle / "MODEL_CARD.md").read_text(encoding="utf-8")
    new, current = info["evaluation"]["new"]["entities"], info["evaluation"]["current"]["entities"]
    assert card.startswith(f"# Model bundle {info['model_version']}\n")
    assert f"| micro | {new['micro']['precision']:.3f} | {new['micro']['recall']:.3f} | {new['micro']['f1']:.3f} | " \
           f"{current['micro']['f1']:.3f} |" in card
    assert "beside shipped default (better: yes)" in card
    assert "MODEL_CARD.md" not in info["files"]  # a reading of model.json, not one of its parts


def test_a_release_without_stance_labels_keeps_the_lexicon_baseline_and_says_so(trained):
    _, bundle, info = trained
    assert info["stance"] == "lexicon baseline (no stance labels in the train split)"
    assert not (bundle / "stance.pkl").exists()
    assert bundle_preannotator(bundle, ["روسيا"]).stance_model.name == "lexicon"


def test_the_lexicon_is_learned_from_the_train_split(trained):
    release, bundle, _ = trained
    lexicon = (bundle / "lexicon.tsv").read_text(encoding="utf-8")
    assert "train split" in lexicon.splitlines()[0] and "قرطال\tWEAPON" in lexicon


# --- stance ---------------------------------------------------------------------------------------

def test_too_few_stance_labels_keep_the_baseline_naming_the_target():
    few = [{"stance": {"روسيا": "FAVOR" if k % 2 else "AGAINST", **({"أوكرانيا": "NONE"} if k < 8 else {})}}
           for k in range(12)]
    wanted, note, counts = stance_plan(few)
    assert not wanted and note == f"lexicon baseline (8 labels < minimum {MIN_STANCE_LABELS} for target أوكرانيا)"
    assert counts["روسيا"] == {"AGAINST": 6, "FAVOR": 6}
    enough = [{"stance": {"روسيا": "FAVOR" if k % 2 else "AGAINST"}} for k in range(MIN_STANCE_LABELS)]
    assert stance_plan(enough)[0]
    one_label = [{"stance": {"روسيا": "NONE"}} for _ in range(MIN_STANCE_LABELS)]
    assert stance_plan(one_label)[1] == "lexicon baseline (target روسيا has only the label NONE)"


def test_the_retrain_command_trains_a_stance_classifier_when_there_are_enough_labels(settings_env, tmp_path):
    release = write_release(tmp_path / "exports", 60, with_stance=stance_for)
    result = CliRunner().invoke(main, ["retrain", "--release", str(release / "examples.jsonl"), "--iterations", "10"])
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "var" / "models" / result.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert result.stdout.strip().splitlines()[-1] == str(bundle)
    info = json.loads((bundle / "model.json").read_text(encoding="utf-8"))
    assert info["stance"].startswith("classifier (روسيا: ") and (bundle / "stance.pkl").is_file()
    assert f"stance: {info['stance']}" in result.stdout
    examples = info["release"]["examples"]
    assert (f"ledger: lists and rules measured on {examples['train'] + examples['dev']} train + dev article(s), "
            f"the tagger on {examples['dev']} dev article(s); switched off: ") in result.stdout
    assert "--- new bundle, test split" in result.stdout
    assert "--- current (shipped default), test split" in result.stdout
    assert "training the CRF tagger" in result.stderr
    assert bundle_preannotator(bundle, ["روسيا"]).stance_model.name == "classifier"


def test_retraining_the_same_release_keeps_the_bundle_and_is_not_better(tmp_path_factory, tmp_path):
    release, bundle = built_bundle(tmp_path_factory)
    settings = make_settings(tmp_path)
    first = retrain(settings, str(release), iterations=30, promote_if_better=True)
    assert first.promoted and first.path.name == bundle.name  # named by content: the same files, the same name
    written = (first.path / "model.json").read_bytes()
    again = retrain(settings, str(release), iterations=30, promote_if_better=True)
    assert not again.promoted and "does not beat" in again.promotion_note
    assert again.path == first.path and (first.path / "model.json").read_bytes() == written  # not overwritten
    assert [p.name for p in first.path.parent.iterdir()] == [bundle.name]  # no temporary folder left


def test_is_better_compares_micro_f1_then_stance():
    def report(f1, stance=None):
        return {"entities": {"micro": {"f1": f1}}, "stance": stance and {"macro_f1_favor_against": stance}}
    assert is_better(report(0.8), report(0.7)) and not is_better(report(0.7), report(0.7))
    assert is_better(report(0.7, 0.5), report(0.7, 0.4)) and not is_better(None, report(0.1))


def test_name_occurrences_are_whole_words_with_proclitics():
    from workbench.preannotation.lexicon import word_occurrences
    texts = ["قالت الحكومة إن للحكومة وللحكومة رأيا والحكومات لا", "وبالحكومة «الحكومة»"]
    assert word_occurrences(texts, ["الحكومة"], "وفبلك", article_after_lam=True)["الحكومة"] == 5
    assert word_occurrences(texts, ["الحكومة"], "وفبلك")["الحكومة"] == 3
    assert word_occurrences(texts, ["«الحكومة»", "رأيا"], "وفبك") == {"«الحكومة»": 1, "رأيا": 1}


# --- word clusters from the team's unlabelled text ------------------------------------------------

def test_word_clusters_come_from_train_dev_and_the_databases_articles_never_the_test_split(tmp_path):
    from workbench import articles
    from workbench.db import session_scope
    from workbench.retrain import corpus_texts, read_release
    settings = make_settings(tmp_path)
    release_dir = write_release(settings.exports_dir, 12)
    release = read_release(release_dir / "examples.jsonl")
    with session_scope(settings) as session:
        articles.ingest_records(session, [{"id": "x1", "text": "نص أول عن الحكومة"}], 100_000)
        articles.ingest_records(session, [{"id": "x1", "text": "نص ثان عن الحكومة بعد التصحيح"}], 100_000)
        articles.ingest_records(session, [{"id": "x0", "text": "مقال آخر"}], 100_000)
    texts = list(corpus_texts(settings, release))
    expected = [e["text"] for e in release.examples if e["split"] != "test"]
    assert texts[:len(expected)] == expected and any(e["split"] == "test" for e in release.examples)
    assert all(e["text"] not in texts for e in release.examples if e["split"] == "test")
    assert texts[len(expected):] == ["مقال آخر", "نص ثان عن الحكومة بعد التصحيح"]  # current text, by id


def test_the_bundle_records_and_uses_its_word_clusters(trained):
    from workbench.preannotation.word_clusters import WordClusters, for_model
    _, bundle, info = trained
    recorded = info["training"]["ner"]["word_clusters"]
    assert recorded["file"] == "ner-crf.clusters.tsv" and recorded["words"] > 0
    clusters = for_model(bundle / "ner-crf.crfsuite")
    assert isinstance(clusters, WordClusters) and len(clusters) == recorded["words"]
    assert CrfTagger(bundle / "ner-crf.crfsuite").scores.clusters is not None


def test_retrain_without_word_clusters_trains_a_tagger_without_them(tmp_path):
    settings = make_settings(tmp_path)
    write_release(settings.exports_dir, 30)
    result = retrain(settings, "latest", iterations=5, word_clusters=False)
    assert "ner-crf.clusters.tsv" not in result.model_json["files"]
    assert result.model_json["training"]["ner"]["word_clusters"] is None
