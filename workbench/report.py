"""`workbench report vNNNN`: a release's correction effort and agreement as a Markdown report with
PNG plots, in exports/reports/vNNNN/ (or a folder of one's choosing); the release's data card links
there (datacard.report_link).

The figures are the release's own: agreement is its agreement.json; correction effort compares
the spans of its examples.jsonl with the pre-annotations stored in the database for the tasks its
records.jsonl names (only the model versions each record says the annotator saw), through
stats.quality_of, the dashboard's function. A version folder is never written to: the report is
derived from it and the database, so running the command again replaces the report's files."""
from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sqlalchemy import select

from . import datacard, feed, stats
from .db import session_scope
from .errors import InputError
from .models import ArticleRevision, LabelStudioProject, LabelStudioTask
from .release_check import merge_by_id, parse_records
from .releases import VERSION_RE
from .settings import Settings

PLOTS = ("corrections.png", "span_f1.png", "stance_alpha.png")
PALETTE = ("#4363d8", "#f58231", "#3cb44b", "#911eb4", "#e6194b", "#008080", "#808000")


def default_folder(settings: Settings, version: str) -> Path:
    return settings.exports_dir / datacard.REPORTS_FOLDER / version


def write_report(settings: Settings, version: str, out: Path | None = None) -> Path:
    """Write report.md and its plots for a release (`latest`: the newest intact one) into `out`
    (default exports/reports/vNNNN/); returns the report's path."""
    exports = settings.exports_dir
    version = feed.resolve_version(exports, version)
    manifest = feed.read_manifest(exports, version)
    agreement = json.loads(b"".join(feed.file_body(exports, version, "agreement.json").stream) or b"{}")
    folder = _checked_folder(settings, out or default_folder(settings, version))
    with session_scope(settings) as session:
        project = _project(session, manifest)
        accepted, unmatched = _accepted(session, project, _records(exports, version))
        quality = stats.quality_of(session, accepted)
        links = {t["task_id"]: stats.task_link(settings, project, t["task_id"])
                 for t in agreement.get("low_agreement_tasks", [])}
    plots = _plots(quality, agreement)
    folder.mkdir(parents=True, exist_ok=True)
    for name in PLOTS:
        if name in plots:
            _replace(folder / name, plots[name])
        else:
            (folder / name).unlink(missing_ok=True)  # a plot of an earlier run that has no data now
    text = render(manifest, quality, len(accepted), unmatched, agreement, links, set(plots))
    _replace(folder / datacard.REPORT_FILE, text.encode("utf-8"))
    return folder / datacard.REPORT_FILE


def _checked_folder(settings: Settings, folder: Path) -> Path:
    """The report's folder, never inside a version folder (releases are immutable)."""
    folder = folder.expanduser().resolve()
    exports = settings.exports_dir.resolve()
    inside = folder.relative_to(exports).parts if folder.is_relative_to(exports) else ()
    if inside and (VERSION_RE.match(inside[0]) or inside[0].startswith(".")):
        raise InputError(f"{folder} is inside the release folder {exports / inside[0]}, which never changes: "
                         "choose another --out", errors={"out": str(folder)})
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} exists and is not a folder", errors={"out": str(folder)})
    return folder


# --- the release's records, matched to the database ------------------------------------------

def _records(exports: Path, version: str) -> Iterator[tuple[dict, dict]]:
    """(example, record) of every example of the version, both read through the feed's checks."""
    examples = parse_records(feed.iter_example_lines(exports, version), f"{version}/examples.jsonl")
    records = parse_records(_lines(feed.file_body(exports, version, "records.jsonl").stream),
                            f"{version}/records.jsonl")
    for _id, example, record in merge_by_id(examples, records):
        yield example or {}, record or {}


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        yield from lines
    if rest:
        yield rest


def _project(session, manifest: dict) -> LabelStudioProject | None:
    ls = manifest.get("label_studio") or {}
    return session.scalars(select(LabelStudioProject).where(
        LabelStudioProject.ls_url == str(ls.get("url")),
        LabelStudioProject.ls_project_id == ls.get("project_id"))).first()


def _accepted(session, project, pairs) -> tuple[list[tuple[int, list[dict], list[str] | None]], int]:
    """(revision id, released spans, model versions the annotator saw) per example whose task is
    in the database (of the same article), and how many examples are not."""
    tasks = {} if project is None else {
        ls_task_id: (revision_id, article_id) for ls_task_id, revision_id, article_id in session.execute(
            select(LabelStudioTask.ls_task_id, LabelStudioTask.revision_id, ArticleRevision.article_id)
            .join(ArticleRevision, ArticleRevision.id == LabelStudioTask.revision_id)
            .where(LabelStudioTask.project_id == project.id))}
    accepted, unmatched = [], 0
    for example, record in pairs:
        revision_id, article_id = tasks.get(record.get("task_id"), (None, None))
        if revision_id is None or article_id != example.get("id"):
            unmatched += 1
            continue
        accepted.append((revision_id, example["entities"], record.get("model_versions")))
    return accepted, unmatched


# --- plots ------------------------------------------------------------------------------------

def _plots(quality: list[dict], agreement: dict) -> dict[str, bytes]:
    plots = {}
    if quality:
        plots["corrections.png"] = _bar_png([(
            "Correction effort per model version (spans)", list(stats.CORRECTIONS),
            {q["model_version"]: [q["corrections"][k] for k in stats.CORRECTIONS] for q in quality}, None)],
            legend=True)
    pairs = agreement.get("span_f1") or {}
    if pairs:
        labels = sorted({label for scores in pairs.values() for label in scores["exact"]})
        plots["span_f1.png"] = _bar_png([
            (f"{mode.capitalize()} span F1 per label and annotator pair", labels,
             {pair: [scores[mode].get(label, 0.0) for label in labels] for pair, scores in pairs.items()}, 1.0)
            for mode in ("exact", "overlap")], legend=True)
    alphas = {t: a for t, a in (agreement.get("stance_alpha") or {}).items() if a is not None}
    if alphas:
        plots["stance_alpha.png"] = _bar_png([("Krippendorff's alpha per stance target (nominal)", list(alphas),
                                               {"alpha": list(alphas.values())}, 1.0)])
    return plots


def _bar_png(panels: list[tuple[str, list[str], dict[str, list[float]], float | None]], legend: bool = False) -> bytes:
    """Horizontal grouped bars, one panel per (title, categories, series, upper x limit), as PNG
    (Agg); a legend names the series."""
    rows = max(len(categories) * max(1, len(series)) for _t, categories, series, _l in panels)
    figure = Figure(figsize=(7 * len(panels), max(2.4, 1.0 + 0.32 * rows)), dpi=100)
    FigureCanvasAgg(figure)
    for n, (title, categories, series, limit) in enumerate(panels, 1):
        axes = figure.add_subplot(1, len(panels), n)
        height = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            positions = [c + (i - (len(series) - 1) / 2) * height for c in range(len(categories))]
            bars = axes.barh(positions, values, height=height * 0.95, label=str(name),
                             color=PALETTE[i % len(PALETTE)])
            axes.bar_label(bars, fmt="%g", padding=3, fontsize=8)
        axes.set_yticks(range(len(categories)), [str(c) for c in categories])
        axes.invert_yaxis()
        if limit is not None:  # alpha can be negative
            axes.set_xlim(min(0.0, *(v for values in series.values() for v in values)) * 1.15, limit * 1.15)
        if legend:
            axes.legend(fontsize=8, loc="best")
        axes.set_title(title, fontsize=11)
        axes.spines[["top", "right"]].set_visible(False)
    figure.set_layout_engine("tight")
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _replace(path: Path, data: bytes) -> None:
    """Write a file next to its final name, then rename it over the old one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the report from the rest of the team
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the Markdown --------------------------------------------------------------------------------

def render(manifest: dict, quality: list[dict], matched: int, unmatched: int, agreement: dict,
           links: dict, plots: set[str]) -> str:
    version, examples = manifest["version"], manifest["files"]["examples.jsonl"]
    lines = [f"# Correction effort and agreement — release {version}", "",
             f"Produced by `workbench report {version}` from the release folder `{version}/` (created "
             f"{manifest['created_at']}, {examples['records']} examples, examples.jsonl sha256 "
             f"`{examples['sha256']}`, review policy `{manifest.get('review_policy', '?')}`) and the "
             "pre-annotations stored in the bridge's database. It is derived, not part of the release: "
             "running the command again replaces this report and its plots.", "",
             *_corrections(quality, matched, unmatched, plots), "", *_agreement(agreement, links, plots), ""]
    return "\n".join(lines)


def _corrections(quality: list[dict], matched: int, unmatched: int, plots: set[str]) -> list[str]:
    lines = ["## Correction effort per pre-annotation model version", "",
             f"What the annotators did to each model version's predicted spans, over the release's accepted "
             f"examples whose task that version pre-annotated (the versions records.jsonl says the annotator "
             f"saw): kept (same range and label), relabelled (same range, other label), moved (same label, "
             f"overlapping range), deleted; added counts accepted spans no prediction matched. {matched} "
             f"example(s) matched to their task in the database"
             + (f"; {unmatched} example(s) whose task is not in this database are not counted." if unmatched
                else "."), ""]
    if not quality:
        return lines + ["No accepted example of this release had a stored pre-annotation."]
    lines += _table(("model version", "tasks", *stats.CORRECTIONS, "precision", "recall", "F1"),
                    ((q["model_version"], q["tasks"], *(q["corrections"][k] for k in stats.CORRECTIONS),
                      q["overall"]["precision"], q["overall"]["recall"], q["overall"]["f1"]) for q in quality))
    if "corrections.png" in plots:
        lines += ["", "![Correction effort per model version](corrections.png)"]
    lines += ["", "Exact-span precision, recall and F1 per label:", ""]
    lines += _table(("model version", "label", "precision", "recall", "F1", "matched", "predicted", "accepted"),
                    ((q["model_version"], label, s["precision"], s["recall"], s["f1"], s["matched"],
                      s["predicted"], s["accepted"]) for q in quality for label, s in q["labels"].items()))
    return lines


def _agreement(agreement: dict, links: dict, plots: set[str]) -> list[str]:
    lines = ["## Agreement", "", "From the release's agreement.json (every task with two or more annotations "
             "when the release was written).", ""]
    multi = agreement.get("tasks_with_multiple_annotations")
    if not multi:
        return lines + ["No task had two or more annotations, so agreement could not be measured."]
    lines += [f"{multi} task(s) had two or more annotations.", "", "### Span F1 per label and annotator pair", ""]
    lines += _table(("annotator pair", "label", "exact F1", "overlap F1"),
                    ((pair, label, f1, scores["overlap"].get(label)) for pair, scores in agreement["span_f1"].items()
                     for label, f1 in scores["exact"].items()))
    if "span_f1.png" in plots:
        lines += ["", "![Span F1 per label and annotator pair](span_f1.png)"]
    lines += ["", "### Krippendorff's alpha per stance target (nominal)", ""]
    lines += _table(("stance target", "alpha"), ((t, "undefined" if a is None else a)
                                                 for t, a in agreement.get("stance_alpha", {}).items()))
    if "stance_alpha.png" in plots:
        lines += ["", "![Krippendorff's alpha per stance target](stance_alpha.png)"]
    low = agreement.get("low_agreement_tasks", [])
    lines += ["", f"### Low-agreement tasks ({len(low)})", "",
              f"Exact span F1 below {agreement.get('low_agreement_threshold')} between two annotations, or a "
              "stance disagreement: the tasks to adjudicate.", ""]
    if low:
        lines += _table(("task", "article", "min exact F1", "stance disagreement", "annotations", "Label Studio"),
                        ((t["task_id"], t["article_id"], t["min_exact_f1"], ", ".join(t["stance_disagreement"]),
                          ", ".join(map(str, t["annotation_ids"])),
                          f"[open]({links[t['task_id']]})" if links.get(t["task_id"]) else "—") for t in low))
    return lines


def _table(header: tuple[str, ...], rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(value) -> str:
    text = "—" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
