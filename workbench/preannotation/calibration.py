"""Span scores as estimated precision: a monotone map from a raw score (a CRF marginal) to the
share of spans with that score that were right on held-out data (isotonic regression, fitted
by benchmarks/anercorp_cv.py on its cross-validation folds and stored in the model's .json).
The map is a list of (raw, calibrated) points, interpolated linearly, clipped at the ends."""
from __future__ import annotations

from bisect import bisect_right

BUCKET_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001)


class Calibration:
    def __init__(self, points: list[tuple[float, float]]):
        if not points:
            raise ValueError("a calibration needs at least one point")
        self.xs = [float(x) for x, _ in points]
        self.ys = [float(y) for _, y in points]
        if self.xs != sorted(self.xs) or self.ys != sorted(self.ys):
            raise ValueError("calibration points must increase")

    def __call__(self, score: float) -> float:
        k = bisect_right(self.xs, score)
        if k == 0:
            return self.ys[0]
        if k == len(self.xs):
            return self.ys[-1]
        x0, x1, y0, y1 = self.xs[k - 1], self.xs[k], self.ys[k - 1], self.ys[k]
        return y0 + (y1 - y0) * (score - x0) / (x1 - x0)

    def points(self) -> list[list[float]]:
        return [[round(x, 4), round(y, 4)] for x, y in zip(self.xs, self.ys)]


def fit_calibration(scores: list[float], correct: list[bool]) -> Calibration:
    """Isotonic regression of correctness on score, kept to its breakpoints."""
    from sklearn.isotonic import IsotonicRegression  # only when fitting
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, [float(c) for c in correct])
    return Calibration(list(zip(model.X_thresholds_, model.y_thresholds_)))


def precision_by_bucket(scores: list[float], correct: list[bool],
                        edges: tuple[float, ...] = BUCKET_EDGES) -> list[dict]:
    """One row per score range [low, high): how many spans, and the share of them that are right."""
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = [c for s, c in zip(scores, correct) if low <= s < high]
        if inside:
            rows.append({"low": low, "high": min(high, 1.0), "count": len(inside),
                         "precision": round(sum(inside) / len(inside), 3)})
    return rows
