"""The one place where character offsets cross a boundary.

Spans inside the workbench are {"start", "end", "label", "text"} with Python str indices into
the exact task text. Label Studio 1.23 counts offsets in Unicode code points too, so the
conversion is the identity — but every span that crosses is checked: text[start:end] must
equal the span's text, or the span is reported, never silently fixed."""
from __future__ import annotations

ENTITIES_FROM = "entities"
TEXT_TO = "text"


def span_problem(text: str, span: dict, labels: list[str] | None = None) -> str | None:
    """Why a span does not fit the text, or None when it does."""
    start, end = span.get("start"), span.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        return f"offsets must be integers, got start={start!r} end={end!r}"
    if not 0 <= start < end <= len(text):
        return f"offsets {start}:{end} are outside the text (length {len(text)})"
    if labels is not None and span.get("label") not in labels:
        return f"label {span.get('label')!r} is not in the scheme"
    actual = text[start:end]
    if span.get("text") is not None and actual != span["text"]:
        return f"span text {span['text']!r} does not match text[{start}:{end}] = {actual!r}"
    return None


def checked_spans(text: str, spans: list[dict], labels: list[str] | None = None) -> list[dict]:
    """The spans, each with its text filled from the task text; ValueError on the first bad one."""
    out = []
    for span in spans:
        problem = span_problem(text, span, labels)
        if problem:
            raise ValueError(problem)
        out.append({"start": span["start"], "end": span["end"], "label": span["label"],
                    "text": text[span["start"]:span["end"]]})
    return out


def to_label_studio(span: dict, score: float | None = None) -> dict:
    """A workbench span as one Label Studio `labels` result."""
    result = {"from_name": ENTITIES_FROM, "to_name": TEXT_TO, "type": "labels",
              "value": {"start": span["start"], "end": span["end"], "text": span["text"],
                        "labels": [span["label"]]}}
    if score is not None:
        result["score"] = score
    return result


def from_label_studio(result: dict, text: str) -> tuple[dict | None, str | None]:
    """One Label Studio `labels` result as a workbench span, and the problem if it does not fit the text."""
    value = result.get("value") or {}
    labels = value.get("labels") or []
    span = {"start": value.get("start"), "end": value.get("end"),
            "label": labels[0] if len(labels) == 1 else None, "text": value.get("text")}
    if len(labels) != 1:
        return span, f"a span must carry exactly one label, got {labels!r}"
    problem = span_problem(text, span)
    return span, problem
