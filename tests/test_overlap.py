"""`push --overlap K --overlap-share P` against the real Label Studio Community Edition, with several
real users (signed up through its own sign-up form) taking tasks from its label stream
(`/api/projects/<id>/next`), as annotators in the browser do."""
import uuid
from collections import Counter, defaultdict

import pytest
import requests
from click.testing import CliRunner
from conftest import gold_result
from sqlalchemy import select

from workbench import stats, workflow
from workbench.cli import main
from workbench.db import session_scope
from workbench.models import Annotation, LabelStudioTask

pytestmark = pytest.mark.label_studio


def signed_up(url: str, email: str) -> requests.Session:
    """A new Label Studio user, signed up as a person does; a session with their own API token."""
    browser = requests.Session()
    browser.get(f"{url}/user/signup/").raise_for_status()
    response = browser.post(f"{url}/user/signup/", headers={"Referer": f"{url}/user/signup/"},
                            data={"email": email, "password": "annotator-pw-1234",
                                  "csrfmiddlewaretoken": browser.cookies["csrftoken"]})
    response.raise_for_status()
    token = browser.get(f"{url}/api/current-user/token").json()["token"]
    user = requests.Session()
    user.headers["Authorization"] = f"Token {token}"
    user.user_id = user.get(f"{url}/api/current-user/whoami").json()["id"]
    return user


def work_the_label_stream(url: str, project_id: int, people: dict, gold_by_article: dict) -> list[tuple]:
    """Each person in turn asks Label Studio for their next task and submits it, until nobody gets one."""
    done, busy = [], True
    while busy:
        busy = False
        for name, person in people.items():
            response = person.get(f"{url}/api/projects/{project_id}/next")
            if response.status_code == 404:
                continue
            response.raise_for_status()
            task = response.json()
            person.post(f"{url}/api/tasks/{task['id']}/annotations",
                        json={"result": gold_result(gold_by_article[task["data"]["article_id"]]),
                              "lead_time": 20}).raise_for_status()
            done.append((name, task["id"]))
            busy = True
            assert len(done) < 50, "the label stream kept serving tasks"
    return done


def test_a_share_of_the_tasks_goes_to_k_different_annotators(ls_settings, sample_corpus, annotator, gold,
                                                            label_studio):
    workflow.ingest_paths(ls_settings, [sample_corpus])
    workflow.preannotate(ls_settings)
    report = workflow.push(ls_settings, overlap=2, overlap_share=0.6)
    assert report.overlap == {"maximum_annotations": 2, "overlap_cohort_percentage": 60}
    project = annotator.project(report.project_id)
    assert (project["maximum_annotations"], project["overlap_cohort_percentage"]) == (2, 60)
    overlap = {t["id"]: t["overlap"] for t in annotator.tasks(report.project_id)}
    assert sorted(overlap.values()) == [1, 1, 2, 2, 2]  # 60 % of 5 tasks, drawn by Label Studio

    url, tag = label_studio["url"], uuid.uuid4().hex[:8]
    lead = requests.Session()
    lead.headers["Authorization"] = f"Token {label_studio['token']}"
    people = {"lead": lead, "b": signed_up(url, f"b-{tag}@example.com"), "c": signed_up(url, f"c-{tag}@example.com")}
    done = work_the_label_stream(url, report.project_id, people, {g["id"]: g for g in gold})

    assert len(done) == sum(overlap.values()) == 8 and len(set(done)) == 8  # nobody got a task twice
    by_task = defaultdict(set)
    for name, task_id in done:
        by_task[task_id].add(name)
    assert {task_id: len(names) for task_id, names in by_task.items()} == overlap
    assert all(t["is_labeled"] for t in annotator.tasks(report.project_id))

    pulled = workflow.pull(ls_settings)
    assert pulled["accepted"] == 5 and pulled["mismatches"] == []
    with session_scope(ls_settings) as session:
        stored = session.execute(select(LabelStudioTask.ls_task_id, Annotation.annotator)
                                 .join(LabelStudioTask, Annotation.task_id == LabelStudioTask.id)).all()
    annotators_per_task = Counter(task_id for task_id, _ in set(stored))
    assert dict(annotators_per_task) == overlap

    # the lead's dashboard figures (GET /api/stats) from what the real server recorded
    shown = stats.collect(ls_settings, ("annotators", "agreement"))
    assert sorted(row["tasks"] for row in shown["annotators"]) == sorted(Counter(n for n, _ in done).values())
    assert {row["median_lead_time"] for row in shown["annotators"]} == {20.0}
    assert {row["mean_span_f1_with_others"] for row in shown["annotators"]} <= {None, 1.0}  # all gold
    assert shown["agreement"]["tasks_with_multiple_annotations"] == 3


def test_a_second_push_changes_the_overlap_and_the_option_needs_its_k(ls_settings, sample_corpus, annotator,
                                                                      settings_env, monkeypatch):
    workflow.ingest_paths(ls_settings, [sample_corpus])
    workflow.preannotate(ls_settings)
    first = workflow.push(ls_settings)
    assert first.overlap is None and annotator.project(first.project_id)["maximum_annotations"] == 1
    again = workflow.push(ls_settings, overlap=3)
    assert again.overlap == {"maximum_annotations": 3, "overlap_cohort_percentage": 100}
    assert {t["overlap"] for t in annotator.tasks(first.project_id)} == {3}

    result = CliRunner().invoke(main, ["push", "--overlap-share", "0.5"])
    assert result.exit_code == 2 and "--overlap-share needs --overlap K" in result.output
    result = CliRunner().invoke(main, ["push", "--overlap", "0"])
    assert result.exit_code == 2 and "--overlap" in result.output
