import pytest

from workbench import offsets

TEXT = "قال الرئيس 🇺🇦 زيلينسكي‍ «كييف» ـــ مُحَمَّد 2024"


def span(text, needle, label="PER"):
    start = text.index(needle)
    return {"start": start, "end": start + len(needle), "label": label, "text": needle}


@pytest.mark.parametrize("needle", ["زيلينسكي", "كييف", "مُحَمَّد", "2024", "🇺🇦"])
def test_offsets_are_code_points_even_after_emoji_flags_and_tashkeel(needle):
    s = span(TEXT, needle)
    assert offsets.span_problem(TEXT, s) is None
    assert TEXT[s["start"]:s["end"]] == needle


def test_round_trip_through_label_studio_result():
    s = span(TEXT, "كييف", "GPE")
    result = offsets.to_label_studio(s, score=0.8)
    assert result["value"] == {"start": s["start"], "end": s["end"], "text": "كييف", "labels": ["GPE"]}
    assert result["score"] == 0.8
    back, problem = offsets.from_label_studio(result, TEXT)
    assert problem is None and back == s


@pytest.mark.parametrize("bad, fragment", [
    ({"start": 3, "end": 2}, "outside the text"),
    ({"start": 0, "end": 999}, "outside the text"),
    ({"start": -1, "end": 2}, "outside the text"),
    ({"start": "0", "end": 2}, "must be integers"),
    ({"start": True, "end": 2}, "must be integers"),
    ({"start": 0, "end": 3, "text": "xyz"}, "does not match"),
])
def test_bad_spans_are_described(bad, fragment):
    assert fragment in offsets.span_problem(TEXT, {"label": "PER", **bad})


def test_label_must_be_in_scheme_when_labels_given():
    s = span(TEXT, "كييف", "CITY")
    assert "not in the scheme" in offsets.span_problem(TEXT, s, ["GPE"])


def test_checked_spans_fills_text_and_raises_on_first_bad():
    spans = offsets.checked_spans(TEXT, [{"start": 4, "end": 10, "label": "PER"}])
    assert spans[0]["text"] == TEXT[4:10]
    with pytest.raises(ValueError, match="does not match"):
        offsets.checked_spans(TEXT, [{"start": 4, "end": 10, "label": "PER", "text": "nope"}])


def test_result_with_two_labels_is_a_problem():
    result = {"type": "labels", "value": {"start": 0, "end": 3, "text": TEXT[:3], "labels": ["PER", "ORG"]}}
    _, problem = offsets.from_label_studio(result, TEXT)
    assert "exactly one label" in problem
