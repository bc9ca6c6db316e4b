"""Inter-annotator agreement: span F1 between two annotations (exact or overlapping ranges),
Krippendorff's alpha for nominal labels, and the agreement report written into every release.

Spans are dicts with at least "start", "end" and "label". F1 is symmetric, so neither side of
a pair is treated as the gold one."""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations

MODES = ("exact", "overlap")
LOW_AGREEMENT_F1 = 0.8


def match_counts(a: list[dict], b: list[dict], mode: str = "exact",
                 labels: list[str] | None = None) -> tuple[int, int, int]:
    """(matched pairs, spans in a, spans in b); each span is matched at most once."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if labels is not None:
        a = [s for s in a if s["label"] in labels]
        b = [s for s in b if s["label"] in labels]
    matched = _exact_matches(a, b) if mode == "exact" else _overlap_matches(a, b)
    return matched, len(a), len(b)


def _exact_matches(a: list[dict], b: list[dict]) -> int:
    key = lambda s: (s["start"], s["end"], s["label"])  # noqa: E731
    return sum((Counter(map(key, a)) & Counter(map(key, b))).values())


def _overlap_matches(a: list[dict], b: list[dict]) -> int:
    """Greedy one-to-one matching in reading order; same label and intersecting ranges."""
    unused = sorted(b, key=lambda s: (s["start"], s["end"]))
    matched = 0
    for span in sorted(a, key=lambda s: (s["start"], s["end"])):
        for i, other in enumerate(unused):
            if other["label"] == span["label"] and other["start"] < span["end"] and span["start"] < other["end"]:
                del unused[i]
                matched += 1
                break
    return matched


def f1_from_counts(matched: int, n_a: int, n_b: int) -> float:
    return 1.0 if n_a + n_b == 0 else 2 * matched / (n_a + n_b)


def span_f1(a: list[dict], b: list[dict], mode: str = "exact", labels: list[str] | None = None) -> float:
    """F1 between two annotators' spans; 1.0 when both are empty."""
    return f1_from_counts(*match_counts(a, b, mode, labels))


def per_label_f1(a: list[dict], b: list[dict], mode: str = "exact") -> dict[str, float]:
    """span_f1 for each label found on either side."""
    labels = sorted({s["label"] for s in a} | {s["label"] for s in b})
    return {label: span_f1(a, b, mode, [label]) for label in labels}


def krippendorff_alpha_nominal(units: list[list[str | None]]) -> float | None:
    """Krippendorff's alpha for nominal data. `units` holds one list of labels per item (None =
    missing). Items with fewer than two labels cannot be paired and are ignored. None when alpha
    is undefined: no pairable item, or a single category overall (no expected disagreement)."""
    coincidences: Counter = Counter()
    for unit in units:
        values = [v for v in unit if v is not None]
        if len(values) < 2:
            continue
        for (c, k) in ((c, k) for i, c in enumerate(values) for j, k in enumerate(values) if i != j):
            coincidences[c, k] += 1 / (len(values) - 1)
    totals: Counter = Counter()
    for (c, _k), weight in coincidences.items():
        totals[c] += weight
    n = sum(totals.values())
    expected = n * n - sum(t * t for t in totals.values())
    if n <= 1 or expected <= 1e-12:
        return None
    observed = sum(w for (c, k), w in coincidences.items() if c != k)
    return 1 - (n - 1) * observed / expected


def release_agreement(tasks: Iterable[dict], targets: list[str], threshold: float = LOW_AGREEMENT_F1) -> dict:
    """The agreement report of a release. Each task is {"task_id", "article_id", "annotations":
    [{"annotator", "annotation_id", "entities", "stance"}]}; only tasks with two or more
    annotations contribute."""
    pair_counts: dict = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    stance_units: dict[str, list] = {t: [] for t in targets}
    low, multi = [], 0
    for task in tasks:
        annotations = task["annotations"]
        if len(annotations) < 2:
            continue
        multi += 1
        worst = _add_pairs(annotations, pair_counts)
        for target in targets:
            stance_units[target].append([a["stance"].get(target) for a in annotations])
        disagreeing = [t for t in targets if len({a["stance"].get(t) for a in annotations}) > 1]
        if worst < threshold or disagreeing:
            low.append({"task_id": task["task_id"], "article_id": task["article_id"],
                        "min_exact_f1": round(worst, 4), "stance_disagreement": disagreeing,
                        "annotation_ids": [a["annotation_id"] for a in annotations]})
    return {"tasks_with_multiple_annotations": multi, "low_agreement_threshold": threshold,
            "span_f1": _pair_report(pair_counts),
            "stance_alpha": {t: _rounded(krippendorff_alpha_nominal(u)) for t, u in stance_units.items()},
            "low_agreement_tasks": low}


def _add_pairs(annotations: list[dict], pair_counts: dict) -> float:
    """Adds every annotation pair's counts per (annotator pair, mode, label); returns the
    task's lowest exact F1 over all labels."""
    worst = 1.0
    for x, y in combinations(annotations, 2):
        (x, y) = sorted((x, y), key=lambda a: str(a["annotator"]))
        pair = f"{x['annotator']} | {y['annotator']}"
        labels = sorted({s["label"] for s in x["entities"]} | {s["label"] for s in y["entities"]})
        for mode in MODES:
            for label in labels + [None]:
                counts = match_counts(x["entities"], y["entities"], mode, None if label is None else [label])
                total = pair_counts[pair][mode, label or "ALL"]
                for i in range(3):
                    total[i] += counts[i]
        worst = min(worst, span_f1(x["entities"], y["entities"], "exact"))
    return worst


def _pair_report(pair_counts: dict) -> dict:
    report = {}
    for pair, by_key in sorted(pair_counts.items()):
        report[pair] = {mode: {label: round(f1_from_counts(*counts), 4)
                               for (m, label), counts in sorted(by_key.items()) if m == mode} for mode in MODES}
    return report


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
