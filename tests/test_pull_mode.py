from datetime import datetime, timedelta, timezone

from workbench.annotations import OVERLAP, pull_mode
from workbench.db import session_scope
from workbench.models import LabelStudioProject, PullRun


def project_with_runs(session, *runs):
    project = LabelStudioProject(ls_url="http://ls", ls_project_id=1, title="t", config_sha256="x")
    session.add(project)
    session.flush()
    for mode, hours_ago, watermark in runs:
        session.add(PullRun(project_id=project.id, mode=mode, watermark=watermark,
                            started_at=datetime.now(timezone.utc) - timedelta(hours=hours_ago)))
    session.flush()
    return project


def test_first_pull_is_full(settings):
    with session_scope(settings) as session:
        assert pull_mode(session, project_with_runs(session), False, 24) == ("full", None)


def test_later_pulls_are_incremental_from_the_last_start_minus_the_overlap(settings):
    with session_scope(settings) as session:
        project = project_with_runs(session, ("full", 2, "2026-11-23T10:00:00.000000Z"),
                                    ("incremental", 1, "2026-11-23T11:00:00.000000Z"))
        mode, since = pull_mode(session, project, False, 24)
    expected = datetime(2026, 11, 23, 11) - OVERLAP
    assert (mode, since) == ("incremental", expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def test_full_pull_when_asked_or_when_the_last_full_one_is_too_old(settings):
    with session_scope(settings) as session:
        project = project_with_runs(session, ("full", 30, "2026-11-22T10:00:00.000000Z"),
                                    ("incremental", 1, "2026-11-23T11:00:00.000000Z"))
        assert pull_mode(session, project, False, 24)[0] == "full"
        assert pull_mode(session, project, False, 48)[0] == "incremental"
        assert pull_mode(session, project, True, 48)[0] == "full"


def test_webhook_pulls_do_not_move_the_watermark(settings):
    with session_scope(settings) as session:
        project = project_with_runs(session, ("full", 1, "2026-11-23T11:00:00.000000Z"), ("tasks", 0, None))
        assert pull_mode(session, project, False, 24)[1].startswith("2026-11-23T10:59:58")
