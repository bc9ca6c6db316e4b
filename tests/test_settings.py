import json

import pytest

from workbench.errors import ConfigError
from workbench.settings import PROJECT_ROOT, load_settings


def env(tmp_path, **values):
    base = {"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_VAR_DIR": str(tmp_path / "var")}
    base.update(values)
    return base


def test_defaults_live_under_home(tmp_path):
    s = load_settings(environ=env(tmp_path))
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'workbench.db'}"
    assert s.exports_dir == tmp_path / "exports"
    assert s.review_policy == "submitted"
    assert s.label_studio_url is None and s.label_studio_token is None and s.api_token is None


def test_environment_beats_toml_beats_defaults(tmp_path):
    (tmp_path / "workbench.toml").write_text('project_title = "From toml"\nreview_policy = "ground_truth"\n')
    s = load_settings(environ=env(tmp_path, WORKBENCH_PROJECT_TITLE="From env"))
    assert s.project_title == "From env"
    assert s.review_policy == "ground_truth"
    assert s.sources["project_title"] == "environment"


def test_local_stack_file_fills_label_studio_and_token(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stack.json").write_text(json.dumps(
        {"label_studio": {"url": "http://127.0.0.1:9999", "token": "abc"}, "bridge": {"api_token": "xyz"}}))
    s = load_settings(environ=env(tmp_path))
    assert (s.label_studio_url, s.label_studio_token, s.api_token) == ("http://127.0.0.1:9999", "abc", "xyz")
    s = load_settings(environ=env(tmp_path, WORKBENCH_LABEL_STUDIO_URL="http://other:8080/"))
    assert s.label_studio_url == "http://other:8080"


@pytest.mark.parametrize("name, value, fragment", [
    ("WORKBENCH_REVIEW_POLICY", "whatever", "WORKBENCH_REVIEW_POLICY must be one of submitted, ground_truth"),
    ("WORKBENCH_LABEL_STUDIO_URL", "localhost:8080", "WORKBENCH_LABEL_STUDIO_URL must be an http(s) URL"),
    ("WORKBENCH_DATABASE_URL", "/tmp/db.sqlite", "WORKBENCH_DATABASE_URL must be a SQLAlchemy URL"),
    ("WORKBENCH_MAX_ARTICLE_BYTES", "-3", "WORKBENCH_MAX_ARTICLE_BYTES must be a positive integer"),
    ("WORKBENCH_PROJECT_TITLE", "x" * 51, "WORKBENCH_PROJECT_TITLE must be 1 to 50 characters"),
])
def test_invalid_setting_names_the_variable(tmp_path, name, value, fragment):
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env(tmp_path, **{name: value}))
    assert fragment in info.value.message
    assert name in info.value.errors


def test_missing_required_setting_names_it(tmp_path):
    s = load_settings(environ=env(tmp_path))
    with pytest.raises(ConfigError) as info:
        s.require("label_studio_token")
    assert "WORKBENCH_LABEL_STUDIO_TOKEN is not set" in info.value.message


def test_unknown_toml_key_is_an_error(tmp_path):
    (tmp_path / "workbench.toml").write_text('revew_policy = "submitted"\n')
    with pytest.raises(ConfigError, match="unknown setting.*revew_policy"):
        load_settings(environ=env(tmp_path))


def test_broken_toml_is_an_error(tmp_path):
    (tmp_path / "workbench.toml").write_text('review_policy = \n')
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(environ=env(tmp_path))


def test_config_path_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="WORKBENCH_CONFIG points to"):
        load_settings(environ=env(tmp_path, WORKBENCH_CONFIG=str(tmp_path / "nope.toml")))


def test_project_root_holds_the_scheme():
    assert (PROJECT_ROOT / "tasks" / "scheme.json").exists()


def test_table_drives_the_settings_fields(tmp_path):
    import dataclasses
    from workbench.settings import SETTINGS, Settings
    assert [f.name for f in dataclasses.fields(Settings)] == [s.name for s in SETTINGS] + ["sources"]
    s = load_settings(environ=env(tmp_path))
    assert set(s.sources) == {x.name for x in SETTINGS}


def test_dask_scheduler_setting(tmp_path):
    assert load_settings(environ=env(tmp_path)).dask_scheduler is None
    s = load_settings(environ=env(tmp_path, WORKBENCH_DASK_SCHEDULER="tcp://10.0.0.5:8786"))
    assert s.dask_scheduler == "tcp://10.0.0.5:8786" and s.sources["dask_scheduler"] == "environment"


@pytest.mark.parametrize("name, value, fragment", [
    ("WORKBENCH_MAX_JSON_DEPTH", "501", "WORKBENCH_MAX_JSON_DEPTH must be an integer between 1 and 500"),
    ("WORKBENCH_MAX_REQUEST_BYTES", "0", "WORKBENCH_MAX_REQUEST_BYTES must be an integer at least 1"),
    ("WORKBENCH_AGREEMENT_SPAN_F1", "1.5", "WORKBENCH_AGREEMENT_SPAN_F1 must be a number between 0 and 1"),
    ("WORKBENCH_BRIDGE_URL", "bridge:5000", "WORKBENCH_BRIDGE_URL must be an http(s) URL"),
    ("WORKBENCH_NER_MODEL", "nope.crfsuite", "WORKBENCH_NER_MODEL points to"),
    ("WORKBENCH_MODEL", "nope-bundle", "which is not a directory"),
    ("WORKBENCH_REVIEW_POLICY", "agreement:1", "(K >= 2)"),
])
def test_more_invalid_settings_name_the_variable(tmp_path, name, value, fragment):
    test_invalid_setting_names_the_variable(tmp_path, name, value, fragment)


def test_home_cannot_be_set_in_toml(tmp_path):
    (tmp_path / "workbench.toml").write_text('home = "/elsewhere"\n')
    with pytest.raises(ConfigError, match="unknown setting.*home"):
        load_settings(environ=env(tmp_path))


def test_broken_stack_file_is_a_config_error(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stack.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the local stack's file"):
        load_settings(environ=env(tmp_path))


def test_settings_command_masks_secrets_and_names_sources(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from workbench.cli import main
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stack.json").write_text(json.dumps(
        {"label_studio": {"url": "http://127.0.0.1:9999", "token": "ls-secret-token"},
         "bridge": {"api_token": "api-secret", "webhook_secret": "hook-secret"}}))
    (tmp_path / "workbench.toml").write_text('project_title = "From toml"\n')
    for key, value in env(tmp_path, WORKBENCH_MAX_JSON_DEPTH="32").items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    for secret in ("ls-secret-token", "api-secret", "hook-secret"):
        assert secret not in result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["label_studio_token"]["value"] == "********" and rows["label_studio_token"]["source"] == "var/stack.json"
    assert rows["webhook_secret"]["value"] == "********" and rows["api_token"]["secret"]
    assert rows["label_studio_url"] == {"name": "label_studio_url", "variable": "WORKBENCH_LABEL_STUDIO_URL",
                                        "value": "http://127.0.0.1:9999", "source": "var/stack.json", "secret": False}
    assert (rows["max_json_depth"]["value"], rows["max_json_depth"]["source"]) == (32, "environment")
    assert rows["project_title"]["source"] == str(tmp_path / "workbench.toml")
    assert (rows["review_policy"]["value"], rows["review_policy"]["source"]) == ("submitted", "default")
    assert rows["bridge_url"]["value"] is None
    text = CliRunner().invoke(main, ["settings"])
    assert text.exit_code == 0 and "hook-secret" not in text.output
    assert "WORKBENCH_PROJECT_TITLE" in text.output and "From toml" in text.output


def test_settings_command_reports_invalid_settings(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from workbench.cli import main
    for key, value in env(tmp_path, WORKBENCH_REVIEW_POLICY="agreement:1").items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 1
    assert "WORKBENCH_REVIEW_POLICY must be one of" in result.output
    assert "Traceback" not in result.output
