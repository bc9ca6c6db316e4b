"""POST /webhooks/label-studio: Label Studio's annotation events trigger a pull of the tasks they
name. Label Studio sends each event once, with a 1 s timeout and no retry, and signs nothing: the
handler checks the shared-secret header it was registered with, queues the pull on a background
worker and answers at once. A lost event is caught by the next incremental pull."""
from __future__ import annotations

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Flask, current_app, request

from .. import workflow
from ..errors import ConfigError, InputError, Unauthorized
from ..tasks import WEBHOOK_SECRET_HEADER
from .context import settings

log = logging.getLogger(__name__)
webhooks_bp = Blueprint("webhooks", __name__)
WEBHOOK_PULL_WAIT_SECONDS = 600.0


def init_app(app: Flask) -> None:
    app.extensions["workbench_pulls"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-pull")
    app.register_blueprint(webhooks_bp)


def ids_in_event(event: dict) -> tuple[list[int], list[int]]:
    """(task ids, deleted annotation ids) named by a Label Studio annotation event."""
    task_ids, annotation_ids = [], []
    if isinstance(event.get("task"), dict) and "id" in event["task"]:
        task_ids.append(event["task"]["id"])
    annotations = event.get("annotation")
    for annotation in annotations if isinstance(annotations, list) else [annotations]:
        if isinstance(annotation, dict):
            task = annotation.get("task")
            task_ids.append(task["id"] if isinstance(task, dict) else task)
    for annotation in event.get("annotations") or []:  # ANNOTATIONS_DELETED: ids only, no task
        if isinstance(annotation, dict) and "id" in annotation:
            annotation_ids.append(annotation["id"])
    return sorted({t for t in task_ids if isinstance(t, int)}), sorted(set(annotation_ids))


def _pull_in_background(app_settings, task_ids, annotation_ids):
    try:
        # behind a running CLI pull of the project, wait for it rather than lose the event
        workflow.pull(app_settings, task_ids=task_ids, annotation_ids=annotation_ids, wait=WEBHOOK_PULL_WAIT_SECONDS)
    except Exception:  # the next scheduled pull catches up; the event must not take the worker down
        log.exception("webhook pull of tasks %s / annotations %s failed", task_ids, annotation_ids)


@webhooks_bp.post("/webhooks/label-studio")
def label_studio_event():
    secret = settings().webhook_secret
    if not secret:
        raise ConfigError("WORKBENCH_WEBHOOK_SECRET is not set, so webhooks are refused",
                          errors={"WORKBENCH_WEBHOOK_SECRET": "missing"}, status=503)
    given = request.headers.get(WEBHOOK_SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Unauthorized(f"missing or wrong {WEBHOOK_SECRET_HEADER} header",
                           errors={WEBHOOK_SECRET_HEADER: "invalid"})
    event = request.get_json(silent=True)
    if not isinstance(event, dict) or "action" not in event:
        raise InputError("a Label Studio event must be a JSON object with an action", errors={"action": "missing"})
    task_ids, annotation_ids = ids_in_event(event)
    if task_ids or annotation_ids:
        current_app.extensions["workbench_pulls"].submit(_pull_in_background, settings(), task_ids, annotation_ids)
    return {"action": event["action"], "queued_tasks": task_ids, "queued_deleted_annotations": annotation_ids}, 202
