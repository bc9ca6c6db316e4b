"""The `workbench` command: one subcommand per stage, each a thin call into workflow.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import stack, workflow
from .errors import WorkbenchError
from .settings import load_settings


class WorkbenchGroup(click.Group):
    """Turns every WorkbenchError into a one-line message (plus details) and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.errors and isinstance(exc.errors, dict):
                click.echo(f"  details: {json.dumps(exc.errors, ensure_ascii=False, default=str)}", err=True)
            ctx.exit(1)


def progress(label: str):
    def wrap(items):
        items = list(items)
        with click.progressbar(items, label=label, file=sys.stderr, show_pos=True) as bar:
            yield from bar
    return wrap


def echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(cls=WorkbenchGroup)
def main():
    """Arabic News Annotation Workbench: article -> pre-annotation -> Label Studio task ->
    annotation -> review -> training-set version -> feed.

    Settings come from WORKBENCH_* environment variables, then workbench.toml, then the
    local stack that `workbench up` writes to var/stack.json."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(paths, as_json):
    """Ingest .txt files, .jsonl files and folders of them.

    A .txt file's full content is the task text, exactly as read; its name without .txt is the
    article id, and a short first line is also kept as the title. A .jsonl line is
    {id?, title?, text, source?, published?, url?}. Identical articles change nothing; a changed
    text under the same id becomes a new revision. Bad files and lines are reported (exit
    status 1) and the valid rest is still stored."""
    report = workflow.ingest_paths(load_settings(), list(paths), progress("ingesting"))
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(f"new: {len(report.new)}, revised: {len(report.revised)}, unchanged: {len(report.unchanged)}, "
                   f"errors: {len(report.errors)}")
        for error in report.errors:
            click.echo(f"error: {error['where']}: {error['message']}", err=True)
    if report.errors:
        sys.exit(1)


@main.command()
def preannotate():
    """Pre-annotate every current article revision not yet done by the default pre-annotator."""
    report = workflow.preannotate(load_settings(), progress("pre-annotating"))
    click.echo(f"{report.model_version}: annotated {len(report.annotated)} article(s) "
               f"({report.entities} entities), {report.already_done} already done")


@main.command()
def push():
    """Create or reuse the Label Studio project and import new tasks with predictions.

    Idempotent: tasks already in the project (by the bridge's task map, reconciled with the
    tasks' wb_key) are not imported again. Prints the project id last."""
    report = workflow.push(load_settings(), progress("pushing"))
    click.echo(f"{'created' if report.created_project else 'reused'} project {report.project_id}: "
               f"imported {report.imported} task(s), {report.already_present} already present, "
               f"{report.recovered} recovered into the task map, {report.predictions_added} prediction(s) added")
    click.echo(f"project url: {report.project_url}")
    click.echo(report.project_id)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def pull(as_json):
    """Fetch annotations from Label Studio, store them raw and parsed, and review them.

    Every span is checked against the task text; mismatches are listed. WORKBENCH_REVIEW_POLICY
    (submitted or ground_truth) decides which annotations are accepted."""
    report = workflow.pull(load_settings(), progress("pulling"))
    if as_json:
        echo_json(report)
        return
    click.echo(f"tasks: {report['tasks_seen']}, new annotation versions: {report['new_snapshots']}, "
               f"deleted: {report['deleted']}")
    for m in report["mismatches"]:
        click.echo(f"mismatch: task {m['task_id']} annotation {m['annotation_id']}: {m['problem']}", err=True)
    click.echo(f"review policy {report['review_policy']}: {report['accepted']} accepted, "
               f"{report['waiting']} waiting")
    for reason, count in report["waiting_reasons"].items():
        click.echo(f"  waiting ({count}): {reason}")


@main.command()
def release():
    """Write the accepted annotations as the next immutable version exports/vNNNN/.

    The version name is the last line printed."""
    version, manifest = workflow.release(load_settings())
    click.echo(f"released {manifest['files']['examples.jsonl']['records']} example(s), "
               f"sha256 {manifest['files']['examples.jsonl']['sha256']}")
    click.echo(version)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print counts as JSON.")
def status(as_json):
    """Counts per stage, the latest release, and the Label Studio URL and project id."""
    data = workflow.status(load_settings())
    if as_json:
        echo_json(data)
        return
    for name, value in data["counts"].items():
        click.echo(f"{name:>13}: {value}")
    click.echo(f"latest release: {data['latest_release'] or '-'}")
    ls = data["label_studio"]
    click.echo(f"label studio: {ls['url'] or '-'} project {ls['project_id'] or '-'}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=click.IntRange(1, 65535))
def serve(host, port):
    """Run the bridge's HTTP API (needs WORKBENCH_API_TOKEN)."""
    from werkzeug.serving import run_simple

    from .app import create_app
    run_simple(host, port, create_app(load_settings()), threaded=True)


@main.command()
def up():
    """Start the local stack and load the sample articles: Label Studio (loopback, SQLite, data in
    var/label-studio), the bridge, then ingest tasks/corpus, pre-annotate and push.

    Running it again reuses what runs and duplicates nothing. Prints the URLs and the login."""
    settings = load_settings()
    info = stack.up(settings, click.echo)
    click.echo("")
    click.echo(f"Label Studio: {info['project_url']}")
    click.echo(f"  login: {info['username']}  password: {info['password']}")
    click.echo(f"Bridge: {info['bridge_url']}  (API token: {info['api_token']})")
    click.echo("Credentials are kept in var/stack.json. Stop everything with ./scripts/down")


@main.command()
def down():
    """Stop the Label Studio and bridge processes that `workbench up` started (by their PIDs)."""
    for name, stopped in stack.down(load_settings()).items():
        click.echo(f"{name}: {'stopped' if stopped else 'was not running'}")
