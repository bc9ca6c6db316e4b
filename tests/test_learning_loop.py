"""The loop, closed, against the real Label Studio: annotators work to a convention that contradicts a
shipped rule (they never mark government bodies such as الحكومة المصرية, which the institution rule
labels ORG), the bridge pulls and releases, retrain learns a bundle, it is promoted, and push puts
its predictions in front of the annotators: a new article's predictions follow the team's convention,
tasks already annotated keep the predictions their annotators saw, and Label Studio serves the
waiting tasks least-confident first."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import gold_result
from sqlalchemy import select
from test_faults import env_of

from workbench import workflow
from workbench.bundles import bundle_preannotator
from workbench.cli import main as cli
from workbench.db import session_scope
from workbench.models import ArticleRevision, PreAnnotation
from workbench.preannotation.loading import default_preannotator
from workbench.releases import split_of

pytestmark = pytest.mark.label_studio

TARGETS = ("أوكرانيا", "روسيا")
COUNTRIES = ("المصرية", "الأردنية", "الفرنسية", "الألمانية", "التركية", "اللبنانية", "العراقية", "التونسية")
CONTRADICTED = "institution-rule"
WANTED = {"train": 36, "dev": 8, "test": 8}  # annotated articles per split
WAITING = 6  # articles nobody annotates


def article_ids() -> list[str]:
    """Ids giving the wanted number of annotated articles per split (splits come from the id's hash),
    then WAITING more."""
    taken, ids, n = dict.fromkeys(WANTED, 0), [], 0
    while sum(taken.values()) < sum(WANTED.values()):
        candidate, n = f"loop{n:04d}", n + 1
        split = split_of(candidate)
        if taken[split] < WANTED[split]:
            taken[split] += 1
            ids.append(candidate)
    return ids + [f"wait{i:02d}" for i in range(WAITING)]


def write_articles(folder, paragraphs) -> dict[str, str]:
    folder.mkdir()
    texts = {}
    for i, article_id in enumerate(article_ids()):
        first, second = paragraphs[i % len(paragraphs)], paragraphs[(i * 7 + 3) % len(paragraphs)]
        a, b = COUNTRIES[i % len(COUNTRIES)], COUNTRIES[(i + 3) % len(COUNTRIES)]
        text = (f"{first}\n\nوقالت الحكومة {a} في بيان إن المحادثات ستستمر، وأكدت الحكومة {b} ذلك "
                f"في اليوم {i} من الشهر.\n\n{second}")
        (folder / f"{article_id}.txt").write_text(text, encoding="utf-8")
        texts[article_id] = text
    return texts


def team_annotation(engine, text) -> dict:
    """What the team submits: the engine's spans but those of the contradicted rule, its stance."""
    (doc, spans), = engine.spans_many([text])
    prediction = engine.annotate(text)
    entities = [{"start": s.start, "end": s.end, "label": s.label, "text": text[s.start:s.end]}
                for s in spans if s.source != CONTRADICTED]
    stance = {t: (prediction.stance.get(t) or {}).get("label", "NONE") for t in TARGETS}
    return {"entities": entities, "stance": stance}


def run_cli(settings, monkeypatch, *args) -> str:
    for key, value in env_of(settings).items():
        if key.startswith("WORKBENCH_"):
            monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def institution_orgs(entities, text) -> list[str]:
    return [text[e["start"]:e["end"]] for e in entities if e["label"] == "ORG" and "الحكومة" in text[e["start"]:e["end"]]]


def test_a_promoted_bundle_follows_the_teams_convention(ls_settings, tmp_path, annotator, monkeypatch):
    from workbench.settings import PROJECT_ROOT
    paragraphs = [p for path in sorted((PROJECT_ROOT / "tasks" / "corpus").glob("*.txt"))
                  for p in path.read_text(encoding="utf-8").split("\n") if len(p) > 80]
    texts = write_articles(tmp_path / "articles", paragraphs)
    workflow.ingest_paths(ls_settings, [tmp_path / "articles"])
    workflow.preannotate(ls_settings)
    first_push = workflow.push(ls_settings)
    shipped = default_preannotator(list(TARGETS))
    assert all(institution_orgs(shipped.annotate(t).entities, t) for t in texts.values())  # the rule fires

    tasks = {t["data"]["article_id"]: t for t in annotator.tasks(first_push.project_id)}
    for article_id, text in texts.items():
        if not article_id.startswith("wait"):
            annotator.annotate(tasks[article_id]["id"], gold_result(team_annotation(shipped, text)))
    assert workflow.pull(ls_settings)["accepted"] == sum(WANTED.values())
    version, manifest = workflow.release(ls_settings)
    assert manifest["stats"]["splits"] == WANTED

    out = run_cli(ls_settings, monkeypatch, "retrain", "--release", version, "--iterations", "40")
    bundle_dir = out.strip().splitlines()[-1]
    model = json.loads((Path(bundle_dir) / "model.json").read_text(encoding="utf-8"))
    switched_off = {(r["source"], r["label"]) for r in model["ledger"]["sources"] if r["action"] == "off"}
    assert (CONTRADICTED, "ORG") in switched_off
    assert model["evaluation"]["documents"] == WANTED["test"]  # both models scored on the held-out split
    assert model["evaluation"]["current"]["bundle"] == "shipped default"
    run_cli(ls_settings, monkeypatch, "models", "promote", bundle_dir)
    version_shown = bundle_preannotator(Path(bundle_dir), list(TARGETS)).model_version

    new_text = "وقالت الحكومة المصرية إن الحكومة الأردنية ستشارك في المحادثات مع روسيا وأوكرانيا."
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "fresh.txt").write_text(new_text, encoding="utf-8")
    workflow.ingest_paths(ls_settings, [tmp_path / "new"])
    workflow.preannotate(ls_settings)
    with session_scope(ls_settings) as session:
        fresh = session.scalars(select(PreAnnotation).join(ArticleRevision).where(
            PreAnnotation.model_version == version_shown, ArticleRevision.article_id == "fresh")).one()
        assert institution_orgs(fresh.entities, new_text) == []  # the team's convention, not the rule's
        assert {e["text"] for e in fresh.entities} >= {"روسيا", "أوكرانيا"}  # and the rest still comes

    second_push = workflow.push(ls_settings)
    assert second_push.imported == 1
    assert second_push.predictions_added == WAITING
    assert second_push.predictions_not_added_annotated == sum(WANTED.values())
    after = {t["data"]["article_id"]: t for t in annotator.tasks(first_push.project_id)}
    for article_id, task in after.items():
        versions = sorted(p["model_version"] for p in task["predictions"])
        if article_id.startswith("loop"):  # annotated: only what its annotator saw
            assert versions == [first_push_version(tasks[article_id])]
        else:
            assert version_shown in versions
    project = annotator.project(first_push.project_id)
    assert project["model_version"] == version_shown
    assert project["sampling"] == "Uncertainty sampling"
    served = annotator.session.get(f"{annotator.url}/api/projects/{first_push.project_id}/next").json()
    waiting = {a: t for a, t in after.items() if not a.startswith("loop")}
    scores = {a: next(p["score"] for p in t["predictions"] if p["model_version"] == version_shown)
              for a, t in waiting.items()}
    assert served["data"]["article_id"] == min(scores, key=scores.get)


def first_push_version(task) -> str:
    (prediction,) = task["predictions"]
    return prediction["model_version"]
