"""`workbench report vNNNN`: a release's correction effort and agreement as Markdown with PNG plots,
run through the CLI over the dashboard's database (tests/test_dashboard.py's build_state: v0001 from
tasks 101 and 102, v0002 adds 103). Every figure in the Markdown is checked against agreement.json,
stats.py and numbers worked out by hand; the release folders stay byte for byte as released."""
import hashlib
import json
import os
import re

import pytest
from click.testing import CliRunner
from conftest import API_TOKEN, make_settings
from PIL import Image
from sqlalchemy import select
from test_dashboard import LS_PROJECT_ID, LS_URL, TITLE, build_state

from workbench import stats
from workbench.cli import main
from workbench.datacard import report_link
from workbench.db import session_scope
from workbench.models import ArticleRevision, PreAnnotation
from workbench.settings import PROJECT_ROOT

PLOTS = ("corrections.png", "span_f1.png", "stance_alpha.png")


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    env = {"WORKBENCH_HOME": str(PROJECT_ROOT), "WORKBENCH_VAR_DIR": str(tmp / "var"),
           "WORKBENCH_DATABASE_URL": f"sqlite:///{tmp / 'workbench.db'}",
           "WORKBENCH_EXPORTS_DIR": str(tmp / "exports"), "WORKBENCH_API_TOKEN": API_TOKEN,
           "WORKBENCH_LABEL_STUDIO_URL": LS_URL, "WORKBENCH_PROJECT_TITLE": TITLE}
    settings = make_settings(tmp, label_studio_url=LS_URL, project_title=TITLE)
    build_state(settings)
    env.update({k: None for k in os.environ if k.startswith("WORKBENCH_") and k not in env})
    return settings, env


def run(env, *args):
    result = CliRunner().invoke(main, ["report", *args], env=env)
    assert "Traceback" not in result.output
    return result


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """Every Markdown table, by its header's first two cells ("model version/tasks"): rows of cells."""
    found = {}
    for block in re.findall(r"(?m)((?:^\|.*\|\n)+)", markdown):
        rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                for line in block.splitlines()]
        found["/".join(rows[0][:2])] = rows[2:]
    return found


def shown(value) -> str:
    return "—" if value is None else str(value)


def folder_digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_latest_report_shows_the_release_agreement_and_the_dashboard_correction_effort(state):
    settings, env = state
    released = {v: folder_digest(settings.exports_dir / v) for v in ("v0001", "v0002")}
    result = run(env, "latest")
    assert result.exit_code == 0, result.output
    path = settings.exports_dir / "reports" / "v0002" / "report.md"
    assert result.stdout.strip() == str(path)
    markdown = path.read_text(encoding="utf-8")
    assert markdown.startswith("# Correction effort and agreement — release v0002\n")
    found = tables(markdown)
    # v0002 holds every accepted annotation, so its figures are the dashboard's
    quality = stats.collect(settings, ("quality",))["quality"]
    assert found["model version/tasks"] == [
        [q["model_version"], str(q["tasks"]), *(str(q["corrections"][k]) for k in stats.CORRECTIONS),
         *(shown(q["overall"][k]) for k in ("precision", "recall", "f1"))] for q in quality]
    assert found["model version/tasks"][0][:7] == ["m1", "3", "4", "1", "1", "1", "4"]  # worked out in test_dashboard
    per_label = {(row[0], row[1]): row[2:5] for row in found["model version/label"]}
    assert per_label[("m1", "ORG")] == ["0.5", "0.5", "0.5"] and per_label[("m1", "LOC")] == ["0.0", "—", "0.0"]
    agreement = json.loads((settings.exports_dir / "v0002" / "agreement.json").read_text(encoding="utf-8"))
    assert f"{agreement['tasks_with_multiple_annotations']} task(s) had two or more annotations" in markdown
    assert found["annotator pair/label"] == [[pair, label, str(f1), str(scores["overlap"][label])]
                                       for pair, scores in agreement["span_f1"].items()
                                       for label, f1 in scores["exact"].items()]
    assert ["alice | bob", "ALL", "0.9231", "0.9231"] in found["annotator pair/label"]
    assert found["stance target/alpha"] == [[t, shown(a)] for t, a in agreement["stance_alpha"].items()]
    link = f"[open]({LS_URL}/projects/{LS_PROJECT_ID}/data?task=102)"
    assert found["task/article"] == [[str(t["task_id"]), t["article_id"], str(t["min_exact_f1"]),
                              ", ".join(t["stance_disagreement"]), ", ".join(map(str, t["annotation_ids"])), link]
                             for t in agreement["low_agreement_tasks"]]
    assert {v: folder_digest(settings.exports_dir / v) for v in ("v0001", "v0002")} == released


def test_an_older_release_counts_only_its_own_records_and_the_models_they_saw(state):
    settings, env = state
    with session_scope(settings) as session:  # a model that predicts a1 after v0001 was released
        revision = session.scalars(select(ArticleRevision).where(ArticleRevision.article_id == "a1")).one()
        session.add(PreAnnotation(revision_id=revision.id, model_version="m3-later", stance={}, score=0.5, entities=[]))
    try:
        assert run(env, "v0001").exit_code == 0
        found = tables((settings.exports_dir / "reports" / "v0001" / "report.md").read_text(encoding="utf-8"))
        # bob's a1 and a2 against m1: بوتين, زيلينسكي, بايدن kept; روسيا relabelled; واشنطن moved;
        # الحرب deleted; أوكرانيا and البيت الأبيض added. m2 predicted a1 exactly.
        assert [row[:7] for row in found["model version/tasks"]] == [["m1", "2", "3", "1", "1", "1", "2"],
                                                                ["m2", "1", "3", "0", "0", "0", "0"]]
        assert "m3-later" in {q["model_version"] for q in stats.collect(settings, ("quality",))["quality"]}
    finally:
        with session_scope(settings) as session:
            later = select(PreAnnotation).where(PreAnnotation.model_version == "m3-later")
            session.delete(session.scalars(later).one())


def test_plots_are_png_files_the_report_shows(state):
    settings, env = state
    assert run(env, "v0002").exit_code == 0
    folder = settings.exports_dir / "reports" / "v0002"
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    for name in PLOTS:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(folder / name) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 200
        assert f"]({name})" in markdown


def test_the_data_card_links_the_report(state):
    settings, env = state
    card = (settings.exports_dir / "v0002" / "README.md").read_text(encoding="utf-8")
    link = report_link("v0002")
    assert link == "../reports/v0002/report.md"
    assert f"[{link}]({link})" in card and "`workbench report v0002`" in card
    assert run(env, "v0002").exit_code == 0
    assert (settings.exports_dir / "v0002" / link).resolve() == (settings.exports_dir / "reports" / "v0002" /
                                                                 "report.md").resolve()
    manifest = json.loads((settings.exports_dir / "v0002" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["README.md"]["sha256"] == hashlib.sha256(card.encode("utf-8")).hexdigest()


def test_rerunning_replaces_only_the_report_files(state, tmp_path):
    settings, env = state
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("kept", encoding="utf-8")
    (out / "report.md").write_text("stale", encoding="utf-8")
    for _ in range(2):
        result = run(env, "v0001", "--out", str(out))
        assert result.exit_code == 0 and result.stdout.strip() == str(out / "report.md")
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", "report.md", *PLOTS])
    assert (out / "notes.txt").read_text(encoding="utf-8") == "kept"
    title = (out / "report.md").read_text(encoding="utf-8").splitlines()[0]
    assert title == "# Correction effort and agreement — release v0001"


def test_unknown_or_bad_versions_and_an_out_inside_a_release_are_one_line_errors(state):
    settings, env = state
    released = folder_digest(settings.exports_dir / "v0001")
    for args, message in ((["v0042"], "release v0042 does not exist"),
                          (["yesterday"], "version must look like v0001 or be 'latest'"),
                          (["v0001", "--out", str(settings.exports_dir / "v0001" / "report")],
                           "which never changes")):
        result = run(env, *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert folder_digest(settings.exports_dir / "v0001") == released
