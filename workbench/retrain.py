"""Closing the loop: a release's annotations back into the pre-annotator, as a model bundle
(bundles.py) trained from the release's `train` split only, straight from examples.jsonl:

- the CRF tagger, for every entity label the release uses (ner_training.article_sentences: each
  article cut into the sentences the tagger decodes, the article kept as the document);
- the learned lexicon (lexicon.write_lexicon on the train split);
- the stance classifier, when every target has at least MIN_STANCE_LABELS labelled train
  examples with two labels or more; otherwise the lexicon baseline stays and model.json says why;
- the ledger (preannotation/ledger.py) of the engine built from the new files: lists and rules
  measured on the train and dev splits, the tagger and consistency on dev only (TRAINED_SOURCES).

The new bundle and the current model (the promoted bundle, else the shipped default) are both
scored on the `test` split, which training never reads; model.json keeps both. The bundle is
registered in the database, and promoted when asked to and it is better: a higher exact-match
micro F1 on the test split (at equal F1, a higher stance macro-F1)."""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import bundles, evaluation, feed
from .db import session_scope
from .errors import InputError
from .preannotation.base import ENTITY_LABELS, STANCE_LABELS
from .releases import VERSION_RE
from .settings import Settings

MIN_STANCE_LABELS = 30  # labelled train examples per target (with two labels or more) to train a classifier
SPLITS = ("train", "dev", "test")
Report = Callable[[str], None]


@dataclass
class ReleaseData:
    path: Path
    version: str | None
    sha256: str
    examples: list[dict]

    def split(self, name: str) -> list[dict]:
        return [e for e in self.examples if e["split"] == name]

    @property
    def name(self) -> str:
        return self.version or str(self.path)

    @property
    def targets(self) -> list[str]:
        return sorted({target for e in self.examples for target in e["stance"]})


# --- reading the release ------------------------------------------------------------------------

def release_path(settings: Settings, spec: str | None) -> Path:
    """examples.jsonl of `spec`: a version (v0003), latest (the default), a version directory
    or an examples.jsonl file."""
    spec = spec or "latest"
    if spec == "latest" or VERSION_RE.match(spec):
        return settings.exports_dir / feed.resolve_version(settings.exports_dir, spec) / "examples.jsonl"
    path = Path(spec)
    path = path / "examples.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"--release {spec}: not a release version, 'latest', a version directory or an "
                         "examples.jsonl file", errors={"--release": spec})
    return path


def read_release(path: Path) -> ReleaseData:
    """Every example of an examples.jsonl, checked: id, text, split, entities whose offsets hold
    their text (an error names the example), labels the pre-annotator knows, stance labels."""
    path = Path(path)
    try:
        data = path.read_bytes()
        lines = data.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}", errors={"release": str(path)})
    examples = [_example(f"{path}:{number}", line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not examples:
        raise InputError(f"{path}: no examples", errors={"release": str(path)})
    version = path.parent.name if VERSION_RE.match(path.parent.name) else None
    return ReleaseData(path, version, hashlib.sha256(data).hexdigest(), examples)


def _example(where: str, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON: {exc.msg}", errors={"line": where})
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not isinstance(record.get("text"), str):
        raise InputError(f"{where}: an example needs an id and a text (strings)", errors={"line": where})
    name = f"{where}: example {record['id']}"
    if record.get("split") not in SPLITS:
        raise InputError(f"{name}: split {record.get('split')!r} is not train, dev or test",
                         errors={"id": record["id"]})
    if not isinstance(record.get("entities", []), list) or not isinstance(record.get("stance") or {}, dict):
        raise InputError(f"{name}: entities must be a list and stance an object", errors={"id": record["id"]})
    for span in record.get("entities", []):
        _check_span(name, record, span)
    for target, label in (record.get("stance") or {}).items():
        if label not in STANCE_LABELS:
            raise InputError(f"{name}: stance[{target!r}] is {label!r}, not one of {', '.join(STANCE_LABELS)}",
                             errors={"id": record["id"]})
    return {"id": record["id"], "text": record["text"], "entities": record.get("entities", []),
            "stance": record.get("stance") or {}, "split": record["split"]}


def _check_span(name: str, record: dict, span) -> None:
    text = record["text"]
    try:
        start, end, label, written = span["start"], span["end"], span["label"], span["text"]
    except (KeyError, TypeError):
        raise InputError(f"{name}: entity {span!r} needs start, end, label and text", errors={"id": record["id"]})
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        raise InputError(f"{name}: entity {label} [{start}, {end}) is not a span of the text",
                         errors={"id": record["id"], "span": span})
    if text[start:end] != written:
        raise InputError(f"{name}: text[{start}:{end}] is {text[start:end]!r}, the span says {written!r}",
                         errors={"id": record["id"], "span": span})
    if label not in ENTITY_LABELS:
        raise InputError(f"{name}: label {label!r} is not one the pre-annotator knows ({', '.join(ENTITY_LABELS)})",
                         errors={"id": record["id"], "label": label})


# --- training the parts -------------------------------------------------------------------------

def corpus_texts(settings: Settings, release: "ReleaseData"):
    """The unlabelled text word clusters are learnt from, in a fixed order: the release's train
    and dev texts, then the current text of every article in the bridge's database (by id),
    streamed. The test split's texts are left out, so its score stays a held-out figure."""
    for example in release.examples:
        if example["split"] != "test":
            yield example["text"]
    from sqlalchemy import func, select

    from .models import ArticleRevision
    newest = (select(ArticleRevision.article_id, func.max(ArticleRevision.number).label("number"))
              .group_by(ArticleRevision.article_id).subquery())
    query = (select(ArticleRevision.text)
             .join(newest, (ArticleRevision.article_id == newest.c.article_id)
                   & (ArticleRevision.number == newest.c.number))
             .order_by(ArticleRevision.article_id).execution_options(yield_per=500))
    with session_scope(settings) as session:
        yield from session.scalars(query)


def learn_word_clusters(texts, report: Report):
    """Word clusters (word_clusters.learn_clusters) of the texts, or None when they are too few to
    give any (a bundle trained without clusters)."""
    from .preannotation import word_clusters
    report("learning word clusters from the release's train/dev texts and the database's articles")
    clusters = word_clusters.learn_clusters(texts)
    info = clusters.info
    report(f"  {len(clusters)} word(s) clustered from {info['texts']} text(s), {info['tokens']} token(s)")
    return clusters if len(clusters) else None


def train_tagger(train: list[dict], folder: Path, iterations: int, release: str, report: Report,
                 clusters=None) -> dict:
    from .preannotation.ner_training import article_sentences, train_crf, write_model_info
    sentences = [s for example in train for s in article_sentences(example)]
    labels = Counter(e["label"] for example in train for e in example["entities"])
    if not labels:
        raise InputError("the release's train split has no entity spans: nothing to train the tagger on",
                         errors={"train_entities": 0})
    report(f"training the CRF tagger on {len(train)} article(s), {len(sentences)} sentence(s), "
           f"labels {', '.join(sorted(labels))}, {iterations} iteration(s)")

    def each(n, loss):
        if n % 25 == 0 or n == iterations:
            report(f"  iteration {n}/{iterations} loss {loss:.1f}")
    try:
        info = train_crf(sentences, folder / bundles.NER_MODEL, each, iterations, clusters=clusters)
    except ValueError as exc:  # the name scorer or crfsuite on too little data
        raise InputError(f"the release's train split is too small to train the tagger: {exc}",
                         errors={"train_examples": len(train)})
    info["data"] = [f"{release} (train split)"]
    write_model_info(folder / bundles.NER_MODEL, info)
    return {"articles": len(train), "sentences": info["sentences"], "tokens": info["tokens"],
            "spans_per_label": dict(sorted(labels.items())), "iterations": iterations,
            "word_clusters": info.get("word_clusters")}


def stance_plan(train: list[dict]) -> tuple[bool, str, dict]:
    """(train a classifier?, what model.json and the CLI say, label counts per target)."""
    counts = {target: Counter() for e in train for target in e["stance"]}
    for e in train:
        for target, label in e["stance"].items():
            counts[target][label] += 1
    per_target = {t: dict(sorted(c.items())) for t, c in sorted(counts.items())}
    if not counts:
        return False, "lexicon baseline (no stance labels in the train split)", per_target
    for target, labels in sorted(counts.items(), key=lambda item: sum(item[1].values())):
        n = sum(labels.values())
        if n < MIN_STANCE_LABELS:
            return False, f"lexicon baseline ({n} labels < minimum {MIN_STANCE_LABELS} for target {target})", per_target
        if len(labels) < 2:
            return False, f"lexicon baseline (target {target} has only the label {next(iter(labels))})", per_target
    sizes = ", ".join(f"{target}: {sum(labels.values())} labels" for target, labels in sorted(counts.items()))
    return True, f"classifier ({sizes})", per_target


def train_stance(release: ReleaseData, folder: Path, report: Report) -> dict:
    train = release.split("train")
    wanted, note, counts = stance_plan(train)
    report(f"stance: {note}")
    if wanted:
        from .preannotation.stance_model import StanceClassifier, read_release_examples
        classifier = StanceClassifier.train(read_release_examples(release.path, split="train"))
        classifier.save(folder / bundles.STANCE_MODEL, source=f"{release.name} (train split)")
    return {"model": "classifier" if wanted else "lexicon", "note": note, "labels_per_target": counts,
            "minimum": MIN_STANCE_LABELS}


def train_lexicon(release: ReleaseData, folder: Path, report: Report) -> int:
    from .preannotation.lexicon import write_lexicon
    names = write_lexicon(release.path, folder / bundles.LEXICON, split="train")
    report(f"lexicon: {names} name(s) learned from the train split")
    return names


# The sources that learn from the release (the tagger) or spread what it found (consistency): on
# the train split they would look better than they are, so they are judged on the dev split only.
# Lists and rules learn nothing from the release: they are judged on train and dev together, which
# gives a small release's ledger the evidence a dev split alone lacks.
TRAINED_SOURCES = ("crf", "consistency")
# A bundle's engine runs the shipped tagger after its own, as a source of its own ("crf-shipped"):
# a tagger trained on a few hundred articles knows the team's conventions but fewer names; the
# ledger keeps the shipped tagger's spans per label where the team's annotations bear them out.
SHIPPED_TAGGER_AFTER = True


def _ledger_for(folder: Path, train: list[dict], dev: list[dict], targets: list[str]) -> dict | None:
    """The ledger of the engine built from the new files: lists and rules measured on train + dev,
    the tagger and consistency on dev (left unmeasured, with their own scores, without dev)."""
    from .preannotation.ledger import Ledger, measure
    engine = _engine(folder, targets, None)
    whole = measure(engine, train + dev)
    held = measure(engine, dev).sources if dev else []
    sources = ([r for r in whole.sources if r.source not in TRAINED_SOURCES]
               + [r for r in held if r.source in TRAINED_SOURCES])
    about = {**whole.about, "documents_dev": len(dev), "trained_sources": list(TRAINED_SOURCES),
             "trained_sources_measured_on": "dev" if dev else "nothing (no dev split)"}
    return Ledger(sources, whole.policy, about, whole.labels, whole.labels_shipped).to_dict()


def _engine(folder: Path, targets: list[str], ledger: dict | None):
    """The engine of the bundle being built: its tagger, then the shipped one filling what it left
    (SHIPPED_TAGGER_AFTER), the lists with its lexicon, its stance model, the ledger."""
    from .preannotation.loading import default_preannotator
    files = {p.name: None for p in folder.iterdir()}
    return bundles.engine_from_files(folder, {"files": files, "ledger": ledger,
                                              "shipped_tagger_after": SHIPPED_TAGGER_AFTER}, targets,
                                     default_preannotator)


# --- scoring ------------------------------------------------------------------------------------

def score(engine, test: list[dict]) -> dict | None:
    """Exact-match span P/R/F1 per label and micro (and partial), and stance, on the test split."""
    if not test:
        return None
    docs = [evaluation.GoldDoc(e["id"], e["text"], e["entities"], e["stance"]) for e in test]
    return {"model_version": engine.model_version, **evaluation.evaluate(docs, evaluation.predict(docs, engine))}


def is_better(new: dict | None, old: dict | None) -> bool:
    if new is None or old is None:
        return False
    key = lambda r: (r["entities"]["micro"]["f1"], (r["stance"] or {}).get("macro_f1_favor_against", 0.0))  # noqa: E731
    return key(new) > key(old)


def promoted_bundle(settings: Settings) -> tuple[str, Path, str] | None:
    """(model_version, path, model.json SHA-256) of the promoted bundle, or None."""
    with session_scope(settings) as session:
        promoted = bundles.current(session)
        return (promoted.model_version, Path(promoted.path), promoted.model_json_sha256) if promoted else None


def current_engine(promoted: tuple[str, Path, str] | None, targets: list[str]):
    """The engine of the promoted bundle, else the shipped default."""
    from .preannotation.loading import default_preannotator
    if promoted is None:
        return default_preannotator(targets)
    return bundles.bundle_preannotator(promoted[1], targets, promoted[2])


# --- the stage ----------------------------------------------------------------------------------

@dataclass
class RetrainResult:
    path: Path
    model_json: dict
    promoted: bool
    promotion_note: str


def retrain(settings: Settings, release_spec: str | None = None, out: Path | None = None,
            promote_if_better: bool = False, iterations: int = 100, report: Report = lambda message: None,
            by: str = "workbench retrain", word_clusters: bool = True) -> RetrainResult:
    report = timed(report)
    release = read_release(release_path(settings, release_spec))
    train = release.split("train")
    if not train:
        raise InputError(f"{release.path}: the release has no train examples", errors={"train_examples": 0})
    models_dir = settings.var_dir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    parent = promoted_bundle(settings)  # short sessions only: training takes minutes
    base = Path(out).parent if out else models_dir  # the temporary folder is renamed: same file system
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=base))
    try:
        clusters = learn_word_clusters(corpus_texts(settings, release), report) if word_clusters else None
        info = _train_parts(parent, release, tmp, iterations, report, clusters)
        path = bundles.finish_bundle(tmp, info, out, models_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with session_scope(settings) as session:
        bundle = bundles.register(session, path)
        promoted, note = _maybe_promote(session, bundle, info, promote_if_better, by)
    return RetrainResult(path, bundles.read_model_json(path), promoted, note)


def timed(report: Report) -> Report:
    """The report with the seconds since the start before each message."""
    start = time.monotonic()
    return lambda message: report(f"[{time.monotonic() - start:5.0f} s] {message}")


def _train_parts(parent, release: ReleaseData, tmp: Path, iterations: int, report: Report, clusters=None) -> dict:
    targets = release.targets
    training = {"ner": train_tagger(release.split("train"), tmp, iterations, release.name, report, clusters)}
    training["lexicon_names"] = train_lexicon(release, tmp, report)
    training["stance"] = train_stance(release, tmp, report)
    dev, test = release.split("dev"), release.split("test")
    report(f"measuring the ledger: lists and rules on train + dev ({len(release.split('train')) + len(dev)} "
           f"article(s)), the tagger and consistency on dev ({len(dev)})")
    ledger = _ledger_for(tmp, release.split("train"), dev, targets)
    old_engine = current_engine(parent, targets)
    report(f"scoring the new bundle and the current model on the test split ({len(test)} article(s))")
    new, old = score(_engine(tmp, targets, ledger), test), score(old_engine, test)
    info = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "release": {"version": release.version, "path": str(release.path.resolve()),
                        "examples_sha256": release.sha256,
                        "examples": {s: len(release.split(s)) for s in SPLITS}},
            "parent": parent[0] if parent else None, "targets": targets, "training": training,
            "shipped_tagger_after": SHIPPED_TAGGER_AFTER,
            "stance": training["stance"]["note"],
            "evaluation": {"split": "test", "documents": len(test), "new": new,
                           "current": old and {**old, "bundle": parent[0] if parent else "shipped default"},
                           "better": is_better(new, old)}}
    if ledger is not None:
        info["ledger"] = ledger
    return info


def _maybe_promote(session, bundle, info: dict, promote_if_better: bool, by: str) -> tuple[bool, str]:
    evaluation_ = info["evaluation"]
    if not promote_if_better:
        return False, "not promoted (run `workbench models promote` to use it, or retrain with --promote-if-better)"
    if evaluation_["new"] is None:
        return False, "not promoted: the release has no test examples to compare the models on"
    if not evaluation_["better"]:
        return False, "not promoted: it does not beat the current model on the test split"
    row = bundles.promote(session, bundle, f"{by} --promote-if-better")
    return True, "promoted: it beats the current model on the test split" if row else "already the current bundle"
