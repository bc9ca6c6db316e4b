"""POST /webhooks/label-studio: Label Studio's annotation events trigger a pull of the tasks they
name. Label Studio sends each event once, with a 1 s timeout and no retry, and signs nothing: the
handler checks the shared-secret header it was registered with, queues a pull job in the jobs table
(workbench/jobs.py; coalesced with a queued one) and answers at once; a job worker runs it. A lost
event is caught by the next incremental pull."""
from __future__ import annotations

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Flask, current_app, request

from .. import jobs
from ..errors import ConfigError, InputError, Unauthorized
from ..tasks import WEBHOOK_SECRET_HEADER
from .body import MALFORMED, json_object
from .context import settings

log = logging.getLogger(__name__)
EVENT_SHAPE = "a Label Studio event must be a JSON object with an action"
webhooks_bp = Blueprint("webhooks", __name__)


def init_app(app: Flask) -> None:
    # drains the jobs table in this process after each enqueue (any other worker may claim first)
    app.extensions["workbench_pulls"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-pull")
    app.register_blueprint(webhooks_bp)


def ids_in_event(event: dict) -> tuple[list[int], list[int]]:
    """(task ids, deleted annotation ids) named by a Label Studio annotation event, or InputError
    naming each malformed field (an id that is not a positive integer, a list where an object goes)."""
    task_ids, annotation_ids, problems = [], [], {}
    task = event.get("task")  # ANNOTATIONS_CREATED: a list of tasks
    for name, item in (enumerate_named("task", task) if isinstance(task, list) else [("task", task)]):
        if isinstance(item, dict):
            if "id" in item:
                _collect_id(item["id"], f"{name}.id", task_ids, problems)
        elif item is not None:
            problems[name] = "not an object"
    annotation = event.get("annotation")  # ANNOTATIONS_CREATED: a list of annotations
    if isinstance(annotation, list):
        for name, item in enumerate_named("annotation", annotation):
            _collect_annotation_task(item, name, task_ids, problems)
    elif annotation is not None:
        _collect_annotation_task(annotation, "annotation", task_ids, problems)
    deleted = event.get("annotations")  # ANNOTATIONS_DELETED: ids only, no task
    if isinstance(deleted, list):
        for name, item in enumerate_named("annotations", deleted):
            if not isinstance(item, dict):
                problems[name] = "not an object"
            else:
                _collect_id(item.get("id"), f"{name}.id", annotation_ids, problems)
    elif deleted is not None:
        problems["annotations"] = "not a list"
    if problems:
        raise InputError(f"malformed Label Studio event: {', '.join(problems)}", errors=problems,
                         status=MALFORMED)
    return sorted(set(task_ids)), sorted(set(annotation_ids))


def enumerate_named(name: str, items: list):
    """(`name[i]`, item) for each item: the field names errors are reported under."""
    return ((f"{name}[{index}]", item) for index, item in enumerate(items))


def _collect_annotation_task(annotation, name: str, task_ids: list, problems: dict) -> None:
    if not isinstance(annotation, dict):
        problems[name] = "not an object"
        return
    task = annotation.get("task")
    if isinstance(task, dict):
        if "id" in task:
            _collect_id(task["id"], f"{name}.task.id", task_ids, problems)
    elif task is not None:
        _collect_id(task, f"{name}.task", task_ids, problems)


def _collect_id(value, name: str, ids: list, problems: dict) -> None:
    if type(value) is int and value > 0:  # not bool, which is an int to Python
        ids.append(value)
    else:
        problems[name] = "missing" if value is None else "not a positive integer"


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
    event = json_object(EVENT_SHAPE)
    if "action" not in event:
        raise InputError(EVENT_SHAPE, errors={"action": "missing"}, status=MALFORMED)
    if not isinstance(event["action"], str):
        raise InputError(EVENT_SHAPE, errors={"action": "not a string"}, status=MALFORMED)
    task_ids, annotation_ids = ids_in_event(event)
    if task_ids or annotation_ids:
        jobs.enqueue_pull(settings(), task_ids, annotation_ids)
        current_app.extensions["workbench_pulls"].submit(jobs.run_pending, settings())
    return {"action": event["action"], "queued_tasks": task_ids, "queued_deleted_annotations": annotation_ids}, 202
