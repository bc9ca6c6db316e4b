"""The Label Studio ML-backend protocol, served by the bridge under /ml, so a project can connect
the bridge as its model and ask for predictions on demand: GET /ml/health, POST /ml/setup,
POST /ml/predict (one result per task, in order) and POST /ml/webhook.

Label Studio authenticates with HTTP Basic auth (any user name, WORKBENCH_API_TOKEN as the
password) or a bearer token. It sends its own API token to /setup: that body is never logged."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, request

from ..errors import InputError, Unauthorized
from ..preannotate import configured_preannotator, model_choice
from ..preannotation.base import annotate_all
from ..scheme import load_scheme
from ..tasks import prediction_result
from .body import MALFORMED, json_object
from .context import settings

ml_bp = Blueprint("ml", __name__, url_prefix="/ml")
PREDICT_SHAPE = "the body must be JSON with a list of tasks"


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
    """The app's pre-annotator for its settings, the scheme's targets and the model they choose now
    (a promotion or rollback is picked up at the next request); built once per choice."""
    cache = current_app.extensions.setdefault("workbench_annotators", {})
    targets = tuple(load_scheme(settings().tasks_dir).target_names)
    key = (targets, model_choice(settings()))
    if key not in cache:
        cache.clear()  # the previous model is not used again: let it go
        cache[key] = configured_preannotator(settings(), list(targets))
    return cache[key]


def predict_tasks(tasks: list[dict]) -> list[dict]:
    """One prediction per task, in order, for tasks as Label Studio sends them ({"id", "data": {"text"}})."""
    texts = task_texts(tasks, settings().max_article_bytes)
    scheme = load_scheme(settings().tasks_dir)
    annotator = current_annotator()
    results = []
    for text, prediction in annotate_all(annotator, texts):
        results.append({"result": prediction_result(text, prediction.entities, prediction.stance, scheme),
                        "score": round(prediction.score, 4), "model_version": annotator.model_version})
    return results


def task_texts(tasks: list, max_bytes: int) -> list[str]:
    """Each task's data.text, or InputError naming every malformed task field."""
    texts, problems = [], {}
    for index, task in enumerate(tasks):
        name = f"tasks[{index}]"
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(task, dict):
            problems[name] = "not an object"
        elif not isinstance(data, dict):
            problems[f"{name}.data"] = "missing" if data is None else "not an object"
        elif not isinstance(text, str):
            problems[f"{name}.data.text"] = "missing" if text is None else "not a string"
        elif len(text.encode("utf-8")) > max_bytes:
            problems[f"{name}.data.text"] = f"over {max_bytes} bytes (WORKBENCH_MAX_ARTICLE_BYTES)"
        else:
            texts.append(text)
    if problems:
        raise InputError(f"malformed task(s): {', '.join(problems)}", errors=problems, status=MALFORMED)
    return texts


@ml_bp.get("/health")
def health():
    return {"status": "UP", "model_class": "workbench", "model_version": current_annotator().model_version}


@ml_bp.post("/setup")
def setup():
    json_object("Label Studio's /setup body is a JSON object")  # it holds Label Studio's token: never logged
    return {"model_version": current_annotator().model_version}


@ml_bp.post("/predict")
def predict():
    body = json_object(PREDICT_SHAPE)
    if not isinstance(body.get("tasks"), list):
        raise InputError(PREDICT_SHAPE, errors={"tasks": "missing" if body.get("tasks") is None else "not a list"},
                         status=MALFORMED)
    return {"results": predict_tasks(body["tasks"]), "model_version": current_annotator().model_version}


@ml_bp.post("/webhook")
def webhook():
    # Training events: the bridge trains from releases, not from Label Studio's events.
    action = json_object("a training event is a JSON object with an action").get("action")
    if action is not None and not isinstance(action, str):
        raise InputError("a training event's action is a string", errors={"action": "not a string"},
                         status=MALFORMED)
    return {"status": "ok", "ignored": action}
