import hashlib
import json
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from workbench import feed, releases
from workbench.db import session_scope
from workbench.errors import InputError, NotFound, OffsetError

TEXT = "قال زيلينسكي"


def decision(article_id, text=TEXT, accepted=True, entities=None, stance=None):
    revision = SimpleNamespace(article_id=article_id, text=text)
    if entities is None:
        entities = [{"start": 4, "end": 12, "label": "PER", "text": "زيلينسكي"}] if text == TEXT else []
    annotation = SimpleNamespace(entities=entities, stance=stance or {"روسيا": "NONE", "أوكرانيا": "FAVOR"},
                                 ls_annotation_id=7, annotator="amal") if accepted else None
    task = SimpleNamespace(revision=revision, ls_task_id=3, model_versions=["gazetteer-rules@1"])
    return SimpleNamespace(task=task, annotation=annotation, accepted=accepted)


def distinct(article_id):
    """An accepted decision whose text shares nothing with other articles' texts."""
    return decision(article_id, text=f"خبر رقم {article_id} " + hashlib.sha256(article_id.encode()).hexdigest())


def release(settings, decisions, agreement=None):
    with session_scope(settings) as session:
        return releases.write_release(session, settings.exports_dir, decisions, {"review_policy": "submitted"},
                                      agreement)


def test_split_is_stable_and_roughly_80_10_10():
    splits = [releases.split_of(f"article-{i}") for i in range(3000)]
    assert releases.split_of("article-1") == releases.split_of("article-1")
    assert 0.75 < splits.count("train") / 3000 < 0.85
    assert 0.07 < splits.count("dev") / 3000 < 0.13


def test_release_writes_canonical_sorted_examples_and_a_true_manifest(settings):
    version, manifest = release(settings, [decision("b"), decision("a"), decision("c", accepted=False)])
    assert version == "v0001" and manifest["parent"] is None
    folder = settings.exports_dir / "v0001"
    data = (folder / "examples.jsonl").read_bytes()
    first = data.decode().splitlines()[0]
    assert first == ('{"id":"a","text":"قال زيلينسكي",'
                     '"entities":[{"start":4,"end":12,"label":"PER","text":"زيلينسكي"}],'
                     '"stance":{"أوكرانيا":"FAVOR","روسيا":"NONE"},"split":"%s"}' % releases.split_of("a"))
    assert [json.loads(x)["id"] for x in data.decode().splitlines()] == ["a", "b"]
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert manifest["files"]["examples.jsonl"] == {"sha256": hashlib.sha256(data).hexdigest(), "records": 2,
                                                   "bytes": len(data)}
    assert sorted(manifest["files"]) == ["README.md", "agreement.json", "examples.conll", "examples.jsonl",
                                         "examples.parquet", "labels.svg", "records.jsonl"]
    assert not [p for p in settings.exports_dir.iterdir() if p.name.startswith(".tmp")]


def test_records_carry_line_hashes_and_lineage(settings):
    release(settings, [decision("a"), decision("b")])
    folder = settings.exports_dir / "v0001"
    lines = (folder / "examples.jsonl").read_bytes().splitlines(keepends=True)
    records = [json.loads(x) for x in (folder / "records.jsonl").read_text().splitlines()]
    assert [r["sha256"] for r in records] == [hashlib.sha256(x).hexdigest() for x in lines]
    assert records[0] | {} == {**records[0], "id": "a", "task_id": 3, "annotation_id": 7, "annotator": "amal",
                               "model_versions": ["gazetteer-rules@1"]}
    stats = json.loads((folder / "manifest.json").read_text())["stats"]
    assert stats["model_versions"] == {"gazetteer-rules@1": 2} and stats["annotators"] == {"amal": 2}


def test_parquet_holds_the_same_rows(settings):
    release(settings, [distinct("a"), decision("b"), distinct("c")])
    folder = settings.exports_dir / "v0001"
    rows = pq.read_table(folder / "examples.parquet").to_pylist()
    assert rows == [json.loads(x) for x in (folder / "examples.jsonl").read_text().splitlines()]


def test_versions_count_up_record_their_parent_and_never_overwrite(settings):
    assert release(settings, [decision("a")])[0] == "v0001"
    (settings.exports_dir / "v0002").mkdir()
    (settings.exports_dir / "v0002" / "keep.txt").write_text("someone's")
    version, manifest = release(settings, [decision("a")])
    assert (version, manifest["parent"]) == ("v0003", "v0002")
    assert (settings.exports_dir / "v0002" / "keep.txt").read_text() == "someone's"
    assert release(settings, [decision("a")])[0] == "v0004"


def test_nothing_accepted_is_an_error_and_writes_nothing(settings):
    with pytest.raises(InputError, match="nothing to release"):
        release(settings, [decision("a", accepted=False)])
    assert releases.existing_versions(settings.exports_dir) == []


def test_a_span_that_does_not_match_the_text_stops_the_release(settings):
    bad = decision("a", entities=[{"start": 0, "end": 3, "label": "PER", "text": "زيل"}])
    with pytest.raises(OffsetError, match="example a"):
        release(settings, [bad])
    assert releases.existing_versions(settings.exports_dir) == []


def test_duplicates_and_near_duplicates_share_the_split_of_the_smallest_id(settings):
    ids = [f"n{i:03d}" for i in range(200)]
    a, b = next((x, y) for x in ids for y in ids if x < y and releases.split_of(x) != releases.split_of(y))
    story = "أعلنت وزارة الدفاع الأوكرانية صباح اليوم أن قواتها صدت هجوما واسعا على مدينة خاركيف. " * 3
    other = [i for i in ids if i not in (a, b) and releases.split_of(i) != releases.split_of(a)][0]
    near = story.replace("صباح اليوم", "صباح الأحد")
    decisions = [decision(a, text=story), decision(b, text="  " + near), decision(other, text=story[::-1])]
    _, manifest = release(settings, decisions)
    got = {x["id"]: x["split"] for x in feed.load("v0001", exports_dir=settings.exports_dir)}
    assert got == {a: releases.split_of(a), b: releases.split_of(a), other: releases.split_of(other)}
    assert (manifest["stats"]["duplicate_groups"], manifest["stats"]["examples_in_duplicate_groups"]) == (1, 2)


def test_data_card_states_counts_agreement_lineage_and_loading(settings):
    agreement = {"tasks_with_multiple_annotations": 1, "low_agreement_threshold": 0.8,
                 "span_f1": {"amal | omar": {"exact": {"ALL": 0.5}, "overlap": {"ALL": 1.0}}},
                 "stance_alpha": {"روسيا": 0.25}, "low_agreement_tasks": [{"task_id": 3}]}
    _, manifest = release(settings, [decision("a"), distinct("b")], agreement)
    card = (settings.exports_dir / "v0001" / "README.md").read_text(encoding="utf-8")
    assert "training set v0001" in card and "| PER | 1 |" in card
    assert "amal | omar" in card and '"روسيا": 0.25' in card and "1 task(s) below" in card
    assert "Dataset.from_parquet" in card and 'load(version="v0001", split="train")' in card and "Licence" in card
    saved = json.loads((settings.exports_dir / "v0001" / "agreement.json").read_text(encoding="utf-8"))
    assert saved == agreement and manifest["agreement_summary"]["stance_alpha"] == {"روسيا": 0.25}


def test_feed_reads_back_and_filters_split(settings):
    release(settings, [distinct(f"id-{i}") for i in range(40)])
    everything = feed.load("latest", exports_dir=settings.exports_dir)
    train = feed.load("v0001", split="train", exports_dir=settings.exports_dir)
    assert len(everything) == 40
    assert train and all(x["split"] == "train" for x in train) and len(train) < 40
    assert feed.list_releases(settings.exports_dir)[0]["examples"] == 40


@pytest.mark.parametrize("version, error", [("v9999", NotFound), ("../etc", InputError), ("latest", NotFound)])
def test_feed_refuses_unknown_and_malformed_versions(settings, version, error):
    with pytest.raises(error):
        feed.read_manifest(settings.exports_dir, version)


def test_feed_refuses_unknown_split(settings):
    release(settings, [decision("a")])
    with pytest.raises(InputError, match="split must be"):
        feed.iter_example_lines(settings.exports_dir, "v0001", "validation")


def test_release_draws_the_label_distribution(settings):
    import xml.etree.ElementTree as ET
    from workbench.release_check import verify
    version, manifest = release(settings, [decision(f"id-{i}") for i in range(12)])
    folder = settings.exports_dir / version
    svg = ET.parse(folder / "labels.svg").getroot()
    title = "{http://www.w3.org/2000/svg}title"
    bars = {r.find(title).text: float(r.get("width"))
            for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.find(title) is not None}
    per_split = manifest["stats"]["entity_labels_per_split"]
    biggest = max(per_split, key=lambda s: per_split[s]["PER"])
    assert bars[f"{biggest}: {per_split[biggest]['PER']}"] == 420.0
    assert "labels.svg" in manifest["files"] and "](labels.svg)" in (folder / "README.md").read_text()
    assert verify(folder)["files"] == len(manifest["files"])
