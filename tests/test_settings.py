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
