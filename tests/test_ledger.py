"""The ledger (workbench/preannotation/ledger.py): per-source measurement on accepted annotations,
the switch-off policy, calibrated scores, its JSON form, and the engine applying it; and the
pre-annotation package as a library that imports nothing of the bridge but errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import InputError
from workbench.preannotation import Candidate, Ledger, default_preannotator, measure
from workbench.preannotation.calibration import Calibration
from workbench.preannotation.engine import PreAnnotationEngine
from workbench.preannotation.ledger import Policy, SourceRecord, fit_points, smoothed
from workbench.preannotation.loading import ModelFileError

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "tests" / "fixtures" / "sample_gold.jsonl"


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def engine():
    return default_preannotator([])


@pytest.fixture(scope="module")
def ledger(engine, examples) -> Ledger:
    return measure(engine, examples)


def output(engine, examples) -> list[list[tuple]]:
    """Per example: (start, end, label, source, score) of the engine's spans, original offsets."""
    found = []
    for (doc, spans) in engine.spans_many([e["text"] for e in examples]):
        found.append([(*doc.norm.to_original(s.start, s.end), s.label, s.source, s.score) for s in spans])
    return found


def without_source(examples: list[dict], shipped: list[list[tuple]], source: str) -> tuple[list[dict], list[set]]:
    """The examples with every gold span the source put in the shipped output removed."""
    removed = [{(start, end) for start, end, _, src, _ in spans if src == source} for spans in shipped]
    altered = [{**e, "entities": [s for s in e["entities"] if (s["start"], s["end"]) not in gone]}
               for e, gone in zip(examples, removed)]
    return altered, removed


# --- measuring ---------------------------------------------------------------------------------

def test_measure_counts_each_source_against_the_gold(engine, examples, ledger):
    """A pair's proposals and the right ones, counted here from the recorded proposals."""
    proposed, right = set(), set()
    for example, (doc, _) in zip(examples, engine.spans_many([e["text"] for e in examples], record_proposals=True)):
        gold = {(s["start"], s["end"], s["label"]) for s in example["entities"]}
        for span in doc.proposed:
            if (span.source, span.label) == ("title-rule", "PER"):
                key = (example["id"], *doc.norm.to_original(span.start, span.end), span.label)
                proposed.add(key)
                right |= {key} if key[1:] in gold else set()
    record = ledger.record("title-rule", "PER")
    gold_per = sum(s["label"] == "PER" for e in examples for s in e["entities"])
    assert (record.proposed, record.proposed_right, record.gold) == (len(proposed), len(right), gold_per)
    row = record.to_dict()
    assert row["precision"] == round(len(right) / len(proposed), 4)
    assert row["recall"] == round(len(right) / gold_per, 4)
    assert record.output <= record.proposed and record.output_right <= record.output


def test_measure_has_every_source_and_label_totals(engine, examples, ledger):
    shipped = output(engine, examples)
    pairs = {(source, label) for spans in shipped for _, _, label, source, _ in spans}
    assert pairs <= {(r.source, r.label) for r in ledger.sources}
    for row in ledger.labels:
        gold = sum(s["label"] == row["label"] for e in examples for s in e["entities"])
        predicted = sum(label == row["label"] for spans in shipped for _, _, label, _, _ in spans)
        assert (row["gold"], row["predicted"]) == (gold, predicted)
    assert ledger.about["documents"] == len(examples)


def test_contradicted_rule_is_switched_off_and_its_spans_stop(engine, examples):
    """A team that never labels institution + nationality (الحكومة الأوكرانية) as ORG: after
    one measurement the rule is off, none of its spans come out, everything else still does."""
    shipped = output(engine, examples)
    altered, removed = without_source(examples, shipped, "institution-rule")
    assert sum(map(len, removed)) >= 5
    ledger = measure(engine, altered)
    assert ledger.record("institution-rule", "ORG").action == "off"
    assert ("institution-rule", "ORG") in ledger.switched_off
    assert ledger.about["passes"] >= 2  # measured again with the rule off, for the derived sources
    applied = output(engine.with_ledger(ledger), altered)
    for spans, before, gone in zip(applied, shipped, removed):
        assert not {(s, e) for s, e, label, _, _ in spans if label == "ORG"} & gone
        assert all(src != "institution-rule" for _, _, _, src, _ in spans)
        got = {(s, e, label) for s, e, label, _, _ in spans}
        kept = [(s, e, label) for s, e, label, src, _ in before
                if (src, label) not in ledger.switched_off and not any(a < e and s < b for a, b in gone)]
        assert set(kept) <= got


def test_measuring_an_engine_with_a_ledger_sets_it_aside(engine, examples):
    """A switched-off pair is still measured at the next retrain (it can come back)."""
    shipped = output(engine, examples)
    altered, _ = without_source(examples, shipped, "institution-rule")
    ledger = measure(engine, altered)
    again = measure(engine.with_ledger(ledger), altered)
    assert again.sha256 == ledger.sha256
    assert measure(engine.with_ledger(ledger), examples).record("institution-rule", "ORG").action == "keep"


def test_switched_off_pair_is_dropped_before_overlap_resolution(engine, examples):
    """Other layers take the text: the nationality inside a switched-off institution comes out."""
    shipped = output(engine, examples)
    altered, removed = without_source(examples, shipped, "institution-rule")
    applied = output(engine.with_ledger(measure(engine, altered)), altered)
    filled = [(s, e) for spans, gone in zip(applied, removed) for s, e, label, _, _ in spans
              if label == "NORP" and any(a < s and e == b for a, b in gone)]
    assert filled


def test_matching_source_keeps_its_spans_scored_by_calibrated_precision(engine, examples, ledger):
    shipped, applied = output(engine, examples), output(engine.with_ledger(ledger), examples)
    record = ledger.record("date-rule", "DATE")
    assert record.action == "keep" and record.output >= ledger.policy.calibration_min_spans
    dates = [[(s, e) for s, e, label, _, _ in spans if label == "DATE"] for spans in shipped]
    assert dates == [[(s, e) for s, e, label, _, _ in spans if label == "DATE"] for spans in applied]
    calibration = Calibration(record.calibration)
    raw = {(k, s, e): score for k, spans in enumerate(shipped) for s, e, _, _, score in spans}
    for k, spans in enumerate(applied):
        for start, end, label, source, score in spans:
            assert score == round(Calibration(ledger.record(source, label).calibration)(raw[k, start, end]), 4)
            if label == "DATE":
                assert score == round(calibration(raw[k, start, end]), 4)


def test_few_spans_get_their_smoothed_precision(ledger):
    small = [r for r in ledger.sources if 0 < r.output < ledger.policy.calibration_min_spans]
    assert small
    for record in small:
        [(_, precision)] = record.calibration  # one value for all its scores
        assert precision == round(smoothed(record.output_right, record.output), 4) < 1.0


def test_ledger_round_trips_through_json(engine, examples, ledger):
    data = json.loads(json.dumps(ledger.to_dict(), ensure_ascii=False))
    again = Ledger.from_dict(data)
    assert again.to_dict() == ledger.to_dict()
    assert again.sha256 == ledger.sha256 == measure(engine, examples).sha256
    assert again.switched_off == ledger.switched_off
    pairs = [(r["source"], r["label"]) for r in data["sources"]]
    assert pairs == sorted(pairs)
    assert data["policy"] == Policy().to_dict()
    spans = [Candidate(0, 3, r.label, 0.7, r.source) for r in ledger.sources]
    assert again.rescored(spans) == ledger.rescored(spans)


def test_thresholds_are_arguments_recorded_in_the_ledger(engine, examples):
    strict = measure(engine, examples[:2], min_spans=3, off_below=0.95, down_below=0.99)
    assert strict.policy.to_dict()["off_below"] == 0.95 and strict.to_dict()["policy"]["min_spans"] == 3
    for record in strict.sources:
        if record.proposed >= 3 and record.proposed_right / record.proposed < 0.95:
            assert record.action == "off"


def test_bad_ledger_data_is_refused():
    with pytest.raises(ValueError, match="format"):
        Ledger.from_dict({"format": 99})
    with pytest.raises(ValueError, match="missing or malformed"):
        Ledger.from_dict({"format": 1, "policy": {}})
    with pytest.raises(ValueError):
        Policy(off_below=0.7, down_below=0.5)


def test_measure_checks_gold_offsets(engine, examples):
    example = {**examples[0], "entities": [{**examples[0]["entities"][0], "text": "غير"}]}
    with pytest.raises(InputError, match=examples[0]["id"]):
        measure(engine, [example])


# --- policy and calibration -------------------------------------------------------------------

def test_policy_needs_evidence_and_orders_its_actions():
    policy = Policy(min_spans=5, off_below=0.3, down_below=0.6)
    assert policy.action(4, 0) == "keep"  # too few proposals to judge
    assert [policy.action(10, right) for right in (2, 3, 5, 6, 10)] == ["off", "down", "down", "keep", "keep"]


def test_calibration_is_smoothed_and_rises():
    assert fit_points([(0.9, True)], Policy()) == [[0.9, round(2 / 3, 4)]]
    scored = [(k / 100, k % 3 != 0 or k > 70) for k in range(40, 100)]
    points = fit_points(scored, Policy())
    xs, ys = [x for x, _ in points], [y for _, y in points]
    assert xs == sorted(xs) and ys == sorted(ys) and len(set(ys)) > 1 and max(ys) < 1.0
    Calibration(points)


# --- the engine with a ledger ------------------------------------------------------------------

def test_model_version_names_the_ledger(engine, examples, ledger):
    shipped = f"{PreAnnotationEngine.name}-{PreAnnotationEngine.version}"
    assert engine.model_version == shipped
    with_ledger = default_preannotator([], ledger=ledger)
    assert with_ledger.model_version == f"{shipped}+ledger.{ledger.sha256[:8]}"
    other = measure(engine, examples[:2])
    assert default_preannotator([], ledger=other).model_version != with_ledger.model_version


def test_no_ledger_empty_ledger_and_identity_ledger_give_the_same_spans(engine, examples, ledger):
    texts = [e["text"] for e in examples]
    plain = [p.entities for p in engine.annotate_many(texts)]
    empty = Ledger([], Policy())
    identity = Ledger([SourceRecord(r.source, r.label, 0, 0, 0, 0, 0, "keep", [[0.0, 0.0], [1.0, 1.0]], "output", 0)
                       for r in ledger.sources], Policy())
    for other in (empty, identity):
        assert [p.entities for p in engine.with_ledger(other).annotate_many(texts)] == plain


def test_consistency_does_not_spread_a_switched_off_sources_name():
    text = "التقى الرئيس زوربا كومانيتسي بالوفد أمس. وقال كومانيتسي إن المحادثات كانت جيدة."
    shipped = PreAnnotationEngine([])
    [(doc, spans)] = shipped.spans_many([text])
    sources = {(span.source, span.label) for span in spans}
    assert {("title-rule", "PER"), ("consistency", "PER")} <= sources
    off = Ledger([SourceRecord("title-rule", "PER", 5, 0, 0, 0, 0, "off", [[0.0, 0.0]], "output", 5)], Policy())
    [(_, spans)] = shipped.with_ledger(off).spans_many([text])
    assert not [span for span in spans if span.label == "PER"]


def test_default_preannotator_reads_a_ledger_from_model_json(tmp_path, ledger, examples):
    bundle = tmp_path / "model.json"
    bundle.write_text(json.dumps({"name": "team", "ledger": ledger.to_dict()}), encoding="utf-8")
    loaded = default_preannotator([], ledger=bundle)
    assert loaded.model_version == default_preannotator([], ledger=ledger).model_version
    assert loaded.annotate(examples[0]["text"]) == default_preannotator([], ledger=ledger).annotate(examples[0]["text"])
    broken = tmp_path / "broken.json"
    broken.write_text('{"ledger": {"format": 1}}', encoding="utf-8")
    with pytest.raises(ModelFileError) as caught:
        default_preannotator([], ledger=broken)
    assert caught.value.part == "ledger"


def test_old_engine_imports_keep_working():
    from workbench.preannotation import loading
    from workbench.preannotation.engine import ModelFileError as Moved, default_preannotator as moved
    from workbench.preannotation.rules import Candidate as FromRules
    assert moved is loading.default_preannotator and Moved is loading.ModelFileError and FromRules is Candidate


# --- a library --------------------------------------------------------------------------------

LEAVING = {"stage", "configured"}  # the DB stage and the settings binding move to workbench/preannotate.py

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import workbench.preannotation as package
for module in pkgutil.iter_modules(package.__path__):
    if module.name not in LEAVING:
        importlib.import_module("workbench.preannotation." + module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_preannotation_imports_nothing_of_the_bridge_but_errors():
    script = f"LEAVING = {sorted(LEAVING)!r}\n{IMPORT_ALL}"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout)
    bridge = [m for m in modules if m.startswith("workbench.") and not m.startswith("workbench.preannotation")]
    assert bridge == ["workbench.errors"]
    assert not [m for m in modules if m.split(".")[0] in ("flask", "sqlalchemy")]
    assert "workbench.preannotation.ledger" in modules and "workbench.preannotation.loading" in modules


def module_imports(path: Path) -> set[str]:
    """The package modules a module imports at its top level (`from .x import ...`)."""
    import ast
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return found


def test_preannotation_modules_import_each_other_without_a_cycle():
    graph = {path.stem: module_imports(path) for path in (ROOT / "workbench" / "preannotation").glob("*.py")}
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, deps in graph.items() if name not in done and deps <= done}
        assert ready, f"import cycle among {sorted(set(graph) - done)}"
        done |= ready
    assert "base" in graph["rules"] and "loading" not in graph["engine"] and graph["base"] == set()
