import xml.etree.ElementTree as ET

import pytest

from workbench.errors import InputError
from workbench.models import Article, ArticleRevision, PreAnnotation
from workbench.scheme import load_scheme
from workbench.settings import PROJECT_ROOT
from workbench.tasks import labeling_config, prediction_payload, task_payload

TASKS = PROJECT_ROOT / "tasks"


@pytest.fixture(scope="module")
def scheme():
    return load_scheme(TASKS)


def test_config_shows_text_right_to_left_with_every_label_and_target(scheme):
    root = ET.fromstring(labeling_config(scheme, TASKS))
    rtl_views = [v for v in root.iter("View") if "direction: rtl" in (v.get("style") or "")]
    assert any(v.find("Text") is not None and v.find("Text").get("value") == "$text" for v in rtl_views)
    labels = root.find("Labels")
    assert labels.get("toName") == "text"
    assert [(lab.get("value"), lab.get("background"), lab.get("hotkey")) for lab in labels] == [
        (e["label"], e["background"], e["hotkey"]) for e in scheme.raw["entities"]]
    choices = {c.get("name"): [x.get("value") for x in c] for c in root.iter("Choices")}
    assert choices == {"stance_ukraine": ["FAVOR", "AGAINST", "NONE"], "stance_russia": ["FAVOR", "AGAINST", "NONE"]}
    assert all(c.get("required") == "true" for c in root.iter("Choices"))


def test_config_headers_name_each_target_in_arabic(scheme):
    root = ET.fromstring(labeling_config(scheme, TASKS))
    headers = [h.get("value") for h in root.iter("Header")]
    assert any("أوكرانيا" in h for h in headers) and any("روسيا" in h for h in headers)


def revision(text="قال زيلينسكي في كييف"):
    article = Article(id="a1", title=None)
    return ArticleRevision(article=article, article_id="a1", number=1, text=text, text_sha256="x")


def test_prediction_payload_carries_spans_stance_and_scores(scheme):
    rev = revision()
    pre = PreAnnotation(model_version="m-1", score=0.7, stance={"أوكرانيا": {"label": "FAVOR", "score": 0.6}},
                        entities=[{"start": 4, "end": 12, "label": "PER", "text": "زيلينسكي", "score": 0.9}])
    payload = prediction_payload(pre, rev, scheme)
    assert payload["model_version"] == "m-1" and payload["score"] == 0.7
    span, stance = payload["result"]
    assert span["value"] == {"start": 4, "end": 12, "text": "زيلينسكي", "labels": ["PER"]} and span["score"] == 0.9
    assert stance == {"from_name": "stance_ukraine", "to_name": "text", "type": "choices",
                      "value": {"choices": ["FAVOR"]}, "score": 0.6}


@pytest.mark.parametrize("entity", [
    {"start": 4, "end": 12, "label": "PER", "text": "زيلينسك"},
    {"start": 4, "end": 40, "label": "PER"},
    {"start": 4, "end": 12, "label": "PERSON"},
])
def test_invalid_prediction_is_refused_before_sending(scheme, entity):
    pre = PreAnnotation(model_version="m-1", score=0.5, stance={}, entities=[entity])
    with pytest.raises(InputError, match="pre-annotation m-1 of a1@r1 is invalid"):
        prediction_payload(pre, revision(), scheme)


def test_task_payload_keeps_text_exactly_and_a_stable_key():
    text = "  نص مع مسافات\r\nوسطر  "
    payload = task_payload(revision(text), [])
    assert payload["data"]["text"] == text
    assert payload["data"]["wb_key"] == "a1@r1"
    assert payload["data"]["title"] == "a1"
