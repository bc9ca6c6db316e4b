import hashlib
import json
from types import SimpleNamespace

import pytest

from workbench import feed, releases
from workbench.db import session_scope
from workbench.errors import InputError, NotFound


def decision(article_id, text="قال زيلينسكي", accepted=True):
    revision = SimpleNamespace(article_id=article_id, text=text)
    annotation = SimpleNamespace(entities=[{"start": 4, "end": 12, "label": "PER", "text": "زيلينسكي"}],
                                 stance={"أوكرانيا": "NONE", "روسيا": "NONE"}) if accepted else None
    return SimpleNamespace(task=SimpleNamespace(revision=revision), annotation=annotation, accepted=accepted)


def release(settings, decisions):
    with session_scope(settings) as session:
        return releases.write_release(session, settings.exports_dir, decisions, {"review_policy": "submitted"})


def test_split_is_stable_and_roughly_80_10_10():
    splits = [releases.split_of(f"article-{i}") for i in range(3000)]
    assert releases.split_of("article-1") == releases.split_of("article-1")
    assert 0.75 < splits.count("train") / 3000 < 0.85
    assert 0.07 < splits.count("dev") / 3000 < 0.13


def test_release_writes_sorted_examples_and_a_true_manifest(settings):
    version, manifest = release(settings, [decision("b"), decision("a"), decision("c", accepted=False)])
    assert version == "v0001"
    folder = settings.exports_dir / "v0001"
    data = (folder / "examples.jsonl").read_bytes()
    lines = [json.loads(x) for x in data.decode().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert set(lines[0]) == {"id", "text", "entities", "stance", "split"}
    assert "زيلينسكي" in data.decode()  # not \u-escaped
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["files"]["examples.jsonl"] == {"sha256": hashlib.sha256(data).hexdigest(), "records": 2,
                                                   "bytes": len(data)}
    assert not [p for p in settings.exports_dir.iterdir() if p.name.startswith(".tmp")]


def test_versions_count_up_and_never_overwrite(settings):
    assert release(settings, [decision("a")])[0] == "v0001"
    (settings.exports_dir / "v0002").mkdir()
    (settings.exports_dir / "v0002" / "keep.txt").write_text("someone's")
    assert release(settings, [decision("a")])[0] == "v0003"
    assert (settings.exports_dir / "v0002" / "keep.txt").read_text() == "someone's"
    assert release(settings, [decision("a")])[0] == "v0004"


def test_nothing_accepted_is_an_error_and_writes_nothing(settings):
    with pytest.raises(InputError, match="nothing to release"):
        release(settings, [decision("a", accepted=False)])
    assert releases.existing_versions(settings.exports_dir) == []


def test_feed_reads_back_and_filters_split(settings):
    release(settings, [decision(f"id-{i}") for i in range(40)])
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
