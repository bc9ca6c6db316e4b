"""The only module that talks to Label Studio (and the only one importing label_studio_sdk).

Every SDK or network failure leaves here as a LabelStudioError that says what to fix."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from contextlib import contextmanager

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from .errors import LabelStudioError

TIMEOUT_SECONDS = 120


class LabelStudioClient:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=TIMEOUT_SECONDS)
        self._sdk = LabelStudio(base_url=self.url, api_key=token, httpx_client=self._http)

    def __enter__(self) -> "LabelStudioClient":
        return self

    def __exit__(self, *_exc) -> None:
        self._http.close()

    @contextmanager
    def _call(self, doing: str):
        try:
            yield
        except httpx.TransportError as exc:
            raise LabelStudioError(
                f"cannot reach Label Studio at {self.url} while {doing}: {exc} "
                "(check WORKBENCH_LABEL_STUDIO_URL and that the server runs)",
                errors={"WORKBENCH_LABEL_STUDIO_URL": self.url})
        except ApiError as exc:
            raise _api_error(exc, doing, self.url)

    def whoami(self) -> dict:
        with self._call("checking the API token"):
            return self._sdk.users.whoami().dict()

    def find_project(self, title: str) -> int | None:
        with self._call("listing projects"):
            for project in self._sdk.projects.list(title=title):
                if project.title == title:
                    return project.id
        return None

    def project_exists(self, project_id: int) -> bool:
        try:
            with self._call(f"reading project {project_id}"):
                self._sdk.projects.get(id=project_id)
            return True
        except LabelStudioError as exc:
            if exc.errors.get("status") == 404:
                return False
            raise

    def create_project(self, title: str, label_config: str, instructions: str) -> int:
        with self._call("creating the project"):
            project = self._sdk.projects.create(
                title=title, label_config=label_config, expert_instruction=instructions,
                show_instruction=True, show_skip_button=True)
        return project.id

    def update_project(self, project_id: int, label_config: str, instructions: str) -> None:
        with self._call(f"updating project {project_id}"):
            self._sdk.projects.update(id=project_id, label_config=label_config,
                                      expert_instruction=instructions, show_instruction=True)

    def set_overlap(self, project_id: int, annotators: int, percentage: int) -> dict:
        """Label Studio's own overlap (the Community Edition enforces it, verified with 1.23.2): it
        gives `percentage` % of the project's tasks (re-drawn at every import and change) an overlap
        of `annotators`, and its label stream serves such a task to that many different people
        before it counts as labelled. Returns the project's fields as the server stored them."""
        with self._call(f"setting the overlap of project {project_id}"):
            project = self._sdk.projects.update(id=project_id, maximum_annotations=annotators,
                                                overlap_cohort_percentage=percentage)
        return {"maximum_annotations": project.maximum_annotations,
                "overlap_cohort_percentage": project.overlap_cohort_percentage}

    def import_tasks(self, project_id: int, tasks: list[dict]) -> list[int]:
        with self._call(f"importing {len(tasks)} tasks into project {project_id}"):
            response = self._sdk.projects.import_tasks(id=project_id, request=tasks, return_task_ids=True)
        return list(response.task_ids or [])

    def create_prediction(self, task_id: int, result: list[dict], score: float, model_version: str) -> int:
        with self._call(f"adding a prediction to task {task_id}"):
            return self._sdk.predictions.create(task=task_id, result=result, score=score,
                                                model_version=model_version).id

    def iter_tasks(self, project_id: int, updated_after: str | None = None, page_size: int = 100,
                   annotated_only: bool = False, include: tuple[str, ...] | None = None) -> Iterator[dict]:
        """Every task of the project, or those updated after a `%Y-%m-%dT%H:%M:%S.%fZ` time, or
        (annotated_only) those with a submitted or skipped annotation, as plain dicts: every field
        (data, predictions, annotations), or only the `include`d ones (faster; but then Label Studio
        gives each annotation as its id only)."""
        if updated_after and annotated_only:
            raise ValueError("iter_tasks: updated_after or annotated_only, not both")
        items, conjunction = [], "and"
        if updated_after:
            items = [{"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
                      "value": updated_after}]
        if annotated_only:  # the Community Edition ignores the API's only_annotated flag
            items, conjunction = [{"filter": f"filter:tasks:{column}", "operator": "greater", "type": "Number",
                                   "value": 0} for column in ("total_annotations", "cancelled_annotations")], "or"
        query = json.dumps({"filters": {"conjunction": conjunction, "items": items}}) if items else None
        with self._call(f"listing tasks of project {project_id}"):
            for task in self._sdk.tasks.list(project=project_id, fields="all", page_size=page_size, query=query,
                                             include=",".join(include) if include else None):
                dumped = task.model_dump(mode="json")
                yield {k: dumped.get(k) for k in include} if include else dumped

    def server_time(self) -> datetime:
        """Label Studio's own clock (its HTTP Date header, to the second)."""
        with self._call("reading the server time"):
            response = self._http.get(f"{self.url}/health")
        return parsedate_to_datetime(response.headers["date"]).astimezone(timezone.utc)

    def get_task(self, task_id: int) -> dict | None:
        try:
            with self._call(f"reading task {task_id}"):
                return self._sdk.tasks.get(id=str(task_id)).model_dump(mode="json")
        except LabelStudioError as exc:
            if exc.errors.get("status") == 404:
                return None
            raise

    def set_model_version(self, project_id: int, model_version: str, sampling: str | None = None) -> None:
        """Which predictions Label Studio shows annotators as pre-annotations, and optionally how it
        orders the annotators' queue (`sampling`: Label Studio's Project.sampling value)."""
        fields = {"sampling": sampling} if sampling else {}
        with self._call(f"setting the model version of project {project_id}"):
            self._sdk.projects.update(id=project_id, model_version=model_version, show_collab_predictions=True,
                                      **fields)

    def ensure_webhook(self, project_id: int, url: str, headers: dict, actions: list[str]) -> int:
        """The project's webhook to `url`, created or updated so it carries `headers` and `actions`."""
        with self._call(f"registering the webhook of project {project_id}"):
            for hook in self._sdk.webhooks.list(project=str(project_id)):
                if hook.url == url:
                    self._sdk.webhooks.update(id=hook.id, url=url, headers=headers, actions=actions,
                                              send_payload=True, send_for_all_actions=False, is_active=True)
                    return hook.id
            return self._sdk.webhooks.create(project=project_id, url=url, headers=headers, actions=actions,
                                             send_payload=True, send_for_all_actions=False, is_active=True).id


def _api_error(exc: ApiError, doing: str, url: str) -> LabelStudioError:
    body = exc.body if isinstance(exc.body, dict) else {"detail": str(exc.body)[:500]}
    detail = body.get("validation_errors") or body.get("detail") or body
    errors = {"status": exc.status_code, "detail": detail}
    if exc.status_code == 401:
        return LabelStudioError(
            f"Label Studio at {url} rejected the API token while {doing} "
            "(check WORKBENCH_LABEL_STUDIO_TOKEN; the server needs LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true "
            "for legacy tokens)", errors={**errors, "WORKBENCH_LABEL_STUDIO_TOKEN": "rejected"})
    if exc.status_code == 400 and isinstance(detail, dict) and "label_config" in detail:
        problem = "; ".join(map(str, detail["label_config"]))
        return LabelStudioError(f"Label Studio refused the labeling config (tasks/) while {doing}: {problem}",
                                errors={**errors, "label_config": problem}, code="invalid_label_config")
    return LabelStudioError(f"Label Studio answered {exc.status_code} while {doing}: {detail}", errors=errors)
