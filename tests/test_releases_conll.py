import json

import pytest
from conftest import FIXTURES

from workbench.conll import bio_tags, example_conll, non_overlapping, spans_from_bio, tokenize


def words(text, cuts=frozenset()):
    return [text[s:e] for s, e in tokenize(text, cuts)]


def test_arabic_punctuation_and_quotes_are_tokens():
    assert words("قال «الكرملين»، هل يتفاوض؟ نعم.") == ["قال", "«", "الكرملين", "»", "،", "هل", "يتفاوض", "؟",
                                                        "نعم", "."]
    assert words("(SeaPRwire) –  خبر“عاجل”") == ["(", "SeaPRwire", ")", "–", "خبر", "“", "عاجل", "”"]


def test_a_proclitic_before_an_entity_becomes_its_own_token():
    text = "التقى والرئيس بوتين"
    entity = {"start": 7, "end": 19, "label": "PER", "text": text[7:19]}
    assert entity["text"] == "الرئيس بوتين"
    tokens = tokenize(text, {7, 19})
    assert [text[s:e] for s, e in tokens] == ["التقى", "و", "الرئيس", "بوتين"]
    assert bio_tags(tokens, [entity]) == ["O", "O", "B-PER", "I-PER"]


def test_conll_block_of_an_example():
    example = {"id": "x1", "text": "زار بوتين موسكو.\nثم عاد", "stance": {}, "split": "train",
               "entities": [{"start": 4, "end": 9, "label": "PER", "text": "بوتين"},
                            {"start": 10, "end": 15, "label": "GPE", "text": "موسكو"}]}
    block, dropped = example_conll(example)
    assert dropped == 0
    assert block == "# id = x1\nزار\tO\nبوتين\tB-PER\nموسكو\tB-GPE\n.\tO\n\nثم\tO\nعاد\tO\n\n"


def test_overlapping_spans_keep_the_first_and_are_counted():
    spans = [{"start": 0, "end": 10, "label": "ORG"}, {"start": 4, "end": 8, "label": "GPE"},
             {"start": 10, "end": 12, "label": "PER"}]
    kept, dropped = non_overlapping(spans)
    assert [s["label"] for s in kept] == ["ORG", "PER"] and dropped == 1


@pytest.mark.parametrize("line", (FIXTURES / "sample_gold.jsonl").read_text(encoding="utf-8").splitlines())
def test_every_gold_entity_is_exactly_a_run_of_bio_tokens(line):
    example = json.loads(line)
    entities, dropped = non_overlapping(example["entities"])
    tokens = tokenize(example["text"], {s["start"] for s in entities} | {s["end"] for s in entities})
    rebuilt = spans_from_bio(example["text"], tokens, bio_tags(tokens, entities))
    assert dropped == 0
    assert rebuilt == [{k: s[k] for k in ("start", "end", "label", "text")} for s in entities]
