"""The data card (README.md) of a release version: what is in it, where it came from, how
much the annotators agreed, and how to load it."""
from __future__ import annotations

import json

LICENCE = ("Article texts remain under their publishers' terms (see each record's source); the annotations "
           "were made for this project. Use for research and model training inside the project unless "
           "the sources allow more.")
REPORTS_FOLDER = "reports"  # exports/reports/vNNNN/: what `workbench report` writes (report.py)
REPORT_FILE = "report.md"


def report_link(version: str) -> str:
    """Where the data card (exports/vNNNN/README.md) finds the version's report, relative to it."""
    return f"../{REPORTS_FOLDER}/{version}/{REPORT_FILE}"


def _table(header: tuple[str, ...], rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def render(manifest: dict, agreement: dict) -> str:
    stats, version = manifest["stats"], manifest["version"]
    ls = manifest.get("label_studio") or {}
    lines = [f"# Arabic news NER and stance — training set {version}", "",
             f"Created {manifest['created_at']}; parent version: {manifest.get('parent') or 'none'}. "
             f"Scheme {manifest.get('scheme_version', '?')} (sha256 {manifest.get('scheme_sha256', '?')}); "
             f"review policy `{manifest.get('review_policy', '?')}`; Label Studio {ls.get('url', '?')} "
             f"project {ls.get('project_id', '?')}.", "",
             "## Counts", "", *_table(("split", "examples"), stats["splits"].items()), "",
             f"Total {stats['examples']} examples; {stats['duplicate_groups']} groups of exact or near-duplicate "
             f"articles ({stats['examples_in_duplicate_groups']} examples), each group kept in one split.", "",
             "## Label distribution", "", "![entity spans per label and split](labels.svg)", "",
             *_table(("entity label", "spans"), stats["entity_labels"].items()), "",
             *_table(("stance target", "label counts"),
                     ((t, json.dumps(c, ensure_ascii=False)) for t, c in stats["stance"].items())), "",
             *_agreement(agreement), "",
             *_report(version), "",
             "## Sources and lineage", "",
             *_table(("source", "examples"), stats["sources"].items()), "",
             f"Annotators: {json.dumps(stats['annotators'], ensure_ascii=False)}. Pre-annotator versions whose "
             f"predictions the annotators saw: {json.dumps(stats['model_versions'], ensure_ascii=False)}. "
             "Per example: `records.jsonl` (task id, annotation id, annotator, line hash).", "",
             f"Split method: {manifest['split_method']}", "",
             "## Licence", "", LICENCE, "",
             *_how_to_load(version), ""]
    return "\n".join(lines)


def _agreement(agreement: dict) -> list[str]:
    lines = ["## Agreement", ""]
    if not agreement.get("tasks_with_multiple_annotations"):
        return lines + ["No task had two or more annotations, so agreement could not be measured."]
    lines.append(f"{agreement['tasks_with_multiple_annotations']} tasks had two or more annotations.")
    for pair, modes in agreement["span_f1"].items():
        lines.append(f"- span F1 {pair}: exact {json.dumps(modes['exact'])}, overlap {json.dumps(modes['overlap'])}")
    alpha = json.dumps(agreement["stance_alpha"], ensure_ascii=False)
    lines.append(f"- Krippendorff's alpha (stance, nominal): {alpha}")
    lines.append(f"- {len(agreement['low_agreement_tasks'])} task(s) below exact span F1 "
                 f"{agreement['low_agreement_threshold']} or with a stance disagreement: see agreement.json")
    return lines


def _report(version: str) -> list[str]:
    link = report_link(version)
    return ["## Correction effort and agreement report", "",
            f"[{link}]({link}): correction effort per pre-annotation model version and agreement per label, "
            f"annotator pair and stance target, with plots. It is produced by `workbench report {version}` "
            "from this version's files and the bridge's database, outside the version folder (this folder "
            "never changes); run the command if the link does not open."]


def _how_to_load(version: str) -> list[str]:
    return ["## Files and how to load them", "",
            "`examples.jsonl` is the version's identity: one example per line, sorted by id, "
            "`{id, text, entities: [{start, end, label, text}], stance: {target: label}, split}`; offsets are "
            "Python string indices and `text[start:end] == entity.text`. `examples.parquet` holds the same rows, "
            "`examples.conll` the BIO tagging (tokenisation in `workbench/conll.py`), `manifest.json` every "
            "file's SHA-256 (`workbench verify " + version + "` rechecks them).", "",
            "```python",
            "from workbench.feed import load",
            f'train = load(version="{version}", split="train")                     # from exports/',
            f'train = load(version="{version}", split="train", url="http://127.0.0.1:5055", token=TOKEN)  # over HTTP',
            "",
            "from datasets import Dataset                                   # Hugging Face datasets",
            f'ds = Dataset.from_parquet("exports/{version}/examples.parquet")  # or Dataset.from_json(...jsonl)',
            'train = ds.filter(lambda x: x["split"] == "train")',
            "```"]
