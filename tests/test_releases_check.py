"""verify, diff, and loading a release from a fresh process and with Hugging Face datasets."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import make_settings
from test_releases import decision, distinct, release

from workbench import release_check
from workbench.cli import main
from workbench.errors import InputError


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def released(settings_env, tmp_path):
    """v0001 in the exports dir the CLI (settings_env) uses."""
    settings = make_settings(tmp_path)
    release(settings, [decision("a"), distinct("b"), distinct("c")])
    return settings


def test_verify_passes_on_an_untouched_release(released):
    result = run("verify", "v0001")
    assert result.exit_code == 0 and "ok v0001: 7 files, 3 records" in result.stdout


@pytest.mark.parametrize("name", ["examples.jsonl", "records.jsonl", "examples.conll", "examples.parquet",
                                  "README.md", "agreement.json"])
def test_verify_names_a_changed_file_and_exits_1(released, name):
    path = released.exports_dir / "v0001" / name
    data = bytearray(path.read_bytes())
    data[-2] ^= 1  # same size, different content
    path.write_bytes(bytes(data))
    result = run("verify", "latest")
    assert result.exit_code == 1
    assert f"error: v0001 does not match its manifest: {name}" in result.stderr
    with pytest.raises(InputError) as caught:
        release_check.verify(released.exports_dir / "v0001")
    assert list(caught.value.errors) == [name] and "sha256" in caught.value.errors[name]


def test_verify_reports_missing_and_unlisted_files(released):
    folder = released.exports_dir / "v0001"
    (folder / "examples.conll").unlink()
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError) as caught:
        release_check.verify(folder)
    assert caught.value.errors == {"examples.conll": "missing", "notes.txt": "file not listed in manifest.json"}


def test_verify_catches_a_record_hash_edited_in_both_files(released):
    folder = released.exports_dir / "v0001"
    manifest = json.loads((folder / "manifest.json").read_text())
    records = (folder / "records.jsonl").read_text().splitlines()
    first = json.loads(records[0])
    records[0] = json.dumps({**first, "sha256": "0" * 64}, ensure_ascii=False, separators=(",", ":"))
    (folder / "records.jsonl").write_text("\n".join(records) + "\n")
    manifest["files"]["records.jsonl"] = {**release_check.file_digest(folder / "records.jsonl"), "records": 3}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError) as caught:
        release_check.verify(folder)
    assert caught.value.errors == {"examples.jsonl": "1 record(s) do not match records.jsonl, first: a"}


def test_diff_lists_added_removed_changed_and_label_deltas(released):
    changed = decision("a", stance={"روسيا": "AGAINST", "أوكرانيا": "FAVOR"})
    release(released, [changed, distinct("c"), decision("d")])
    report = release_check.diff(released.exports_dir / "v0001", released.exports_dir / "v0002")
    assert (report["added"], report["removed"], report["changed"], report["unchanged"]) == (["d"], ["b"], ["a"], 1)
    assert report["entity_label_delta"] == {"PER": 1}
    assert report["stance_delta"] == {"أوكرانيا": {}, "روسيا": {"AGAINST": 1, "NONE": -1}}
    result = run("diff", "v0001", "v0002")
    assert result.exit_code == 0 and "v0001 -> v0002: 1 added, 1 removed, 1 changed, 1 unchanged" in result.stdout
    assert json.loads(run("diff", "--json", "v0001", "latest").stdout)["changed"] == ["a"]


def test_diff_of_unknown_version_is_an_error(released):
    result = run("diff", "v0001", "v0009")
    assert result.exit_code == 1 and "error: release v0009 does not exist" in result.stderr


def test_a_fresh_process_loads_the_release(released):
    code = ("from workbench.feed import load; rows = load(version='latest', split=None); "
            "print(len(rows), sorted(r['id'] for r in rows), rows[0]['entities'][0]['text'])")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3 ['a', 'b', 'c'] زيلينسكي"


def test_hugging_face_datasets_loads_parquet_and_jsonl(released, tmp_path):
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is not installed in this venv")
    folder = released.exports_dir / "v0001"
    expected = [json.loads(x) for x in (folder / "examples.jsonl").read_text().splitlines()]
    from_parquet = datasets.Dataset.from_parquet(str(folder / "examples.parquet"), cache_dir=str(tmp_path / "hf"))
    from_json = datasets.Dataset.from_json(str(folder / "examples.jsonl"), cache_dir=str(tmp_path / "hf"))
    assert from_parquet.to_list() == expected
    assert from_json.to_list() == expected
    train = from_parquet.filter(lambda x: x["split"] == "train")
    assert train["id"] == [x["id"] for x in expected if x["split"] == "train"]
