import pytest

from workbench.agreement import krippendorff_alpha_nominal, per_label_f1, release_agreement, span_f1


def span(start, end, label="PER"):
    return {"start": start, "end": end, "label": label, "text": "x" * (end - start)}


def test_both_empty_is_full_agreement():
    assert span_f1([], []) == 1.0
    assert span_f1([], [], mode="overlap") == 1.0


def test_one_side_empty_is_zero():
    assert span_f1([span(0, 3)], []) == 0.0


def test_exact_needs_same_range_and_label():
    a = [span(0, 5), span(10, 15, "GPE")]
    b = [span(0, 5), span(10, 14, "GPE"), span(20, 25, "ORG")]
    assert span_f1(a, b) == pytest.approx(2 * 1 / 5)
    assert span_f1(a, b, mode="overlap") == pytest.approx(2 * 2 / 5)


def test_overlap_needs_same_label_and_intersection_and_matches_one_to_one():
    a = [span(0, 10)]
    assert span_f1(a, [span(5, 12, "ORG")], mode="overlap") == 0.0
    assert span_f1(a, [span(10, 12)], mode="overlap") == 0.0  # touching is not overlapping
    assert span_f1(a, [span(2, 4), span(6, 8)], mode="overlap") == pytest.approx(2 * 1 / 3)


def test_labels_filter_and_per_label():
    a = [span(0, 5), span(10, 15, "GPE")]
    b = [span(0, 5), span(10, 14, "GPE")]
    assert span_f1(a, b, labels=["PER"]) == 1.0
    assert span_f1(a, b, labels=["GPE"]) == 0.0
    assert per_label_f1(a, b, "exact") == {"GPE": 0.0, "PER": 1.0}
    assert per_label_f1(a, b, "overlap") == {"GPE": 1.0, "PER": 1.0}


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        span_f1([], [], mode="fuzzy")


def test_alpha_matches_krippendorffs_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 coders x 12 units: nominal alpha 0.743
    coders = ["1 2 3 3 2 1 4 1 2 . . .", "1 2 3 3 2 2 4 1 2 5 . 3",
              ". 3 3 3 2 3 4 2 2 5 1 .", "1 2 3 3 2 4 4 1 2 5 1 ."]
    rows = [[None if v == "." else v for v in c.split()] for c in coders]
    units = [list(unit) for unit in zip(*rows)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=0.001)


def test_alpha_perfect_and_undefined():
    assert krippendorff_alpha_nominal([["A", "A"], ["B", "B"]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([["A", "A"], ["A", "A"]]) is None  # one category: no expected disagreement
    assert krippendorff_alpha_nominal([["A", None], [None]]) is None  # nothing pairable
    assert krippendorff_alpha_nominal([["A", "B"], ["B", "A"]]) < 0


def test_release_agreement_reports_pairs_alpha_and_low_tasks():
    def ann(who, entities, ukraine, ann_id):
        return {"annotator": who, "annotation_id": ann_id, "entities": entities, "stance": {"أوكرانيا": ukraine}}
    tasks = [
        {"task_id": 1, "article_id": "a", "annotations": [ann("x", [span(0, 5)], "FAVOR", 11),
                                                          ann("y", [span(0, 5)], "FAVOR", 12)]},
        {"task_id": 2, "article_id": "b", "annotations": [ann("y", [span(0, 4)], "NONE", 22),
                                                          ann("x", [span(0, 5)], "AGAINST", 21)]},
        {"task_id": 3, "article_id": "c", "annotations": [ann("x", [], "NONE", 31)]},
    ]
    report = release_agreement(tasks, ["أوكرانيا"])
    assert report["tasks_with_multiple_annotations"] == 2
    assert report["span_f1"]["x | y"]["exact"] == {"ALL": 0.5, "PER": 0.5}
    assert report["span_f1"]["x | y"]["overlap"] == {"ALL": 1.0, "PER": 1.0}
    expected = krippendorff_alpha_nominal([["FAVOR", "FAVOR"], ["NONE", "AGAINST"]])
    assert report["stance_alpha"]["أوكرانيا"] == pytest.approx(expected, abs=1e-4)
    (low,) = report["low_agreement_tasks"]
    assert low["article_id"] == "b" and low["min_exact_f1"] == 0.0 and low["stance_disagreement"] == ["أوكرانيا"]
    assert low["annotation_ids"] == [22, 21]
