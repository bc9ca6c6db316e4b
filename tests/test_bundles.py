"""Model bundles: hashes checked on load (a tampered file refused, naming it), the registry in
the database (register, promote, rollback with the history kept), which pre-annotator the
settings and the database choose (WORKBENCH_MODEL, the promoted bundle, legacy files, shipped),
`eval --model`, `models list|show|promote|rollback`, and `train ner` never touching the shipped
model."""
import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import make_settings
from retrain_data import built_bundle, write_release

from workbench import bundles
from workbench.bundles import bundle_preannotator, verify_bundle
from workbench.cli import main
from workbench.db import session_scope
from workbench.errors import ConfigError, InputError
from workbench.preannotate import configured_preannotator
from workbench.preannotation.crf import DEFAULT_MODEL, MODELS_DIR


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return built_bundle(tmp_path_factory)[1]


def copy_of(bundle, folder):
    return shutil.copytree(bundle, folder / bundle.name)


def variant(bundle, folder, name):
    """A valid bundle that differs from `bundle` by one lexicon line (its own model_version)."""
    target = shutil.copytree(bundle, folder / name)
    with (target / "lexicon.tsv").open("a", encoding="utf-8") as handle:
        handle.write(f"{name}\tORG\n")
    info = json.loads((target / "model.json").read_text(encoding="utf-8"))
    info["files"]["lexicon.tsv"] = bundles.file_entry(target / "lexicon.tsv")
    info["model_version"] = bundles.content_version(info["files"], info.get("ledger"))
    (target / "model.json").write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return target


def tagger_path(engine):
    return engine.layers[1].tagger.model_path


# --- checking the files ---------------------------------------------------------------------

def test_a_tampered_file_is_refused_naming_it(bundle, tmp_path):
    copy = copy_of(bundle, tmp_path)
    assert verify_bundle(copy)["model_version"] == bundle.name
    (copy / "lexicon.tsv").write_text("# source: someone\nمؤسسة الزيزفون\tORG\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        bundle_preannotator(copy, [])
    assert "lexicon.tsv does not match model.json" in info.value.message


def test_a_missing_file_is_refused_naming_it(bundle, tmp_path):
    copy = copy_of(bundle, tmp_path)
    (copy / "ner-crf.names.json").unlink()
    with pytest.raises(InputError, match="ner-crf.names.json is missing"):
        verify_bundle(copy)


def test_a_changed_model_json_is_refused_for_a_registered_bundle(bundle, tmp_path):
    settings = make_settings(tmp_path)
    copy = copy_of(bundle, tmp_path)
    with session_scope(settings) as session:
        bundles.promote(session, bundles.find(session, str(copy)), "test")
    info = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    (copy / "model.json").write_text(json.dumps({**info, "stance": "edited"}), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        configured_preannotator(settings, [])
    assert "model.json does not match the registered bundle" in error.value.message
    assert bundle.name in error.value.message


def test_a_promoted_bundle_whose_file_changed_is_refused_naming_it(bundle, tmp_path):
    settings = make_settings(tmp_path)
    copy = copy_of(bundle, tmp_path)
    with session_scope(settings) as session:
        bundles.promote(session, bundles.find(session, str(copy)), "test")
    (copy / "ner-crf.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        configured_preannotator(settings, [])
    assert f"the promoted bundle {bundle.name}: " in error.value.message
    assert "ner-crf.json does not match model.json" in error.value.message


def test_eval_model_scores_a_bundle_and_refuses_a_tampered_one(bundle, tmp_path, settings_env):
    from conftest import FIXTURES
    runner = CliRunner()
    result = runner.invoke(main, ["eval", "--gold", str(FIXTURES / "sample_gold.jsonl"), "--model", str(bundle),
                                  "--json"])
    assert result.exit_code == 0, result.output
    assert "+ner." in json.loads(result.stdout)["model_version"]
    copy = copy_of(bundle, tmp_path)
    (copy / "ner-crf.crfsuite").write_bytes(b"tampered")
    refused = runner.invoke(main, ["eval", "--gold", str(FIXTURES / "sample_gold.jsonl"), "--model", str(copy)])
    assert refused.exit_code == 1 and "ner-crf.crfsuite does not match model.json" in refused.stderr


# --- the registry -------------------------------------------------------------------------------

def test_promote_and_rollback_append_to_the_history(bundle, tmp_path):
    settings = make_settings(tmp_path)
    first, second = variant(bundle, tmp_path, "one"), variant(bundle, tmp_path, "two")
    with session_scope(settings) as session:
        a, b = bundles.find(session, str(first)), bundles.find(session, str(second))
        assert bundles.current(session) is None
        bundles.promote(session, a, "test")
        bundles.promote(session, b, "test")
        assert bundles.promote(session, b, "test") is None  # already current: no row
        assert bundles.current(session).id == b.id
        row = bundles.rollback(session, "test")
        assert (row.action, row.bundle_id, row.previous_bundle_id) == ("rollback", a.id, b.id)
        assert bundles.current(session).id == a.id
        assert [(r.action, r.bundle_id) for r in bundles.history(session)] == [
            ("promote", a.id), ("promote", b.id), ("rollback", a.id)]
        with pytest.raises(InputError, match="nothing to roll back to"):
            bundles.rollback(session, "test")


def test_an_unknown_bundle_is_not_found(tmp_path):
    from workbench.errors import NotFound
    with session_scope(make_settings(tmp_path)) as session, pytest.raises(NotFound, match="no model bundle"):
        bundles.find(session, "bundle-000000000000")


def test_the_models_commands(bundle, tmp_path, settings_env):
    runner = CliRunner()
    first, second = variant(bundle, tmp_path, "one"), variant(bundle, tmp_path, "two")
    assert "no bundles registered" in runner.invoke(main, ["models", "list"]).stdout
    unregistered = json.loads(runner.invoke(main, ["models", "show", str(first)]).stdout)
    assert unregistered["registry"] is None and "no bundles registered" in runner.invoke(main, ["models", "list"]).stdout
    assert runner.invoke(main, ["models", "promote", str(first)]).exit_code == 0
    promoted = runner.invoke(main, ["models", "promote", str(second)])
    version_two = json.loads((second / "model.json").read_text(encoding="utf-8"))["model_version"]
    assert promoted.exit_code == 0 and promoted.stdout.strip() == f"promoted {version_two}"
    listed = runner.invoke(main, ["models", "list", "--json"])
    data = json.loads(listed.stdout)
    assert [b["current"] for b in data["bundles"]] == [False, True]
    shown = json.loads(runner.invoke(main, ["models", "show", version_two]).stdout)
    assert shown["registry"]["current"] and shown["model_json"]["model_version"] == version_two
    rolled = runner.invoke(main, ["models", "rollback"])
    assert rolled.exit_code == 0 and data["bundles"][0]["model_version"] in rolled.stdout
    history = json.loads(runner.invoke(main, ["models", "list", "--json"]).stdout)["history"]
    assert [row["action"] for row in history] == ["promote", "promote", "rollback"]
    assert history[-1]["by"] == "workbench models rollback"
    missing = runner.invoke(main, ["models", "promote", "bundle-nothere"])
    assert missing.exit_code == 1 and "no model bundle" in missing.stderr


# --- which pre-annotator ------------------------------------------------------------------------

def test_the_promoted_bundle_is_used_and_workbench_model_overrides_it(bundle, tmp_path):
    one, two = variant(bundle, tmp_path, "one"), variant(bundle, tmp_path, "two")
    settings = make_settings(tmp_path)
    assert tagger_path(configured_preannotator(settings, [])) == DEFAULT_MODEL
    with session_scope(settings) as session:
        bundles.promote(session, bundles.find(session, str(one)), "test")
    assert tagger_path(configured_preannotator(settings, [])) == one / "ner-crf.crfsuite"
    overridden = configured_preannotator(make_settings(tmp_path, model=two), [])
    assert tagger_path(overridden) == two / "ner-crf.crfsuite"


def test_the_ml_backend_follows_a_promotion_and_a_rollback_without_a_restart(bundle, tmp_path):
    from conftest import API_TOKEN
    from workbench.web import create_app
    one, two = variant(bundle, tmp_path, "one"), variant(bundle, tmp_path, "two")
    settings = make_settings(tmp_path)
    client = create_app(settings).test_client()
    served = lambda: client.get("/ml/health", auth=("ls", API_TOKEN)).get_json()["model_version"]  # noqa: E731
    shipped = served()
    with session_scope(settings) as session:
        bundles.promote(session, bundles.find(session, str(one)), "test")
    first = served()
    with session_scope(settings) as session:
        bundles.promote(session, bundles.find(session, str(two)), "test")
    second = served()
    with session_scope(settings) as session:
        bundles.rollback(session, "test")
    assert len({shipped, first, second}) == 3 and served() == first
    assert first == bundle_preannotator(one, []).model_version


def test_workbench_model_must_be_a_directory_and_a_good_bundle(bundle, tmp_path):
    with pytest.raises(ConfigError, match="WORKBENCH_MODEL points to"):
        make_settings(tmp_path, model=tmp_path / "nowhere")
    copy = copy_of(bundle, tmp_path)
    (copy / "lexicon.tsv").write_text("changed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        configured_preannotator(make_settings(tmp_path, model=copy), [])
    assert info.value.message.startswith("WORKBENCH_MODEL: ") and "lexicon.tsv" in info.value.message


def test_preannotate_uses_the_promoted_bundle(bundle, tmp_path, settings_env, sample_corpus):
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(sample_corpus)]).exit_code == 0
    assert runner.invoke(main, ["models", "promote", str(bundle)]).exit_code == 0
    result = runner.invoke(main, ["preannotate"])
    digest = hashlib.sha256((bundle / "ner-crf.crfsuite").read_bytes()).hexdigest()[:8]
    assert result.exit_code == 0 and f"+ner.{digest}" in result.stdout and "+ledger." in result.stdout


def test_retrain_promote_if_better_promotes_over_the_shipped_default(tmp_path, settings_env):
    release = write_release(tmp_path / "exports", 60)
    result = CliRunner().invoke(main, ["retrain", "--iterations", "20", "--promote-if-better"])
    assert result.exit_code == 0, result.output
    path = result.stdout.strip().splitlines()[-1]
    assert "promoted: it beats the current model" in result.stdout
    assert tagger_path(configured_preannotator(make_settings(tmp_path), [])) == \
        tmp_path / "var" / "models" / path.rsplit("/", 1)[-1] / "ner-crf.crfsuite"
    assert release.name in result.stdout
    write_release(tmp_path / "exports", 50)  # v0002: the next retrain's parent is the promoted bundle
    second = CliRunner().invoke(main, ["retrain", "--iterations", "20"])
    assert second.exit_code == 0, second.output
    info = json.loads((tmp_path / "var" / "models" / second.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
                       / "model.json").read_text(encoding="utf-8"))
    parent = path.rsplit("/", 1)[-1]
    assert info["parent"] == parent and info["release"]["version"] == "v0002"
    assert info["evaluation"]["current"]["bundle"] == parent and f"--- current ({parent}), test split" in second.stdout
    assert "not promoted" in second.stdout


# --- the shipped model is never written ---------------------------------------------------------

def test_train_ner_reads_a_releases_conll_and_never_writes_the_shipped_model(tmp_path, settings_env):
    release = write_release(tmp_path / "exports", 12)
    shipped = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in MODELS_DIR.iterdir()}
    runner = CliRunner()
    result = runner.invoke(main, ["train", "ner", "--conll", str(release / "examples.conll"), "--iterations", "5"])
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "var" / "models").glob("train-ner-*/ner-crf.crfsuite"))
    assert len(written) == 1 and str(written[0]) in result.stdout
    refused = runner.invoke(main, ["train", "ner", "--conll", str(release / "examples.conll"), "--iterations", "5",
                                   "--out", str(DEFAULT_MODEL)])
    assert refused.exit_code == 1 and "never overwritten" in refused.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in MODELS_DIR.iterdir()} == shipped
    from workbench.preannotation.crf import CrfTagger
    assert "WEAPON" in CrfTagger(written[0]).entity_labels
