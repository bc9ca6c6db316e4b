"""The trained layers of the pre-annotation engine: CoNLL reading, the CRF tagger (a tiny model
trained here, and the shipped one), the learned lexicon, the stance classifier, the generated
country list and how the engine composes them. All data is made up in the tests."""
import json

import pytest

from workbench.errors import InputError
from workbench.preannotation import default_preannotator
from workbench.preannotation.conll import parse_label_map, read_conll
from workbench.preannotation.country_names import build as build_country_names
from workbench.preannotation.crf import DEFAULT_MODEL, CrfTagger, bio_spans, proclitic_length
from workbench.preannotation.engine import (CrfLayer, LexiconStance, PreAnnotationEngine, RulesLayer,
                                            default_gazetteer, rules_only_preannotator, surname_of)
from workbench.preannotation.gazetteer import DATA_DIR, NAME_FILES, Gazetteer, read_entries
from workbench.preannotation.lexicon import learned_entries, write_lexicon
from workbench.preannotation.ner_training import train_crf
from workbench.preannotation.rules import Candidate
from workbench.preannotation.stance_model import (ClassifierStance, StanceClassifier, read_release_examples,
                                                  read_stance_csv)
from workbench.preannotation.text import article_form, written_words

TARGETS = ["أوكرانيا", "روسيا"]
FIRST = ["زاهر", "نبيل", "هشام", "ماجد", "فراس", "رامي"]
LAST = ["القباني", "الدوري", "الحمصي", "الزعبي", "الطحان"]
PLACES = ["تدمر", "حمص", "جبلة", "بانياس", "دوما"]


def synthetic_conll(path, sentences=30):
    """`token TAG` lines: people after قال and places after مدينة, in a few sentence frames."""
    lines = []
    for k in range(sentences):
        first, last, place = FIRST[k % len(FIRST)], LAST[k % len(LAST)], PLACES[k % len(PLACES)]
        rows = [("قال", "O"), (first, "B-PERS"), (last, "I-PERS"), ("إن", "O"), ("الوضع", "O"), ("في", "O"),
                ("مدينة", "O"), (place, "B-LOC"), ("هادئ", "O"), (".", "O")]
        lines += [f"{token} {tag}" for token, tag in rows] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crf")
    sentences = read_conll(synthetic_conll(folder / "train.txt"), {"PERS": "PER", "LOC": "GPE"})
    progress = []
    info = train_crf(sentences, folder / "tiny.crfsuite", lambda n, loss: progress.append(n), max_iterations=40)
    return folder / "tiny.crfsuite", info, progress


# --- CoNLL ----------------------------------------------------------------------------------

def test_conll_tokens_are_joined_by_spaces_and_spans_match(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("في O\nمدينة O\nخان B-LOC\nيونس I-LOC\nأمس B-DATE\n\nقال O\nسمير B-PERS\n", encoding="utf-8")
    first, second = read_conll(path)
    assert first.text == "في مدينة خان يونس أمس"
    assert [(e["label"], e["text"]) for e in first.entities] == [("LOC", "خان يونس"), ("DATE", "أمس")]
    assert second.entities == [{"start": 4, "end": 8, "label": "PERS", "text": "سمير"}]


def test_conll_label_map_renames_and_drops(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("خان B-LOC\nيونس I-LOC\nأمس B-DATE\nسمير B-PERS\n", encoding="utf-8")
    [sentence] = read_conll(path, parse_label_map("LOC=GPE,PERS=PER"))
    assert [(e["label"], e["text"]) for e in sentence.entities] == [("GPE", "خان يونس"), ("PER", "سمير")]


def test_conll_bad_tag_names_file_and_line_or_is_skipped_when_asked(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("قال O\nسمير Xالإصابة\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.txt:2: tag 'Xالإصابة'"):
        read_conll(path)
    reported = []
    [sentence] = read_conll(path, on_bad_tag=reported.append)
    assert sentence.entities == [] and "bad.txt:2" in reported[0]


def test_label_map_syntax_errors_are_input_errors():
    with pytest.raises(InputError, match="SOURCE=TARGET"):
        parse_label_map("PERS")


# --- CRF --------------------------------------------------------------------------------------

def test_a_crf_trained_on_a_tiny_corpus_generalises_to_unseen_names(tiny_model):
    path, info, progress = tiny_model
    assert info["sentences"] == 30 and info["entities"] == 60
    assert progress and progress[-1] <= 40  # training reported its iterations
    text = "قال وسيم الخطيب إن الوضع في مدينة قطنا هادئ."
    found = CrfTagger(path).tag_tokens(text, _tokens(text), [])
    labels = {(first, last, label) for first, last, label, _ in found}
    assert (1, 2, "PER") in labels and (7, 7, "GPE") in labels
    assert all(0.0 < score <= 1.0 for *_, score in found)


def _tokens(text):
    from workbench.preannotation.text import normalise, tokenise
    return tokenise(normalise(text).text)


def test_bio_spans_join_i_tags_and_start_on_a_stray_i():
    assert bio_spans(["B-PER", "I-PER", "O", "I-GPE", "B-GPE", "I-ORG"]) == [
        (0, 1, "PER"), (3, 3, "GPE"), (4, 4, "GPE"), (5, 5, "ORG")]


@pytest.mark.parametrize("word, expected", [("والسعوديه", 1), ("بالعراق", 1), ("واشنطن", 0), ("وموسكو", 1),
                                            ("فيرسلاين", 0), ("وميدفيديف", 1)])
def test_proclitics_are_left_out_of_tagger_spans(word, expected):
    assert proclitic_length(word, default_gazetteer()) == expected


def test_the_shipped_model_loads_from_the_package_and_has_a_card():
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 5_000_000
    card = (DEFAULT_MODEL.parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in card and "ANERcorp" in card
    info = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert info["entities"] > 1000
    CrfTagger(DEFAULT_MODEL)


def test_missing_model_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="workbench train ner"):
        CrfTagger(tmp_path / "none.crfsuite")


# --- the composed engine ---------------------------------------------------------------------

UNLISTED_NAMES = "وصل خالد العتيبي إلى القاهرة أمس، والتقى خالد العتيبي وزير الخارجية."


def test_default_engine_adds_tagger_names_the_rules_miss():
    rules_only = rules_only_preannotator(TARGETS).annotate(UNLISTED_NAMES).entities
    composed = default_preannotator(TARGETS).annotate(UNLISTED_NAMES).entities
    assert "خالد العتيبي" not in [e["text"] for e in rules_only]
    people = [e for e in composed if e["label"] == "PER"]
    assert [e["text"] for e in people] == ["خالد العتيبي", "خالد العتيبي"]  # both by the tagger (document features)
    for entity in composed:
        assert UNLISTED_NAMES[entity["start"]:entity["end"]] == entity["text"]


def test_spans_many_gives_annotate_many_spans_with_their_sources():
    engine = default_preannotator(TARGETS)
    texts = [UNLISTED_NAMES, "قال وزير الخارجية الروسي سيرغي لافروف يوم الاثنين إن روسيا مستعدة."]
    found = engine.spans_many(texts)
    for (doc, spans), prediction in zip(found, engine.annotate_many(texts)):
        assert [(*doc.norm.to_original(s.start, s.end), s.label, s.score) for s in spans] == \
            [(e["start"], e["end"], e["label"], e["score"]) for e in prediction.entities]
    sources = {s.source for _, spans in found for s in spans}
    assert {"list", "crf", "date-rule"} <= sources, sources


class FirstMentionLayer:
    """Labels only the first occurrence of one phrase, as a rule or the tagger might."""
    name = "first-mention"

    def __init__(self, phrase, label):
        self.phrase, self.label = phrase, label

    def spans(self, doc, taken):
        start = doc.norm.text.index(self.phrase)
        return [*taken, Candidate(start, start + len(self.phrase), self.label, 0.8, "crf")]


def test_a_name_found_in_its_lil_form_spreads_to_its_article_form():
    text = "ووجه ناشطون رسالة للرابطة الوطنية. وقالت الرابطة الوطنية إن الرسالة وصلت."
    engine = PreAnnotationEngine(TARGETS, Gazetteer([]), [FirstMentionLayer("لرابطه الوطنيه", "ORG")])
    found = [(e["text"], e["label"]) for e in engine.annotate(text).entities]
    assert found == [("لرابطة الوطنية", "ORG"), ("الرابطة الوطنية", "ORG")]


def test_a_name_spreads_only_to_mentions_written_with_its_letters():
    text = "قال محمد علي إن الهجوم وقع على المدينة، وقال علي إن الوضع خطير."
    engine = PreAnnotationEngine(TARGETS, Gazetteer([]), [FirstMentionLayer("محمد علي", "PER")])
    found = [(e["start"], e["text"]) for e in engine.annotate(text).entities]
    assert found == [(4, "محمد علي"), (text.index("علي إن الوضع"), "علي")]  # not the preposition على


@pytest.mark.parametrize("name, surname", [("روستيم اوميروف", "اوميروف"), ("احمد ابو الغيط", "ابو الغيط"),
                                           ("محمد بن سلمان", "بن سلمان"), ("حسن نصر الله", "نصر الله"),
                                           ("عبد الله الثاني", None), ("عبد الله", None), ("زيلينسكي", None)])
def test_surname_is_the_part_of_a_name_used_alone(name, surname):
    assert surname_of(name) == surname


def test_a_regnal_number_is_not_spread_as_a_surname():
    text = "أعلن الملك عبد الله الثاني أن الحدود مغلقة في الأسبوع الثاني من الشهر."
    engine = PreAnnotationEngine(TARGETS, Gazetteer([]), [FirstMentionLayer("عبد الله الثاني", "PER")])
    assert [e["text"] for e in engine.annotate(text).entities] == ["عبد الله الثاني"]


def test_written_words_keep_apart_what_matching_merges():
    assert written_words("عَلَى عليّ أحمد احمد مدرسة مدرسه") == ["على", "علي", "احمد", "احمد", "مدرسة", "مدرسه"]


def test_only_a_lil_span_gets_an_article_form():
    assert article_form("رسالة للرابطة", 7, 13) == "الرابطة"
    assert article_form("رسالة لِلرابطة", 8, 14) == "الرابطة"  # a vowel mark between the two ل
    assert article_form("زار لندن", 4, 8) is None
    # للندن is ل + لندن: the restored الندن is never a known name, so lists and the lexicon ignore it
    assert article_form("رسالة للندن", 7, 11) == "الندن"
    assert article_form("لحكومة", 0, 6) is None


def test_rules_win_over_the_tagger_where_both_speak():
    gazetteer = default_gazetteer()
    engine = PreAnnotationEngine(TARGETS, gazetteer, [RulesLayer(gazetteer), CrfLayer(CrfTagger(), gazetteer)])
    entities = engine.annotate("قال فلاديمير بوتين إن روسيا اليوم قناة.").entities
    assert [(e["label"], e["text"], e["score"]) for e in entities][:2] == [("PER", "فلاديمير بوتين", 0.9),
                                                                          ("ORG", "روسيا اليوم", 0.9)]


def test_default_engine_has_a_new_model_version():
    engine = default_preannotator(TARGETS)
    assert [layer.name for layer in engine.layers] == ["rules", "crf"]
    assert engine.model_version != rules_only_preannotator(TARGETS).model_version
    assert isinstance(engine.stance_model, LexiconStance)


# --- lexicon learned from a release ------------------------------------------------------------

def write_examples(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


def example(text, *names):
    entities = []
    for name, label in names:
        start = text.index(name)
        entities.append({"start": start, "end": start + len(name), "label": label, "text": name})
    return {"id": text[:5], "text": text, "entities": entities, "stance": {}, "split": "train"}


def test_lexicon_keeps_consistently_labelled_names(tmp_path):
    records = [example("زار سامر الحلبي دمشق", ("سامر الحلبي", "PER")),
               example("قال سامر الحلبي شيئا", ("سامر الحلبي", "PER")),
               example("الأمل كبير في الشركة", ("الأمل", "ORG")),
               example("الأمل ثم الأمل ثم الأمل والأمل", ("الأمل", "ORG")),
               example("حزب النور وحزب النور", ("النور", "ORG"), ("حزب", "PER")),
               example("النور النور", ("النور", "GPE"))]
    path = write_examples(tmp_path / "examples.jsonl", records)
    assert learned_entries(path) == [("سامر الحلبي", "PER")]
    out = tmp_path / "learned.tsv"
    assert write_lexicon(path, out) == 1
    assert out.read_text(encoding="utf-8").startswith("# source: learned by `workbench train lexicon`")
    assert read_entries(out) == [("سامر الحلبي", "PER")]


def test_lexicon_counts_a_lil_span_as_its_article_form_only_when_that_form_is_written(tmp_path):
    records = [example("قالت الرابطة الوطنية إن", ("الرابطة الوطنية", "ORG")),
               example("رسالة للرابطة الوطنية اليوم", ("لرابطة الوطنية", "ORG")),
               example("زار للندن وفد", ("لندن", "GPE")),  # ل + لندن: الندن is never written
               example("وصل وفد للندن أمس", ("لندن", "GPE"))]
    path = write_examples(tmp_path / "examples.jsonl", records)
    assert learned_entries(path) == [("لندن", "GPE"), ("الرابطة الوطنية", "ORG")]
    # the لل form alone is not enough: once is not "often enough", and counts do not double
    assert learned_entries(write_examples(tmp_path / "one.jsonl", records[:2]), min_count=3) == []


def test_lexicon_bad_line_names_the_line(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_text('{"text": "x", "entities": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError, match="examples.jsonl:2"):
        learned_entries(path)


# --- stance classifier -------------------------------------------------------------------------

FAVOR_TEXTS = ["قرار رائع ومفيد جدا للجميع", "خطوة ممتازة ونجاح كبير", "أؤيد هذا القرار الرائع بقوة",
               "نجاح مبهر وخطوة مفيدة", "شكرا على هذا الإنجاز الممتاز"]
AGAINST_TEXTS = ["قرار سيء وفاشل تماما", "خطوة فاشلة وضارة بالناس", "أرفض هذا القرار السيء بشدة",
                 "فشل ذريع وضرر كبير", "هذا الإجراء ضار وسيء جدا"]


def stance_csv(path, rows):
    lines = ["ID,text,target,stance,extra"] + [f"{k},{text},{target},{label},x" for k, (text, target, label)
                                                in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stance_rows():
    rows = []
    for k in range(4):
        rows += [(f"{t} {k}", "اللقاح", "Favor") for t in FAVOR_TEXTS]
        rows += [(f"{t} {k}", "اللقاح", "Against") for t in AGAINST_TEXTS]
        rows += [(f"خبر عن موعد الاجتماع رقم {k} {j}", "اللقاح", "None") for j in range(3)]
    return rows


def test_stance_classifier_learns_from_a_mawqif_style_csv(tmp_path, stance_rows):
    examples = read_stance_csv(stance_csv(tmp_path / "train.csv", stance_rows))
    classifier = StanceClassifier.train(examples)
    assert classifier.predict(["قرار ممتاز ورائع", "قرار فاشل وسيء"], "اللقاح") == ["FAVOR", "AGAINST"]
    classifier.save(tmp_path / "stance.pkl", source="test")
    again = StanceClassifier.load(tmp_path / "stance.pkl")
    assert again.predict(["نجاح ممتاز"], "هدف آخر") == ["FAVOR"]  # unknown target: the shared model


def test_stance_csv_errors_name_the_line_or_the_column(tmp_path):
    with pytest.raises(InputError, match=r"bad.csv:3: stance 'Maybe'"):
        read_stance_csv(stance_csv(tmp_path / "bad.csv", [("نص", "هدف", "Favor"), ("نص", "هدف", "Maybe")]))
    (tmp_path / "cols.csv").write_text("text,stance\nنص,Favor\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        read_stance_csv(tmp_path / "cols.csv")


def test_stance_examples_from_a_release(tmp_path):
    record = {"id": "a", "text": "نص", "entities": [], "stance": {"أوكرانيا": "FAVOR", "روسيا": "NONE"}}
    examples = read_release_examples(write_examples(tmp_path / "examples.jsonl", [record]))
    assert [(e.target, e.label) for e in examples] == [("أوكرانيا", "FAVOR"), ("روسيا", "NONE")]


def test_classifier_stance_in_the_engine_cites_sentences_naming_the_target(stance_rows):
    from workbench.preannotation.stance_model import Example
    examples = [Example(text, "أوكرانيا", label.upper()) for text, _, label in stance_rows]
    engine = PreAnnotationEngine(TARGETS, stance_model=ClassifierStance(StanceClassifier.train(examples)))
    text = "الطقس جميل اليوم. دعم أوكرانيا قرار رائع وممتاز. انتهى الخبر."
    stance = engine.annotate(text).stance
    assert stance["أوكرانيا"]["label"] == "FAVOR" and 0 < stance["أوكرانيا"]["score"] <= 1
    [evidence] = stance["أوكرانيا"]["evidence"]
    assert text[evidence["start"]:evidence["end"]] == evidence["text"] == "دعم أوكرانيا قرار رائع وممتاز"
    assert stance["روسيا"] == {"label": "NONE", "score": 1.0, "evidence": []}


# --- generated country names --------------------------------------------------------------------

def test_country_names_come_from_babel_and_pycountry_without_ambiguous_words():
    entries = dict(build_country_names())
    assert entries["فرنسا"] == "GPE" and entries["أفريقيا"] == "LOC"
    assert "مالي" not in entries and "الاتحاد الأوروبي" not in entries


def test_generated_country_file_is_loaded_and_names_its_source():
    path = DATA_DIR / "gpe_cldr.tsv"
    assert "gpe_cldr.tsv" in NAME_FILES
    assert path.read_text(encoding="utf-8").startswith("# source: generated by")
    assert dict(read_entries(path)) == dict(build_country_names())
