"""GET /dashboard: server-rendered pages (Jinja templates in templates/, right-to-left) over the
figures of workbench/stats.py, with matplotlib charts drawn here as inline SVG.

Access needs the API token, either as `Authorization: Bearer <token>` or through the login form,
which keeps a signed session cookie (HttpOnly, SameSite=Lax; the key is derived from the token,
so changing the token ends every session). Without either a page redirects to the login form."""
from __future__ import annotations

import hashlib
import hmac
import io
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from matplotlib import rc_context
from matplotlib.figure import Figure

from .. import stats
from .context import bearer_token_matches, settings, token_matches

dashboard_bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
SESSION_KEY = "dashboard"
PAGES = (("progress", "التقدّم"), ("annotators", "المُوسِّمون"), ("agreement", "الاتفاق"),
         ("quality", "جودة التوسيم المسبق"), ("versions", "الإصدارات"))
PUBLIC = ("dashboard.login", "dashboard.login_form")
PALETTE = ("#4363d8", "#f58231", "#3cb44b", "#911eb4", "#e6194b", "#008080", "#808000")


def init_app(app: Flask) -> None:
    token = app.config["WORKBENCH"].api_token
    app.secret_key = app.secret_key or hmac.new(token.encode(), b"workbench dashboard session",
                                                hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_PATH="/dashboard")
    app.register_blueprint(dashboard_bp)


@dashboard_bp.before_request
def require_login():
    if request.endpoint in PUBLIC or session.get(SESSION_KEY) or bearer_token_matches():
        return None
    return redirect(url_for("dashboard.login_form", next=request.full_path.rstrip("?")))


@dashboard_bp.context_processor
def navigation():
    return {"pages": PAGES, "logged_in": bool(session.get(SESSION_KEY))}


@dashboard_bp.get("/login")
def login_form():
    return render_template("dashboard/login.html", title="الدخول", error=None, next=_safe_next())


@dashboard_bp.post("/login")
def login():
    if not token_matches(request.form.get("token")):
        return render_template("dashboard/login.html", title="الدخول", next=_safe_next(),
                               error="رمز الوصول غير صحيح (WORKBENCH_API_TOKEN)"), 401
    session.clear()
    session[SESSION_KEY] = True
    return redirect(_safe_next())


@dashboard_bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("dashboard.login_form"))


def _safe_next() -> str:
    """Where to go after logging in: only a path of the dashboard itself (never another site)."""
    target = request.values.get("next") or ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard") or target.startswith("//"):
        return url_for("dashboard.progress")
    return target


# --- pages -------------------------------------------------------------------------------------

@dashboard_bp.get("")
def progress():
    figures = stats.collect(settings(), ("progress",))["progress"]
    counts, timeline = figures["counts"], figures["timeline"]
    charts = [bar_chart("Pipeline counts (workbench status)", list(counts), {"count": list(counts.values())})]
    if timeline:
        charts.append(line_chart("Running totals per day", [row["date"] for row in timeline],
                                 {name: [row[name] for row in timeline] for name in stats.TIMELINE_SERIES}))
    if figures["waiting_reasons"]:
        reasons = figures["waiting_reasons"]
        charts.append(bar_chart("Waiting tasks by reason", list(reasons), {"tasks": list(reasons.values())}))
    return _page("progress", figures=figures, charts=charts)


@dashboard_bp.get("/annotators")
def annotators():
    rows = stats.collect(settings(), ("annotators",))["annotators"]
    charts = [bar_chart("Tasks per annotator", [r["annotator"] for r in rows],
                        {"tasks": [r["tasks"] for r in rows], "accepted": [r["accepted"] for r in rows]})] if rows else []
    return _page("annotators", rows=rows, charts=charts)


@dashboard_bp.get("/agreement")
def agreement():
    report = stats.collect(settings(), ("agreement",))["agreement"]
    charts = []
    pairs = report["span_f1"]
    if pairs:
        labels = sorted({label for pair in pairs.values() for label in pair["exact"]})
        charts.append(bar_chart("Exact span F1 per label and annotator pair", labels,
                                {pair: [scores["exact"].get(label, 0.0) for label in labels]
                                 for pair, scores in pairs.items()}, limit=1.0))
    alphas = {t: a for t, a in report["stance_alpha"].items() if a is not None}
    if alphas:
        charts.append(bar_chart("Krippendorff's alpha per stance target", list(alphas),
                                {"alpha": list(alphas.values())}, limit=1.0))
    return _page("agreement", report=report, charts=charts)


@dashboard_bp.get("/quality")
def quality():
    rows = stats.collect(settings(), ("quality",))["quality"]
    charts = []
    for row in rows:
        labels = list(row["labels"])
        charts.append(bar_chart(f"{row['model_version']}: precision and recall per label", labels,
                                {k: [row["labels"][label][k] or 0.0 for label in labels]
                                 for k in ("precision", "recall")}, limit=1.0))
    if rows:
        charts.append(bar_chart("Correction effort per model version (spans)", list(stats.CORRECTIONS),
                                {row["model_version"]: [row["corrections"][k] for k in stats.CORRECTIONS]
                                 for row in rows}))
    return _page("quality", rows=rows, charts=charts)


@dashboard_bp.get("/versions")
def versions():
    rows = stats.collect(settings(), ("versions",))["versions"]
    intact = [r for r in rows if not r["broken"]]
    charts = []
    if intact:
        labels = sorted({label for r in intact for label in r["entity_labels"]})
        charts.append(bar_chart("Examples per release", [r["version"] for r in intact],
                                {"examples": [r["examples"] for r in intact]}))
        if labels:
            charts.append(bar_chart("Entity spans per label and release", labels,
                                    {r["version"]: [r["entity_labels"].get(label, 0) for label in labels]
                                     for r in intact}))
    return _page("versions", rows=rows, charts=charts)


def _page(name: str, **context):
    title = dict(PAGES)[name]
    return render_template(f"dashboard/{name}.html", page=name, title=title, **context)


# --- charts: matplotlib, text kept as SVG text so the browser shapes Arabic -----------------------

def bar_chart(title: str, categories: list[str], series: dict[str, list[float]], limit: float | None = None) -> str:
    """Horizontal bars, one group per category and one bar per series; inline SVG."""
    figure = Figure(figsize=(8, max(2.2, 0.9 + 0.32 * len(categories) * max(1, len(series)))))
    axes = figure.add_subplot()
    height = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        positions = [c + (i - (len(series) - 1) / 2) * height for c in range(len(categories))]
        bars = axes.barh(positions, values, height=height * 0.95, label=str(name), color=PALETTE[i % len(PALETTE)])
        axes.bar_label(bars, fmt="%g", padding=3, fontsize=8)
    axes.set_yticks(range(len(categories)), [str(c) for c in categories])
    axes.invert_yaxis()
    if limit is not None:
        axes.set_xlim(0, limit * 1.12)
    if len(series) > 1:
        axes.legend(fontsize=8, loc="best")
    return _svg(figure, axes, title)


def line_chart(title: str, x: list[str], series: dict[str, list[float]]) -> str:
    figure = Figure(figsize=(8, 3.2))
    axes = figure.add_subplot()
    for i, (name, values) in enumerate(series.items()):
        axes.plot(x, values, marker="o", label=name, color=PALETTE[i % len(PALETTE)])
    axes.legend(fontsize=8, loc="upper left")
    axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    return _svg(figure, axes, title)


def _svg(figure: Figure, axes, title: str) -> str:
    axes.set_title(title, fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    figure.set_layout_engine("tight")
    out = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(out, format="svg")
    text = out.getvalue()
    return text[text.index("<svg"):]
