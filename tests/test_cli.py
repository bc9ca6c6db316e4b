import json

from click.testing import CliRunner

from workbench.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ingest_reports_and_exits_nonzero_on_bad_input(settings_env, tmp_path):
    (tmp_path / "good.txt").write_text("خبر", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    result = run("ingest", str(tmp_path / "good.txt"), str(tmp_path / "bad.txt"))
    assert result.exit_code == 1
    assert "new: 1, revised: 0, unchanged: 0, errors: 1" in result.stdout
    assert f"error: {tmp_path / 'bad.txt'}: file looks binary" in result.stderr
    again = run("ingest", "--json", str(tmp_path / "good.txt"))
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == ["good"]


def test_status_json_counts_stages(settings_env, sample_corpus):
    assert run("ingest", str(sample_corpus)).exit_code == 0
    data = json.loads(run("status", "--json").stdout)
    assert data["counts"]["articles"] == 5 and data["counts"]["revisions"] == 5
    assert data["counts"]["tasks"] == 0 and data["label_studio"] == {"url": None, "project_id": None}


def test_preannotate_is_done_once_per_model_version(settings_env, sample_corpus):
    run("ingest", str(sample_corpus))
    first = run("preannotate")
    assert first.exit_code == 0 and "annotated 5 article(s)" in first.stdout
    assert "annotated 0 article(s)" in run("preannotate").stdout and "5 already done" in run("preannotate").stdout
    assert json.loads(run("status", "--json").stdout)["counts"]["preannotated"] == 5


def test_push_without_label_studio_settings_names_them(settings_env):
    result = run("push")
    assert result.exit_code == 1
    assert "error: WORKBENCH_LABEL_STUDIO_URL is not set" in result.stderr


def test_release_before_push_says_what_to_do(settings_env, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LABEL_STUDIO_URL", "http://127.0.0.1:9")
    result = run("release")
    assert result.exit_code == 1 and "run `workbench push`" in result.stderr


def test_invalid_setting_is_a_clear_cli_error(settings_env, monkeypatch):
    monkeypatch.setenv("WORKBENCH_REVIEW_POLICY", "vibes")
    result = run("status")
    assert result.exit_code == 1
    assert "WORKBENCH_REVIEW_POLICY must be one of submitted, ground_truth" in result.stderr


def test_help_lists_every_stage():
    out = run("--help").stdout
    for command in ("ingest", "preannotate", "push", "pull", "release", "status", "serve", "up", "down"):
        assert command in out
