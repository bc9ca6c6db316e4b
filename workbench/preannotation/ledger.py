"""The ledger: how each source of the engine (every name list, every rule, the CRF tagger,
consistency spreading) did, per label, on a release's accepted annotations, and what the engine
does about it.

`measure(engine, examples)` runs the engine over the examples' texts and counts, per (source,
label): the spans the source proposed (before overlap resolution), how many were exactly a gold
span, the gold spans of that label, and how its spans fared in the engine's output. A policy
then switches off the pairs the team's annotations contradict (enough proposals, precision below
`off_below`), marks as down-weighted those below `down_below`, and keeps the others; every pair
gets a calibration, raw score → measured precision, fitted on its output spans, so that a span's
score is the precision such spans had. The engine applies a ledger (engine.py): a switched-off
pair proposes nothing, and every output span's score goes through its pair's calibration.

The ledger is JSON-ready (`to_dict`, `from_dict`, stable order; stored in a model bundle's
model.json under "ledger") and has a fingerprint that goes into the engine's model version.
Pure library: no database, no settings."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import InputError
from .base import BATCH_SIZE, Candidate
from .calibration import Calibration

FORMAT = 1
ACTIONS = ("keep", "down", "off")
MAX_PASSES = 4  # measuring again after switch-offs changes only derived sources (see measure)


@dataclass(frozen=True)
class Policy:
    """When a (source, label) pair is switched off or down-weighted, and how scores are calibrated."""
    min_spans: int = 5  # proposals needed before the pair's precision is trusted
    # Precision below this: switched off. Spans right with probability p raise F1 only when
    # p > F1 / 2 (2TP / (predicted + gold) grows iff p > TP / (predicted + gold)): 0.3 for an
    # engine at F1 0.6.
    off_below: float = 0.3
    down_below: float = 0.6  # precision below this (and not off): down-weighted
    calibration_min_spans: int = 20  # fewer output spans: one smoothed precision for all of them
    calibration_min_block: int = 10  # spans per step of the isotonic map, at least

    def __post_init__(self):
        if self.min_spans < 1 or self.calibration_min_spans < 1 or self.calibration_min_block < 1:
            raise ValueError("min_spans, calibration_min_spans and calibration_min_block must be at least 1")
        if not 0.0 <= self.off_below <= self.down_below <= 1.0:
            raise ValueError(f"need 0 <= off_below ({self.off_below}) <= down_below ({self.down_below}) <= 1")

    def action(self, proposed: int, right: int) -> str:
        """What to do with a pair from its proposals. The switch-off judges what the source
        PROPOSES, before overlap resolution, not how its spans fared in the output: switching a
        pair off removes its proposals before resolution, so the question is whether its
        proposals are right; output precision depends on the other sources (a pair whose wrong
        spans mostly lose to other layers looks better in the output than it is, and would come
        back as soon as those layers change)."""
        if proposed < self.min_spans:
            return "keep"
        precision = right / proposed
        return "off" if precision < self.off_below else "down" if precision < self.down_below else "keep"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def smoothed(right: int, total: int) -> float:
    """Laplace's rule of succession: 1 of 1 right is 0.667, not 1.0; nothing seen is 0.5."""
    return (right + 1) / (total + 2)


# --- Counting ---------------------------------------------------------------------------------

@dataclass
class PairCounts:
    proposed: int = 0
    proposed_right: int = 0  # also the gold spans it proposed exactly: proposals are counted once
    output: int = 0
    output_right: int = 0
    scored: list[tuple[float, bool]] = field(default_factory=list)  # (raw score, right) of its output spans


@dataclass
class Tally:
    """What one run of the engine over the examples did, per (source, label) and per label."""
    pairs: dict[tuple[str, str], PairCounts] = field(default_factory=dict)
    gold: Counter = field(default_factory=Counter)  # label → gold spans
    predicted: Counter = field(default_factory=Counter)  # label → output spans
    right: Counter = field(default_factory=Counter)  # label → output spans exactly right

    def pair(self, source: str, label: str) -> PairCounts:
        return self.pairs.setdefault((source, label), PairCounts())

    def add_document(self, gold: set[tuple[int, int, str]], proposed: list[Candidate], output: list[Candidate]):
        """One document: spans as (start, end, label, score, source) in the example's offsets."""
        self.gold.update(label for _, _, label in gold)
        seen: set[tuple] = set()
        for span in proposed:
            key = (span.source, span.start, span.end, span.label)
            if key in seen:
                continue
            seen.add(key)
            counts, right = self.pair(span.source, span.label), (span.start, span.end, span.label) in gold
            counts.proposed += 1
            counts.proposed_right += right
        for span in output:
            counts, right = self.pair(span.source, span.label), (span.start, span.end, span.label) in gold
            counts.output += 1
            counts.output_right += right
            counts.scored.append((span.score, right))
            self.predicted[span.label] += 1
            self.right[span.label] += right


def label_rows(tally: Tally) -> list[dict]:
    """Per label: gold and output spans, exactly right ones, precision, recall, F1."""
    rows = []
    for label in sorted(set(tally.gold) | set(tally.predicted)):
        gold, predicted, right = tally.gold[label], tally.predicted[label], tally.right[label]
        precision = right / predicted if predicted else 0.0
        recall = right / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"label": label, "gold": gold, "predicted": predicted, "right": right,
                     "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)})
    return rows


# --- Calibration: isotonic, in blocks of enough spans, smoothed ----------------------------------

def _pooled(blocks: list[list[float]]) -> list[list[float]]:
    """Pool adjacent violators over [right, count, low, high] blocks (sorted by score)."""
    merged: list[list[float]] = []
    for block in blocks:
        merged.append(list(block))
        while len(merged) > 1 and merged[-2][0] / merged[-2][1] >= merged[-1][0] / merged[-1][1]:
            right, count, _, high = merged.pop()
            merged[-1][0] += right
            merged[-1][1] += count
            merged[-1][3] = high
    return merged


def _grown(blocks: list[list[float]], min_block: int) -> list[list[float]]:
    """Blocks with fewer than min_block spans merged into a neighbour, pooled again."""
    while len(blocks) > 1:
        small = next((k for k, block in enumerate(blocks) if block[1] < min_block), None)
        if small is None:
            break
        other = small - 1 if small == len(blocks) - 1 else small + 1
        first, second = sorted((small, other))
        a, b = blocks[first], blocks[second]
        blocks = blocks[:first] + [[a[0] + b[0], a[1] + b[1], a[2], b[3]]] + blocks[second + 1:]
        blocks = _pooled(blocks)
    return blocks


def fit_points(scored: list[tuple[float, bool]], policy: Policy) -> list[list[float]]:
    """The calibration map of a pair, as Calibration points: its smoothed precision for all
    scores with few spans or one raw score; otherwise isotonic steps of at least
    calibration_min_block spans each, every step's precision smoothed (then pooled again so
    that the map still rises)."""
    right = sum(ok for _, ok in scored)
    scores = sorted({score for score, _ in scored})
    if len(scored) < policy.calibration_min_spans or len(scores) == 1:
        mean = sum(score for score, _ in scored) / len(scored) if scored else 0.0
        return [[round(mean, 4), round(smoothed(right, len(scored)), 4)]]
    by_score: dict[float, list[float]] = {}
    for score, ok in scored:
        block = by_score.setdefault(score, [0, 0, score, score])
        block[0] += ok
        block[1] += 1
    blocks = _grown(_pooled([by_score[score] for score in scores]), policy.calibration_min_block)
    steps = _pooled([[smoothed(r, n) * (n + 2), n + 2, low, high] for r, n, low, high in blocks])
    points = []
    for r, n, low, high in steps:
        value = round(r / n, 4)
        points.append([round(low, 4), value])
        if high > low:
            points.append([round(high, 4), value])
    return points


# --- The ledger -----------------------------------------------------------------------------

@dataclass
class SourceRecord:
    """One (source, label) pair: its proposals, its output spans, the policy's action and its
    score calibration (basis "output": fitted on its output spans; "proposed": it had none in
    the output, its smoothed proposal precision)."""
    source: str
    label: str
    proposed: int
    proposed_right: int
    gold: int  # gold spans of the label
    output: int
    output_right: int
    action: str
    calibration: list[list[float]]
    calibration_basis: str
    calibration_spans: int

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "action": self.action,
                "proposed": self.proposed, "proposed_right": self.proposed_right,
                "precision": _ratio(self.proposed_right, self.proposed), "gold": self.gold,
                "recall": _ratio(self.proposed_right, self.gold),
                "output": self.output, "output_right": self.output_right,
                "output_precision": _ratio(self.output_right, self.output),
                "output_recall": _ratio(self.output_right, self.gold),
                "calibration": {"basis": self.calibration_basis, "spans": self.calibration_spans,
                                "points": self.calibration}}

    @classmethod
    def from_dict(cls, data: dict) -> SourceRecord:
        calibration = data["calibration"]
        record = cls(str(data["source"]), str(data["label"]), int(data["proposed"]), int(data["proposed_right"]),
                     int(data["gold"]), int(data["output"]), int(data["output_right"]),
                     str(data["action"]), [[float(x), float(y)] for x, y in calibration["points"]],
                     str(calibration["basis"]), int(calibration["spans"]))
        if record.action not in ACTIONS:
            raise ValueError(f"ledger: {record.source} {record.label}: unknown action {record.action!r}")
        if record.calibration:  # none: scores left as they are
            Calibration(record.calibration)  # raises ValueError on points that do not rise
        return record


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class Ledger:
    """Per (source, label) records, per label totals, the policy and what was measured."""

    def __init__(self, sources: list[SourceRecord], policy: Policy, about: dict | None = None,
                 labels: list[dict] | None = None, labels_shipped: list[dict] | None = None):
        self.sources = sorted(sources, key=lambda r: (r.source, r.label))
        self.policy = policy
        self.about = dict(about or {})  # documents, data_sha256, engine, passes
        self.labels = list(labels or [])  # the engine with this ledger, on the measured examples
        self.labels_shipped = list(labels_shipped or [])  # the engine without it
        self.switched_off = frozenset((r.source, r.label) for r in self.sources if r.action == "off")
        self._calibrations = {(r.source, r.label): Calibration(r.calibration) for r in self.sources if r.calibration}

    def record(self, source: str, label: str) -> SourceRecord | None:
        return next((r for r in self.sources if (r.source, r.label) == (source, label)), None)

    def score(self, span: Candidate) -> float:
        """The span's calibrated precision; its own score for a pair the ledger never measured."""
        calibration = self._calibrations.get((span.source, span.label))
        return round(calibration(span.score), 4) if calibration else span.score

    def rescored(self, spans: list[Candidate]) -> list[Candidate]:
        return [span._replace(score=self.score(span)) for span in spans]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "policy": self.policy.to_dict(), "about": dict(sorted(self.about.items())),
                "sources": [r.to_dict() for r in self.sources], "labels": self.labels,
                "labels_shipped": self.labels_shipped}

    @classmethod
    def from_dict(cls, data: dict) -> Ledger:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a ledger of format {FORMAT} (format: "
                             f"{data.get('format') if isinstance(data, dict) else type(data).__name__})")
        try:
            return cls([SourceRecord.from_dict(r) for r in data["sources"]], Policy(**data["policy"]),
                       data.get("about"), data.get("labels"), data.get("labels_shipped"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"ledger: missing or malformed field: {exc}") from exc

    @property
    def sha256(self) -> str:
        """Of the canonical JSON of to_dict(): the same ledger, the same digest."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    fingerprint = sha256


# --- Measuring --------------------------------------------------------------------------------

def checked_examples(examples: Iterable[dict]) -> list[dict]:
    """The examples, each with id, text and entities whose offsets hold their text."""
    checked = []
    for number, example in enumerate(examples, start=1):
        name = example.get("id", f"example {number}") if isinstance(example, dict) else f"example {number}"
        if not isinstance(example, dict) or not isinstance(example.get("text"), str):
            raise InputError(f"{name}: an example needs a text")
        for span in example.get("entities") or []:
            try:
                start, end, label, text = int(span["start"]), int(span["end"]), str(span["label"]), span["text"]
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{name}: entity {span!r} needs start, end, label and text") from exc
            if example["text"][start:end] != text:
                raise InputError(f"{name}: entity {label} [{start}, {end}) is {example['text'][start:end]!r}, "
                                 f"not {text!r}")
        checked.append(example)
    return checked


def data_sha256(examples: list[dict]) -> str:
    rows = [[e.get("id"), e["text"], sorted([s["start"], s["end"], s["label"]] for s in e.get("entities") or [])]
            for e in examples]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def _in_original(doc, spans: list[Candidate]) -> list[Candidate]:
    return [span._replace(**dict(zip(("start", "end"), doc.norm.to_original(span.start, span.end))))
            for span in spans]


def tally(engine, examples: list[dict], batch_size: int = BATCH_SIZE) -> Tally:
    """One run of the engine (its ledger as it is) over the examples, texts in batches."""
    counted = Tally()
    for first in range(0, len(examples), batch_size):
        batch = examples[first:first + batch_size]
        for example, (doc, spans) in zip(batch, engine.spans_many([e["text"] for e in batch], record_proposals=True)):
            gold = {(s["start"], s["end"], s["label"]) for s in example.get("entities") or []}
            counted.add_document(gold, _in_original(doc, doc.proposed), _in_original(doc, spans))
    return counted


def _actions(counted: Tally, policy: Policy) -> dict[tuple[str, str], str]:
    return {pair: policy.action(c.proposed, c.proposed_right) for pair, c in counted.pairs.items()}


def _switched_off(actions: dict[tuple[str, str], str]) -> frozenset:
    return frozenset(pair for pair, action in actions.items() if action == "off")


def _switches_only(actions: dict[tuple[str, str], str], policy: Policy) -> Ledger:
    """A ledger that switches the pairs off and leaves every score as it is (for counting)."""
    return Ledger([SourceRecord(source, label, 0, 0, 0, 0, 0, action, [], "none", 0)
                   for (source, label), action in actions.items()], policy)


def _records(counted: Tally, actions: dict[tuple[str, str], str], policy: Policy) -> list[SourceRecord]:
    records = []
    for (source, label), c in counted.pairs.items():
        if c.scored:
            points, basis, spans = fit_points(c.scored, policy), "output", len(c.scored)
        else:
            points, basis, spans = [[0.0, round(smoothed(c.proposed_right, c.proposed), 4)]], "proposed", c.proposed
        records.append(SourceRecord(source, label, c.proposed, c.proposed_right, counted.gold[label],
                                    c.output, c.output_right, actions.get((source, label), "keep"), points, basis,
                                    spans))
    return records


def measure(engine, examples: Iterable[dict], min_spans: int = Policy.min_spans, off_below: float = Policy.off_below,
            down_below: float = Policy.down_below, calibration_min_spans: int = Policy.calibration_min_spans,
            batch_size: int = BATCH_SIZE) -> Ledger:
    """The ledger of the engine (as shipped: any ledger it has is set aside) on the examples
    (a release's examples.jsonl rows: {"id", "text", "entities": [{"start", "end", "label", "text"}]}).

    The engine runs again with the switch-offs decided so far until they no longer change: a
    list's, a rule's or the tagger's proposals do not depend on what else is switched off, but
    the derived sources' do (consistency spreads what came out; the org-title rule reads the ORG
    spans that came out), so they are judged on what they propose once the others are settled.
    The counts kept, and the calibrations, are those of that last run: its output is what the
    engine with this ledger outputs on these examples."""
    policy = Policy(min_spans=min_spans, off_below=off_below, down_below=down_below,
                    calibration_min_spans=calibration_min_spans)
    examples = checked_examples(examples)
    shipped = engine.with_ledger(None)
    counted = tally(shipped, examples, batch_size)
    labels_shipped = label_rows(counted)
    applied: dict[tuple[str, str], str] = {}  # the actions the last run was made with
    passes = 1
    while passes < MAX_PASSES and _switched_off(_actions(counted, policy)) != _switched_off(applied):
        applied = _actions(counted, policy)
        counted = tally(shipped.with_ledger(_switches_only(applied, policy)), examples, batch_size)
        passes += 1
    off = _switched_off(applied)  # a pair judged off only after the last run (no convergence) is down-weighted
    actions = {pair: "off" if pair in off else "keep" if action == "keep" else "down"
               for pair, action in _actions(counted, policy).items()}
    about = {"documents": len(examples), "data_sha256": data_sha256(examples), "engine": shipped.model_version,
             "passes": passes}
    return Ledger(_records(counted, actions, policy), policy, about, label_rows(counted), labels_shipped)
