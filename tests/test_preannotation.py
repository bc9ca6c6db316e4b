"""The gazetteer + rules pre-annotator: offsets, the span rules of the scheme, stance, determinism.
All texts are made up for these tests."""
import sys
import unicodedata

import pytest

from workbench.preannotation import Prediction, default_preannotator
from workbench.preannotation.engine import default_gazetteer
from workbench.preannotation.rules import find_dates, find_titled_persons, hyphen_joined
from workbench.preannotation.text import (DROP_CANDIDATE_RE, RECENT_DOCUMENTS, TATWEEL, _is_dropped, normalise,
                                          proclitic_readings, token_starting_at, tokenise, words_of)

TARGETS = ["أوكرانيا", "روسيا"]


@pytest.fixture(scope="module")
def annotator():
    return default_preannotator(TARGETS)


def spans(annotator, text):
    """(label, text) of every predicted entity, after checking its offsets against the text."""
    entities = annotator.annotate(text).entities
    for entity in entities:
        assert text[entity["start"]:entity["end"]] == entity["text"]
    return [(e["label"], e["text"]) for e in entities]


# --- offsets and normalisation -----------------------------------------------------------

MESSY_TEXT = ("🇺🇦 قال الرَّئِيسُ زِيلِينْسْكِي 😀 إنّ «الكرملين» و“بوتيـــن” يريدان السيطرة على خاركيف؛ "
              "NATO و Reuters ذكرتا أن 3 صواريخ باتريوت (Patriot) وصلت إلى كييف يوم الثلاثاء 12 يونيو 2024.")


def test_every_span_matches_the_text_exactly(annotator):
    prediction = annotator.annotate(MESSY_TEXT)
    assert prediction.entities
    for entity in prediction.entities:
        assert MESSY_TEXT[entity["start"]:entity["end"]] == entity["text"]
        assert 0.0 < entity["score"] <= 1.0


def test_spans_are_sorted_and_do_not_overlap(annotator):
    entities = annotator.annotate(MESSY_TEXT).entities
    for left, right in zip(entities, entities[1:]):
        assert left["end"] <= right["start"]


def test_tashkeel_tatweel_emoji_and_flags_do_not_shift_offsets(annotator):
    found = spans(annotator, MESSY_TEXT)
    assert ("PER", "زِيلِينْسْكِي") in found
    assert ("PER", "بوتيـــن") in found
    assert ("GPE", "خاركيف") in found
    assert ("GPE", "كييف") in found


def test_quotes_and_brackets_never_enter_a_span(annotator):
    found = spans(annotator, MESSY_TEXT)
    assert ("ORG", "الكرملين") in found
    for _, text in found:
        assert text[0] not in "«»“”\"()" and text[-1] not in "«»“”\"()."


def test_latin_words_and_digits(annotator):
    found = spans(annotator, MESSY_TEXT)
    assert ("ORG", "NATO") in found
    assert ("WEAPON", "Patriot") in found
    assert ("DATE", "يوم الثلاثاء 12 يونيو 2024") not in found  # a weekday and a date are two spans
    assert ("DATE", "12 يونيو 2024") in found


def test_normalisation_maps_back_to_original_offsets():
    text = "أُوكْرانـيا وإسرائيل ومُوسكى"
    norm = normalise(text)
    assert norm.text == "اوكرانيا واسرائيل وموسكي"
    assert norm.to_original(0, 8) == (0, 11)  # tashkeel and tatweel inside stay in the span
    assert text[slice(*norm.to_original(0, 8))] == "أُوكْرانـيا"
    assert text[slice(*norm.to_original(19, 24))] == "مُوسكى"


def test_normalisation_keeps_marks_on_the_last_letter_inside_the_span():
    text = "بوتينُ قال"
    norm = normalise(text)
    assert norm.to_original(0, 5) == (0, 6)


def test_every_dropped_character_is_a_drop_candidate():
    """normalise only tests the characters DROP_CANDIDATE_RE finds: it must find every one it drops."""
    dropped = [chr(code) for code in range(sys.maxunicode + 1) if _is_dropped(chr(code))]
    assert TATWEEL in dropped and len(dropped) > 1000
    assert [char for char in dropped if not DROP_CANDIDATE_RE.fullmatch(char)] == []


def test_marks_of_any_script_are_dropped_and_mapped_back():
    text = "Cafe\u0301 كييفَ\u200d و\u05b7"
    norm = normalise(text)
    assert norm.text == "Cafe كييف\u200d و"
    assert [unicodedata.category(c) for c in text if c not in norm.text] == ["Mn", "Mn", "Mn"]
    assert text[slice(*norm.to_original(5, 9))] == "كييفَ"


def test_token_starting_at():
    tokens = tokenise("قال بوتين، 24")
    assert [token_starting_at(tokens, offset) for offset in (0, 4, 11)] == [0, 1, 2]
    assert token_starting_at(tokens, 1) is None and token_starting_at(tokens, 13) is None


def test_words_of_documents_asked_about_in_turn():
    """words_of keeps the words of recent token lists (a batch asks about each document again)."""
    lists = [tokenise(f"كلمة {k} وكلمة") for k in range(RECENT_DOCUMENTS + 5)]
    for _ in range(2):
        assert [words_of(tokens) for tokens in lists] == [tuple(t.text for t in tokens) for tokens in lists]
    tokens = lists[0]
    tokens += tokenise("اخري")  # the same list, grown: its words are made again
    assert words_of(tokens)[-1] == "اخري"


def test_hyphen_joined_tokens():
    text = "-فرانكو-إيطالية و- روسية -x-"
    tokens = tokenise(text)
    assert [(tokens[i].text, tokens[i + 1].text) for i in hyphen_joined(text, tokens)] == [("فرانكو", "إيطالية")]
    assert hyphen_joined("", []) == []


def test_proclitic_readings_try_the_word_as_written_first():
    readings = proclitic_readings("للحكومه")
    assert readings[0] == (0, "للحكومه")
    assert (1, "الحكومه") in readings


# --- proclitics ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("قدمت فرنسا مساعدات لأوكرانيا.", ("GPE", "أوكرانيا")),
    ("التقى الوزير وزيلينسكي أمس.", ("PER", "زيلينسكي")),
    ("وصل الوفد إلى كييف.", ("GPE", "كييف")),
    ("وقالت فرنسا وبريطانيا إنهما ستشاركان.", ("GPE", "فرنسا")),
    ("وقالت فرنسا وبريطانيا إنهما ستشاركان.", ("GPE", "بريطانيا")),
    ("وأعلنت بولندا وفنلندا ولندن موقفا موحدا.", ("GPE", "لندن")),
    ("وأعلنت بولندا وفنلندا ولندن موقفا موحدا.", ("GPE", "فنلندا")),
    ("أرسلت للحكومة البريطانية رسالة.", ("ORG", "لحكومة البريطانية")),
    ("وبالكرملين اجتماع مغلق.", ("ORG", "الكرملين")),
    ("انضمت السويد والولايات المتحدة إلى البيان.", ("GPE", "الولايات المتحدة")),
])
def test_proclitics_are_left_out_and_names_keep_their_first_letter(annotator, text, expected):
    assert expected in spans(annotator, text)


def test_a_word_is_not_split_when_the_rest_is_not_a_known_name(annotator):
    assert spans(annotator, "وكانت الفكرة بسيطة.") == []


# --- NORP ---------------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["الفرنسي", "الفرنسية", "الفرنسيين", "أميركية", "الأوروبية", "الروسي",
                                  "الروس", "الغربيين"])
def test_nationality_forms_are_norp(annotator, word):
    assert ("NORP", word) in spans(annotator, f"وقال مسؤول إن الموقف {word} واضح.")


def test_generic_plural_groups_take_only_the_adjective(annotator):
    found = spans(annotator, "تقدمت القوات الروسية نحو المدينة.")
    assert found == [("NORP", "الروسية")]


def test_language_names_are_not_norp(annotator):
    found = spans(annotator, "يصدر البيان باللغات الإنجليزية والفرنسية والروسية والألمانية فقط.")
    assert [label for label, _ in found if label == "NORP"] == []


def test_hyphenated_nationality_is_one_span(annotator):
    assert ("NORP", "فرانكو-إيطالية") in spans(annotator, "تملك أنظمة دفاع أمريكية وفرانكو-إيطالية.")


def test_the_west_is_loc_and_western_is_norp(annotator):
    found = spans(annotator, "انتقد الغرب القرار، وقال المسؤولون الغربيون إنه خطأ.")
    assert ("LOC", "الغرب") in found
    assert ("NORP", "الغربيون") in found


# --- DATE ---------------------------------------------------------------------------------

@pytest.mark.parametrize("phrase", ["يوم الثلاثاء", "مساء الثلاثاء", "تشرين الأول/أكتوبر 2022",
                                    "يونيو (حزيران) الماضي", "الأسبوع الماضي", "هذا العام", "أمس",
                                    "اليوم", "العام الماضي", "الشهر الماضي", "5th, April 2024",
                                    "صباح اليوم السبت", "الأشهر الأخيرة", "3 مارس 2023"])
def test_date_expressions(annotator, phrase):
    assert ("DATE", phrase) in spans(annotator, f"وأعلن المسؤول ذلك {phrase} في بيان.")


@pytest.mark.parametrize("phrase", ["6 أشهر", "30 يوما", "ستة أشهر", "مؤخرًا"])
def test_durations_and_adverbs_are_not_dates(annotator, phrase):
    assert [s for s in spans(annotator, f"استمر القتال {phrase} دون توقف.") if s[0] == "DATE"] == []


DATE_TEXTS = ["وأعلن ذلك يوم الثلاثاء 12 يونيو 2024 وبالأمس ومساء الجمعة، وفي 2023 وعام 2021 أيضا.",
              "حدث ذلك قبل نحو أسبوعين وهذه السنة والأشهر الأخيرة، اب/أغسطس 2020 و5th, April 2024.",
              "2024يناير و١٢ شباط، كانون الثاني/يناير الماضي وللعام الماضي وفالخميس والسبت_الماضي", "", "أمس"]


@pytest.mark.parametrize("text", DATE_TEXTS)
def test_dates_tried_at_token_starts_are_the_full_scans_dates(text):
    norm = normalise(text).text
    assert find_dates(norm, tokenise(norm)) == find_dates(norm)
    assert find_dates(norm) or not norm.strip() or "_" in norm


def test_lead_ins_are_left_out_of_dates(annotator):
    assert ("DATE", "اليوم") in spans(annotator, "سيتحدث الوزيران لاحقًا اليوم عبر الفيديو.")


# --- titles, PER and ORG --------------------------------------------------------------------

def test_title_nationality_and_name_are_three_things(annotator):
    found = spans(annotator, "أكد الرئيس الفرنسي إيمانويل ماكرون دعمه.")
    assert found == [("NORP", "الفرنسي"), ("PER", "إيمانويل ماكرون")]


def test_an_unknown_name_after_a_title_is_per_without_the_title(annotator):
    found = spans(annotator, "قال وزير الخارجية الليتواني غابريليوس لاندسبيرغيس إن الخطر قائم.")
    assert ("NORP", "الليتواني") in found
    assert ("PER", "غابريليوس لاندسبيرغيس") in found
    assert not any("وزير" in text or "الخارجية" in text for _, text in found)


@pytest.mark.parametrize("sentence, name", [
    ("أعلن الملك عبد الله الثاني أن الحدود مغلقة.", "عبد الله الثاني"),
    ("قال الأمير نايف بن عبد العزيز آل سعود إن الزيارة مهمة.", "نايف بن عبد العزيز آل سعود"),
    ("قال السيد سالم بن حمد إن الزيارة مهمة.", "سالم بن حمد"),
    ("قال السفير فراس أبو الهدى إن الزيارة مهمة.", "فراس أبو الهدى"),
    ("قال السيد سامر كنعان إن الزيارة مهمة.", "سامر كنعان"),  # no chain: two words, as before
])
def test_a_title_rule_name_reads_over_arabic_name_chains(sentence, name):
    norm = normalise(sentence)
    tokens = tokenise(norm.text)
    found = [norm.original[slice(*norm.to_original(c.start, c.end))]
             for c in find_titled_persons(norm.text, tokens, default_gazetteer())]
    assert found == [name]


def test_common_nouns_after_a_title_are_not_names(annotator):
    found = spans(annotator, "سيعقد وزير الدفاع الأوكراني مقابلة مع نظيره الفرنسي يجري فيها محادثات.")
    assert [s for s in found if s[0] == "PER"] == []


def test_a_name_labelled_once_is_labelled_at_every_mention(annotator):
    text = "قال المستشار النمساوي كارل نيهامر إن بلاده محايدة. وأضاف نيهامر أن الحوار ضروري."
    entities = annotator.annotate(text).entities
    people = [e for e in entities if e["label"] == "PER"]
    assert [e["text"] for e in people] == ["كارل نيهامر", "نيهامر"]
    assert people[1]["score"] < people[0]["score"]


def test_institution_with_nationality_is_one_org(annotator):
    found = spans(annotator, "أعلنت وزارة الدفاع الروسية أن الجيش الأوكراني انسحب.")
    assert found == [("ORG", "وزارة الدفاع الروسية"), ("ORG", "الجيش الأوكراني")]


def test_nationality_of_a_minister_is_not_part_of_an_institution(annotator):
    found = spans(annotator, "قال وزير الخارجية الأوكراني إن الوضع صعب.")
    assert found == [("NORP", "الأوكراني")]


def test_descriptor_nouns_are_left_out_of_org_spans(annotator):
    found = spans(annotator, "ذكرت وكالة رويترز وصحيفة لو موند الخبر.")
    assert ("ORG", "رويترز") in found
    assert ("ORG", "لو موند") in found


def test_weapons(annotator):
    found = spans(annotator, "تسلمت كييف صواريخ باتريوت واتاكمز و12 هاوتزر قيصر.")
    assert ("WEAPON", "باتريوت") in found
    assert ("WEAPON", "اتاكمز") in found
    assert ("WEAPON", "هاوتزر قيصر") in found


# --- stance -------------------------------------------------------------------------------

SUPPORTIVE = ("أعلنت فرنسا دعم أوكرانيا وتضامنها الكامل مع أوكرانيا. وأشاد الوزير بصمود أوكرانيا "
              "وشجاعة شعبها. وتعهدت باريس بتقديم مساعدات جديدة إلى كييف.")
NEUTRAL = ("قال المتحدث إن وفدا من أوكرانيا سيزور روسيا الأسبوع المقبل لبحث تبادل الأسرى. "
           "وأعلنت موسكو أن المحادثات ستعقد في إسطنبول.")


def test_clearly_supportive_text_is_favor_with_evidence(annotator):
    stance = annotator.annotate(SUPPORTIVE).stance
    assert stance["أوكرانيا"]["label"] == "FAVOR"
    assert stance["روسيا"]["label"] == "NONE"
    evidence = stance["أوكرانيا"]["evidence"]
    assert evidence
    for sentence in evidence:
        assert SUPPORTIVE[sentence["start"]:sentence["end"]] == sentence["text"]


def test_neutral_reporting_is_none(annotator):
    stance = annotator.annotate(NEUTRAL).stance
    assert {target: s["label"] for target, s in stance.items()} == {"أوكرانيا": "NONE", "روسيا": "NONE"}


def test_stance_scores_are_in_range_and_cover_every_target(annotator):
    stance = annotator.annotate(SUPPORTIVE).stance
    assert set(stance) == set(TARGETS)
    assert all(0.0 <= s["score"] <= 1.0 for s in stance.values())


# --- prediction, determinism ---------------------------------------------------------------

def test_prediction_score_is_zero_when_empty():
    assert Prediction(entities=[], stance={}).score == 0.0


def test_prediction_score_is_the_mean_of_span_and_stance_scores():
    prediction = Prediction(entities=[{"score": 0.9}, {"score": 0.5}],
                            stance={"t": {"label": "NONE", "score": 1.0, "evidence": []}})
    assert prediction.score == pytest.approx(0.8)


def test_model_version_names_the_annotator(annotator):
    assert annotator.model_version == f"{annotator.name}-{annotator.version}"


def test_annotation_is_deterministic(annotator):
    first = annotator.annotate(MESSY_TEXT + SUPPORTIVE)
    second = default_preannotator(TARGETS).annotate(MESSY_TEXT + SUPPORTIVE)
    assert (first.entities, first.stance) == (second.entities, second.stance)
