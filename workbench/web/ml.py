"""The Label Studio ML-backend protocol, served by the bridge under /ml, so a project can connect
the bridge as its model and ask for predictions on demand: GET /ml/health, POST /ml/setup,
POST /ml/predict (one result per task, in order) and POST /ml/webhook.

Label Studio authenticates with HTTP Basic auth (any user name, WORKBENCH_API_TOKEN as the
password) or a bearer token. It sends its own API token to /setup: that body is never logged."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, request

from ..errors import InputError, Unauthorized
from ..preannotation.base import annotate_all
from ..preannotation.configured import configured_preannotator
from ..scheme import load_scheme
from ..tasks import prediction_result
from .context import settings

ml_bp = Blueprint("ml", __name__, url_prefix="/ml")


def init_app(app) -> None:
    app.register_blueprint(ml_bp)


@ml_bp.before_request
def require_ml_auth() -> None:
    expected = settings().api_token.encode()
    auth = request.authorization
    given = (auth.password or auth.token or "") if auth else ""
    if not given or not hmac.compare_digest(given.encode(), expected):
        raise Unauthorized("the ML backend needs Basic auth with WORKBENCH_API_TOKEN as the password, "
                           "or Authorization: Bearer <WORKBENCH_API_TOKEN>", errors={"Authorization": "invalid"})


def current_annotator():
    """The app's pre-annotator, built once per app from its settings and the scheme's targets."""
    cache = current_app.extensions.setdefault("workbench_annotators", {})
    targets = tuple(load_scheme(settings().tasks_dir).target_names)
    if targets not in cache:
        cache[targets] = configured_preannotator(settings(), list(targets))
    return cache[targets]


def predict_tasks(tasks: list[dict]) -> list[dict]:
    """One prediction per task, in order, for tasks as Label Studio sends them ({"id", "data": {"text"}})."""
    scheme = load_scheme(settings().tasks_dir)
    annotator = current_annotator()
    texts = []
    for index, task in enumerate(tasks):
        text = (task.get("data") or {}).get("text") if isinstance(task, dict) else None
        if not isinstance(text, str):
            raise InputError(f"task {index} has no data.text", errors={f"tasks[{index}].data.text": "missing"})
        texts.append(text)
    results = []
    for text, prediction in annotate_all(annotator, texts):
        results.append({"result": prediction_result(text, prediction.entities, prediction.stance, scheme),
                        "score": round(prediction.score, 4), "model_version": annotator.model_version})
    return results


@ml_bp.get("/health")
def health():
    return {"status": "UP", "model_class": "workbench", "model_version": current_annotator().model_version}


@ml_bp.post("/setup")
def setup():
    return {"model_version": current_annotator().model_version}


@ml_bp.post("/predict")
def predict():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("tasks"), list):
        raise InputError("the body must be JSON with a list of tasks", errors={"tasks": "missing"})
    return {"results": predict_tasks(body["tasks"]), "model_version": current_annotator().model_version}


@ml_bp.post("/webhook")
def webhook():
    # Training events: the bridge trains from releases, not from Label Studio's events.
    return {"status": "ok", "ignored": (request.get_json(silent=True) or {}).get("action")}
