"""The `workbench` command: one subcommand per stage, each a thin call into workflow.py."""
from __future__ import annotations

import json
import os
import sys
import time
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
    """A progress bar over the items: position, rate per second and ETA."""
    def wrap(items):
        items = list(items)
        began = time.monotonic()

        def rate(_item):
            elapsed = time.monotonic() - began
            return f"{bar.pos / elapsed:,.1f}/s" if bar.pos and elapsed > 0 else None
        with click.progressbar(items, label=label, file=sys.stderr, show_pos=True, show_eta=True,
                               item_show_func=rate) as bar:
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


def _workers(_ctx, _param, value):
    if value is None or value == "all":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise click.BadParameter(f"{value!r} is not a number of workers (1 or more, or 'all')")
    return number


@main.command()
@click.option("--workers", callback=_workers, metavar="N|all",
              help="Annotate on Dask: a local cluster of N worker processes ('all': one per core), or the "
                   "workers of the cluster WORKBENCH_DASK_SCHEDULER names.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Annotate on the workers of this existing Dask scheduler (overrides WORKBENCH_DASK_SCHEDULER).")
def preannotate(workers, scheduler):
    """Pre-annotate every current article revision not yet done by the configured pre-annotator.

    The model bundle WORKBENCH_MODEL names, else the bundle promoted in the database (`workbench
    models`), else the files named by WORKBENCH_NER_MODEL, WORKBENCH_STANCE_MODEL and
    WORKBENCH_LEXICON, else the default engine (name lists, rules, the shipped CRF tagger, lexicon
    stance); each combination has its own model_version, so results are stored side by side.
    Results are committed every 500 articles: an interrupted run keeps them and a rerun does only
    the rest. With --workers or --scheduler the texts are annotated on Dask (the pre-annotator is
    sent to every worker, which needs this package installed); what is stored is the same."""
    local = (os.cpu_count() or 1) if workers == "all" else workers
    report = workflow.preannotate(load_settings(), progress("pre-annotating"), workers=local, scheduler=scheduler)
    click.echo(f"{report.model_version}: annotated {len(report.annotated)} article(s) "
               f"({report.entities} entities), {report.already_done} already done")


@main.command()
@click.option("--least-confident-first", is_flag=True,
              help="Import the tasks whose predictions scored lowest first, so they are labelled first.")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 5000),
              help="Tasks per Label Studio import request.")
@click.option("--queue-order", type=click.Choice(["least-confident", "sequential", "keep"]),
              default="least-confident", show_default=True,
              help="How Label Studio serves waiting tasks to annotators: the lowest-scored prediction of the "
                   "newest model first (Label Studio's uncertainty sampling), import order, or leave the "
                   "project's setting alone.")
@click.option("--limit", type=click.IntRange(1), metavar="N",
              help="Import at most N new tasks (the first N in import order, or the least confident with "
                   "--least-confident-first); the rest wait for a later push.")
@click.option("--overlap", type=click.IntRange(1, 20), metavar="K",
              help="Put a share of the tasks in front of K different annotators (Label Studio's own overlap: "
                   "its label stream serves such a task to K people before it counts as labelled).")
@click.option("--overlap-share", type=click.FloatRange(0.01, 1.0), metavar="P",
              help="The share of the project's tasks that get the overlap (default 1.0: all); Label Studio "
                   "draws them again at every import. Needs --overlap.")
def push(least_confident_first, batch_size, queue_order, limit, overlap, overlap_share):
    """Create or reuse the Label Studio project and import new tasks with predictions.

    Idempotent and resumable: tasks already in the project (by the bridge's task map, reconciled
    with the tasks' wb_key) are not imported again, so a push cut off half-way can simply be run
    again. A new pre-annotator version adds its predictions to the existing tasks. With
    WORKBENCH_BRIDGE_URL and WORKBENCH_WEBHOOK_SECRET set, the bridge's webhook is registered
    on the project. Prints the project id last.

    Predictions of a new pre-annotator version (after `workbench models promote`, say) are added only
    to tasks nobody has annotated or skipped yet; annotated tasks keep the predictions their annotators
    saw. Only one push of a project runs at a time: a second one stops with a message naming the first."""
    if overlap_share is not None and overlap is None:
        raise click.UsageError("--overlap-share needs --overlap K (how many annotators those tasks get)")
    report = workflow.push(load_settings(), progress("pushing"), least_confident_first, batch_size,
                           None if queue_order == "keep" else queue_order, limit, overlap,
                           1.0 if overlap_share is None else overlap_share)
    click.echo(f"{'created' if report.created_project else 'reused'} project {report.project_id}: "
               f"imported {report.imported} task(s), {report.already_present} already present, "
               f"{report.recovered} recovered into the task map, {report.predictions_added} prediction(s) added")
    if report.overlap:
        click.echo(f"overlap: {report.overlap['overlap_cohort_percentage']} % of the tasks go to "
                   f"{report.overlap['maximum_annotations']} different annotators")
    if report.held_back:
        click.echo(f"{report.held_back} new task(s) held back by --limit")
    if report.predictions_not_added_annotated:
        click.echo(f"{report.predictions_not_added_annotated} annotated task(s) keep their predictions "
                   "(no new prediction added)")
    for dup in report.duplicates:
        click.echo(f"warning: Label Studio task {dup['task_id']} duplicates task {dup['mapped_task_id']} "
                   f"({dup['wb_key']}); delete one of them in Label Studio", err=True)
    click.echo(f"project url: {report.project_url}")
    click.echo(report.project_id)


@main.command()
@click.option("--full", is_flag=True, help="Read every annotated task (and each task whose stored annotations are gone), not only those "
                   "updated since the last pull.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def pull(full, as_json):
    """Fetch annotations from Label Studio, store them raw and parsed, and review them.

    Incremental: only tasks Label Studio updated since the last pull are read; a full pull runs
    the first time, with --full, and when the last full one is older than
    WORKBENCH_FULL_PULL_HOURS. Every span is checked against the task text; mismatches are
    listed with task and annotation ids. WORKBENCH_REVIEW_POLICY (submitted, ground_truth,
    accept_choice, review_status or agreement:K) decides which annotations are accepted; the
    others wait, and the reasons are printed."""
    report = workflow.pull(load_settings(), progress("pulling"), full=full)
    if as_json:
        echo_json(report)
        return
    click.echo(f"{report['mode']} pull: tasks read: {report['tasks_seen']}, "
               f"new annotation versions: {report['new_snapshots']}, "
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

    examples.jsonl (the version's identity), records.jsonl (per-record hashes and lineage),
    examples.conll, examples.parquet, agreement.json, labels.svg, a data card README.md and
    manifest.json; written to a temporary folder and renamed, never overwritten. Uses the
    annotations accepted under WORKBENCH_REVIEW_POLICY as of the last pull. The version name is
    the last line printed."""
    version, manifest = workflow.release(load_settings())
    click.echo(f"released {manifest['files']['examples.jsonl']['records']} example(s), "
               f"sha256 {manifest['files']['examples.jsonl']['sha256']}, splits {manifest['stats']['splits']}")
    low = manifest["agreement_summary"].get("tasks_with_multiple_annotations")
    if low:
        click.echo(f"agreement: {low} task(s) with several annotations; see agreement.json and README.md")
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


@main.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.option("--markdown", is_flag=True, help="Print the README's settings table (defaults, not values).")
def settings_command(as_json, markdown):
    """Each setting's effective value and where it came from (tokens and secrets masked)."""
    from .settings import describe, markdown_table
    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    rows = describe(load_settings())
    if as_json:
        echo_json(rows)
        return
    width = max(len(row["variable"]) for row in rows)
    for row in rows:
        value = "-" if row["value"] is None else row["value"]
        click.echo(f"{row['variable']:<{width}}  {value}  ({row['source']})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 64),
              help="gunicorn worker processes; 0 runs werkzeug's single-process server (debugging).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker process.")
def serve(host, port, workers, threads):
    """Run the bridge's HTTP API (needs WORKBENCH_API_TOKEN) under gunicorn.

    Every worker process also runs queued jobs (webhook pulls) from the database's jobs table, so a
    queued pull is run once, by whichever process is free, and survives a restart."""
    from .web.serve import serve as serve_bridge
    serve_bridge(load_settings(), host, port, workers=workers, threads=threads)


@main.group(cls=WorkbenchGroup)
def jobs():
    """The background jobs queued in the database (today: pulls queued by Label Studio's webhooks)."""


@jobs.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
def jobs_list(limit, as_json):
    """The newest jobs: id, kind, status, attempts, worker, error."""
    from . import jobs as job_table
    rows = job_table.list_jobs(load_settings().database_url, limit=limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:>6}  {row['kind']:<6} {row['status']:<8} attempts {row['attempts']}  "
                   f"{row['worker'] or '-'}  {row['error'] or ''}".rstrip())


@jobs.command("run")
def jobs_run():
    """Run the queued jobs in this process until none is left (the bridge's workers do this on their own)."""
    from . import jobs as job_table
    click.echo(f"ran {job_table.run_pending(load_settings())} job(s)")


@main.command()
@click.option("--postgres", "postgres_url", metavar="URL",
              help="run Label Studio and the bridge on PostgreSQL (postgresql://user:password@host:port/db): the "
                   "bridge in db, Label Studio in db_labelstudio, created if missing; recorded in var/stack.json")
def up(postgres_url):
    """Start the local stack and load the sample articles: Label Studio (loopback, SQLite, data in
    var/label-studio; or PostgreSQL with --postgres), the bridge (gunicorn, 2 workers), then ingest
    tasks/corpus, pre-annotate and push.

    Running it again reuses what runs and duplicates nothing; a stack keeps the database it was
    first started on. Prints the URLs and the login."""
    settings = load_settings()
    info = stack.up(settings, click.echo, postgres_url)
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


@main.command()
@click.argument("version")
def verify(version):
    """Recompute every hash of a released version (VERSION like v0003 or latest) against its
    manifest; exit status 1 naming each file that does not match."""
    report = workflow.verify_release(load_settings(), version)
    click.echo(f"ok {report['version']}: {report['files']} files, {report['records']} records match the manifest")


@main.command()
@click.argument("version_a")
@click.argument("version_b")
@click.option("--json", "as_json", is_flag=True, help="Print the full diff (every id) as JSON.")
def diff(version_a, version_b, as_json):
    """Examples added, removed and changed from VERSION_A to VERSION_B, and label-count deltas."""
    report = workflow.diff_releases(load_settings(), version_a, version_b)
    if as_json:
        echo_json(report)
        return
    click.echo(f"{report['from']} -> {report['to']}: {len(report['added'])} added, {len(report['removed'])} "
               f"removed, {len(report['changed'])} changed, {report['unchanged']} unchanged")
    for kind in ("added", "removed", "changed"):
        for id_ in report[kind][:20]:
            click.echo(f"  {kind}: {id_}")
        if len(report[kind]) > 20:
            click.echo(f"  ... {len(report[kind]) - 20} more {kind} (use --json)")
    click.echo(f"entity labels: {json.dumps(report['entity_label_delta'], ensure_ascii=False)}")
    click.echo(f"stance: {json.dumps(report['stance_delta'], ensure_ascii=False)}")


@main.command()
@click.argument("version")
@click.option("--out", type=click.Path(path_type=Path), metavar="DIR",
              help="Write report.md and its plots here instead of exports/reports/VERSION/ (the data card's link).")
def report(version, out):
    """A release's correction effort per pre-annotation model version and its agreement (span F1 per
    label and annotator pair, Krippendorff's alpha per stance target, low-agreement tasks) as Markdown
    with PNG plots (VERSION like v0003 or latest). The version folder is never touched; running it
    again replaces the report. Prints the report's path."""
    from .report import write_report
    click.echo(write_report(load_settings(), version, out))


# --- pre-annotation models: evaluation and training ---------------------------------------

@main.command("eval")
@click.option("--gold", required=True, type=click.Path(path_type=Path), help="Gold file (JSONL or CoNLL BIO).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "conll"]), default="jsonl", show_default=True)
@click.option("--map", "label_map", default=None,
              help="Label map applied to gold and predictions, e.g. PERS=PER,LOC=GPE,ORG=ORG; other labels ignored.")
@click.option("--ner-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Score this CRF model (from `workbench train ner`) instead of the shipped one.")
@click.option("--stance-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Score this stance classifier (from `workbench train stance`) instead of the lexicon baseline.")
@click.option("--lexicon", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Add this learned name list (from `workbench train lexicon`) to the shipped ones.")
@click.option("--model", "bundle", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Score this model bundle directory (from `workbench retrain`); its files are checked first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_command(gold, fmt, label_map, ner_model, stance_model, lexicon, bundle, as_json):
    """Score a pre-annotator against gold: span precision/recall/F1 per label and micro (exact
    and partial match), and stance accuracy and macro-F1 over FAVOR/AGAINST.

    The default engine unless a bundle (--model) or model files are given as options;
    WORKBENCH_MODEL, WORKBENCH_NER_MODEL, the promoted bundle and the other settings are not read,
    so a score always says which files produced it (the report names the model version)."""
    from . import evaluation
    from .preannotation.conll import parse_label_map
    mapping = parse_label_map(label_map)
    docs = evaluation.load_gold(gold, fmt, mapping)
    targets = sorted({target for doc in docs for target in doc.stance})
    if bundle is not None and (ner_model or stance_model or lexicon):
        from .errors import InputError
        raise InputError("--model is a whole bundle: give it without --ner-model, --stance-model or --lexicon",
                         errors={"--model": str(bundle)})
    engine = (bundle_from_option(bundle, targets) if bundle is not None
              else preannotator_from_options(targets, ner_model, stance_model, lexicon))
    report = {"model_version": engine.model_version,
              **evaluation.evaluate(docs, evaluation.predict(docs, engine, mapping, progress("annotating")))}
    click.echo(json.dumps(report, ensure_ascii=False) if as_json else evaluation.format_report(report))


def preannotator_from_options(targets, ner_model, stance_model, lexicon):
    """default_preannotator with the files named on the command line; one that does not load is
    an input error naming its option."""
    from .errors import InputError
    from .preannotation.loading import ModelFileError, default_preannotator
    try:
        return default_preannotator(targets, ner_model=ner_model, stance_model=stance_model, lexicon=lexicon)
    except ModelFileError as exc:
        option = "--" + exc.part.replace("_", "-")
        raise InputError(f"{option}: cannot load {exc.path}: {exc.cause}", errors={option: str(exc.path)}) from exc


def bundle_from_option(bundle: Path, targets):
    """The engine of a bundle directory given as --model; one that does not check out or load is
    an input error naming the file."""
    from .bundles import bundle_preannotator
    from .errors import InputError
    from .preannotation.loading import ModelFileError
    try:
        return bundle_preannotator(bundle, targets)
    except ModelFileError as exc:
        raise InputError(f"--model: cannot load {exc.path}: {exc.cause}", errors={"--model": str(exc.path)}) from exc


@main.group(cls=WorkbenchGroup)
def train():
    """Train the pre-annotation models from data the project has."""


@train.command("ner")
@click.option("--anercorp", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="ANERcorp-format CoNLL (PERS→PER, ORG, LOC→GPE; MISC ignored).")
@click.option("--wojood", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="Wojood-format CoNLL (PERS→PER, ORG, GPE, LOC; first tag column; other types ignored).")
@click.option("--conll", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="CoNLL already in the scheme's labels (a release's examples.conll: every label it uses).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Model file [default: var/models/train-ner-<UTC time>/ner-crf.crfsuite; never the shipped one].")
@click.option("--iterations", type=click.IntRange(1, 10000), default=300, show_default=True)
@click.option("--skip-bad-lines", is_flag=True, help="Report malformed tags and read them as O instead of stopping.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Score calibration to store with the model (JSON from benchmarks/anercorp_cv.py --calibration-out).")
def train_ner(anercorp, wojood, conll, out, iterations, skip_bad_lines, calibration):
    """Train the CRF entity tagger; writes the model file, its .json summary and its
    .names.json name-likeness scorer (a model is only used with the scorer next to it). Use it
    with WORKBENCH_NER_MODEL or `eval --ner-model`; `workbench retrain` trains a whole bundle from
    a release. The shipped model is never written."""
    from .errors import InputError
    from .preannotation.base import ENTITY_LABELS
    from .preannotation.conll import read_conll
    from .preannotation.ner_training import (ANERCORP_MAP, WOJOOD_MAP, read_calibration_file, train_crf,
                                             write_model_info)
    on_bad = (lambda message: click.echo(f"warning: {message} (read as O)", err=True)) if skip_bad_lines else None
    sources = ([(p, ANERCORP_MAP) for p in anercorp] + [(p, WOJOOD_MAP) for p in wojood]
               + [(p, {label: label for label in ENTITY_LABELS}) for p in conll])
    if not sources:
        raise InputError("give training data: --anercorp, --wojood or --conll")
    out = trained_model_path(out)
    sentences = [s for path, mapping in sources for s in read_conll(path, mapping, on_bad)]
    click.echo(f"training on {len(sentences)} sentences from {len(sources)} file(s)", err=True)
    info = train_crf(sentences, out, lambda n, loss: click.echo(f"  iteration {n}/{iterations} loss {loss:.1f}",
                                                                  err=True), iterations)
    info["data"] = [f"{path.parent.name}/{path.name}" for path, _ in sources]
    if calibration:
        info["calibration"] = read_calibration_file(calibration)
    write_model_info(out, info)
    click.echo(f"wrote {out} ({info['bytes']} bytes, {info['tokens']} tokens, {info['entities']} entities)")


def trained_model_path(out: Path | None) -> Path:
    """Where `train ner` writes: --out, or a new folder under var/models; never into the package's
    shipped models."""
    from datetime import datetime, timezone

    from .errors import InputError
    from .preannotation.crf import MODELS_DIR
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        return load_settings().var_dir / "models" / f"train-ner-{stamp}" / "ner-crf.crfsuite"
    if Path(out).resolve().parent == MODELS_DIR.resolve():
        raise InputError(f"--out {out}: the shipped models are never overwritten; write the model elsewhere",
                         errors={"--out": str(out)})
    return Path(out)


@train.command("stance")
@click.option("--data", "data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Mawqif-format CSV (text,target,stance) or a release's examples.jsonl.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Where to write the model (pickle).")
def train_stance(data, out):
    """Train the stacked stance classifier: linear models over character, word and stemmed-word
    n-grams (one per target with at least 100 examples, one shared), plus sentiment models when
    the CSV has a sentiment column, combined per target by a logistic regression whose label
    biases are tuned for F1 over FAVOR and AGAINST."""
    from .preannotation.stance_model import StanceClassifier, read_stance_data
    examples = read_stance_data(data)
    click.echo(f"training on {len(examples)} examples", err=True)
    classifier = StanceClassifier.train(examples, progress("training"))
    classifier.save(out, source=str(data))
    click.echo(f"wrote {out} (targets with their own model: {', '.join(sorted(classifier.models))})")


@train.command("lexicon")
@click.argument("examples", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Gazetteer file to write (.tsv).")
@click.option("--min-count", type=click.IntRange(1, 1000), default=2, show_default=True)
def train_lexicon(examples, out, min_count):
    """Build a gazetteer file from the names annotators labelled in a release's examples.jsonl."""
    from .preannotation.lexicon import write_lexicon
    click.echo(f"wrote {out}: {write_lexicon(examples, out, min_count)} name(s)")


# --- retraining from a release, and the model bundles -------------------------------------------

@main.command()
@click.option("--release", "release_spec", default="latest", show_default=True,
              help="A release version (v0003), latest, or a path to an examples.jsonl (or its folder).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Bundle directory to create [default: var/models/<model_version>/]; never an existing one.")
@click.option("--promote-if-better", is_flag=True,
              help="Promote the new bundle when it beats the current model on the release's test split.")
@click.option("--iterations", type=click.IntRange(1, 10000), default=100, show_default=True,
              help="CRF training iterations (L-BFGS); 100 keeps a 5,000-article release under about 10 minutes.")
@click.option("--no-word-clusters", "no_clusters", is_flag=True,
              help="Do not learn word clusters from the release's train/dev texts and the database's articles.")
def retrain(release_spec, out, promote_if_better, iterations, no_clusters):
    """Train a model bundle from a release's train split: the CRF tagger (every entity label the
    release uses, with word clusters learnt from the release's train/dev texts and every article in
    the database), the learned lexicon, the stance classifier when every target has enough labels
    (else the lexicon baseline, and it says so) and the ledger (measured on the dev split).

    Scores the new bundle and the current model (the promoted bundle, else the shipped default)
    on the test split, which training never reads, and prints both; registers the bundle in the
    database. The bundle directory is the last line printed."""
    from . import evaluation
    from .retrain import retrain as run
    result = run(load_settings(), release_spec, out, promote_if_better, iterations,
                 lambda message: click.echo(message, err=True), word_clusters=not no_clusters)
    info = result.model_json
    click.echo(f"{info['model_version']}: trained from {info['release']['version'] or info['release']['path']} "
               f"(train split: {info['training']['ner']['articles']} article(s), spans "
               f"{json.dumps(info['training']['ner']['spans_per_label'], ensure_ascii=False)})")
    click.echo(f"stance: {info['stance']}")
    ledger = info.get("ledger")
    off = [f"{r['source']} {r['label']}" for r in ledger["sources"] if r["action"] == "off"] if ledger else []
    click.echo(f"ledger: lists and rules measured on {ledger['about']['documents']} train + dev article(s), "
               f"the tagger on {ledger['about']['documents_dev']} dev article(s); switched off: "
               f"{', '.join(off) or 'nothing'}" if ledger else "ledger: none")
    scores = info["evaluation"]
    if scores["new"] is None:
        click.echo("test split: no examples; the models were not compared")
    for name, title in (("new", "new bundle"), ("current", f"current ({(scores['current'] or {}).get('bundle')})")):
        if scores[name] is not None:
            click.echo(f"--- {title}, test split")
            click.echo(evaluation.format_report(scores[name]))
    click.echo(result.promotion_note)
    click.echo(str(result.path))


@main.group(cls=WorkbenchGroup)
def models():
    """Model bundles registered in the bridge's database: list, show, promote, roll back. The
    promoted bundle is what preannotate, push and the ML backend use (WORKBENCH_MODEL overrides it)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the bundles and the promotion history as JSON.")
def models_list(as_json):
    """Every registered bundle (* marks the current one), then the promotion history."""
    from .bundles import list_registered
    data = list_registered(load_settings())
    if as_json:
        echo_json(data)
        return
    if not data["bundles"]:
        click.echo("no bundles registered: train one with `workbench retrain`")
    for bundle in data["bundles"]:
        click.echo(f"{'*' if bundle['current'] else ' '} {bundle['model_version']}  {bundle['release'] or '-'}  "
                   f"{bundle['created_at']}  {bundle['path']}")
    for row in data["history"]:
        click.echo(f"  {row['at']}  {row['action']} {row['model_version']} (before: {row['previous'] or '-'}) "
                   f"by {row['by']}")


@models.command("show")
@click.argument("bundle")
def models_show(bundle):
    """A bundle's model.json (BUNDLE: a model_version or a bundle directory, which showing does not
    register), its files checked, and its registry row."""
    from .bundles import show
    echo_json(show(load_settings(), bundle))


@models.command("promote")
@click.argument("bundle")
def models_promote(bundle):
    """Make BUNDLE (a model_version or a bundle directory, registered if it is not yet) the
    current one; its files are checked against its model.json first."""
    from .bundles import promote_named
    version, changed = promote_named(load_settings(), bundle, "workbench models promote")
    click.echo(f"promoted {version}" if changed else f"{version} is already the current bundle")


@models.command("rollback")
def models_rollback():
    """Make the bundle that was current before the current one current again (a new history row)."""
    from .bundles import rollback_current
    version = rollback_current(load_settings(), "workbench models rollback")
    click.echo(f"rolled back to {version}")
