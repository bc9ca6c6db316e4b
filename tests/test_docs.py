"""The README cannot drift from the code: every setting and command is documented."""
import dataclasses

from click.testing import CliRunner

from workbench.cli import main
from workbench.settings import PROJECT_ROOT, Settings, env_name

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme():
    names = [f.name for f in dataclasses.fields(Settings) if f.name not in ("sources", "var_dir", "home")]
    missing = [env_name(n) for n in names if f"`{env_name(n)}`" not in README]
    assert missing == []
    assert "`WORKBENCH_VAR_DIR`" in README and "`WORKBENCH_HOME`" in README


def test_every_command_is_in_the_readme_and_has_help():
    for name, command in main.commands.items():
        assert command.help, name
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0
    for name in ("ingest", "preannotate", "push", "pull", "release", "status"):
        assert f"workbench {name}" in README


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    assert "./scripts/up" in README and "./scripts/test" in README
    assert "./scripts/test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_guidelines_name_every_label_of_the_scheme():
    import json
    scheme = json.loads((PROJECT_ROOT / "tasks" / "scheme.json").read_text(encoding="utf-8"))
    guidelines = (PROJECT_ROOT / "tasks" / "guidelines.md").read_text(encoding="utf-8")
    for entity in scheme["entities"]:
        assert f"| {entity['label']} |" in guidelines
    for label in scheme["stance"]["labels"]:
        assert f"| {label['label']} |" in guidelines


def test_readme_settings_table_is_generated_from_the_settings_table():
    """The README's table is exactly `workbench settings --markdown`: every setting, nothing else,
    the same defaults and help."""
    from workbench.settings import SETTINGS, markdown_table
    start = README.index("| variable | default | meaning |")
    table = README[start:README.index("\n\n", start) + 1]
    result = CliRunner().invoke(main, ["settings", "--markdown"])
    assert result.exit_code == 0
    assert table == result.output == markdown_table()
    assert [line.split("`")[1] for line in table.splitlines()[2:]] == [s.env for s in SETTINGS]
