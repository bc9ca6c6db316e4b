"""A release against Label Studio's own export of the same annotations, on a real server: the
released entity spans are the spans in GET /api/projects/<id>/export?exportType=JSON and in the
label_studio_sdk JSON_MIN converter's output; agreement is measured where a task has two annotations."""
import json

import pytest
from conftest import gold_result
from label_studio_sdk.converter import Converter

from workbench import feed, release_check, workflow

pytestmark = pytest.mark.label_studio


def spans_of(result: list[dict]) -> list[dict]:
    spans = [{"start": r["value"]["start"], "end": r["value"]["end"], "label": r["value"]["labels"][0],
              "text": r["value"]["text"]} for r in result if r["type"] == "labels"]
    return sorted(spans, key=lambda s: (s["start"], s["end"]))


def released(settings, version):
    folder = settings.exports_dir / version
    examples = feed.load(version, exports_dir=settings.exports_dir)
    records = [json.loads(x) for x in (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return examples, records


def test_release_matches_label_studio_export_and_converter(ls_settings, sample_corpus, annotator, gold, tmp_path):
    workflow.ingest_paths(ls_settings, [sample_corpus])
    workflow.preannotate(ls_settings)
    project_id = workflow.push(ls_settings).project_id
    tasks = {t["data"]["article_id"]: t for t in annotator.tasks(project_id)}
    for example in gold:
        annotator.annotate(tasks[example["id"]]["id"], gold_result(example))
    second = {**gold[0], "entities": gold[0]["entities"][::2], "stance": {**gold[0]["stance"], "روسيا": "FAVOR"}}
    annotator.annotate(tasks[gold[0]["id"]]["id"], gold_result(second))
    workflow.pull(ls_settings)
    version, manifest = workflow.release(ls_settings)
    examples, records = released(ls_settings, version)
    assert len(examples) == 5 and manifest["label_studio"]["project_id"] == project_id
    for record in records:  # the pre-annotator versions are those of the predictions the annotators saw
        seen = sorted(p["model_version"] for p in tasks[record["id"]]["predictions"])
        assert seen and sorted(record["model_versions"]) == seen and record["annotator"]

    response = annotator.session.get(f"{annotator.url}/api/projects/{project_id}/export",
                                     params={"exportType": "JSON"})
    response.raise_for_status()
    export = response.json()
    by_annotation = {a["id"]: a for task in export for a in task["annotations"]}
    for example, record in zip(examples, records):
        assert example["entities"] == spans_of(by_annotation[record["annotation_id"]]["result"])
    released_first = next(e for e in examples if e["id"] == gold[0]["id"])
    assert released_first["entities"] == second["entities"]  # the newest annotation is the accepted one

    (tmp_path / "export.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    converter = Converter(config=annotator.project(project_id)["label_config"], project_dir=None,
                          download_resources=False)
    converter.convert_to_json_min(str(tmp_path / "export.json"), str(tmp_path / "min"), is_dir=False)
    minimal = {r["annotation_id"]: r for r in json.loads((tmp_path / "min" / "result.json").read_text("utf-8"))}
    for example, record in zip(examples, records):
        converted = [{"start": s["start"], "end": s["end"], "label": s["labels"][0], "text": s["text"]}
                     for s in minimal[record["annotation_id"]]["entities"]]
        assert example["entities"] == sorted(converted, key=lambda s: (s["start"], s["end"]))
        assert minimal[record["annotation_id"]]["article_id"] == example["id"]

    agreement = json.loads((ls_settings.exports_dir / version / "agreement.json").read_text(encoding="utf-8"))
    assert agreement["tasks_with_multiple_annotations"] == 1
    (low,) = agreement["low_agreement_tasks"]
    assert low["article_id"] == gold[0]["id"] and low["stance_disagreement"] == ["روسيا"]
    assert 0 < agreement["span_f1"][next(iter(agreement["span_f1"]))]["exact"]["ALL"] < 1
    assert release_check.verify(ls_settings.exports_dir / version)["records"] == 5
