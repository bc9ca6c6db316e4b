"""The one error contract: every failure the bridge reports has a code, a status, a message
and, where it helps, the offending fields. The API renders it as JSON, the CLI as a message
and a non-zero exit."""
from __future__ import annotations


class WorkbenchError(Exception):
    code = "workbench_error"
    status = 400

    def __init__(self, message: str, *, errors: dict | list | None = None,
                 code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self) -> dict:
        return {"code": self.code, "status": self.status,
                "message": self.message, "errors": self.errors}


class ConfigError(WorkbenchError):
    code = "invalid_setting"
    status = 500


class InputError(WorkbenchError):
    code = "invalid_input"
    status = 422


class NotFound(WorkbenchError):
    code = "not_found"
    status = 404


class Unauthorized(WorkbenchError):
    code = "unauthorized"
    status = 401


class LabelStudioError(WorkbenchError):
    code = "label_studio_error"
    status = 502


class OffsetError(WorkbenchError):
    code = "offset_mismatch"
    status = 422


class IntegrityError(InputError):
    """A released version that is not what was released: a file changed, missing or a symlink, or a
    manifest that cannot be read. An InputError (the CLI exits 1), answered 409 over HTTP."""
    code = "integrity_error"
    status = 409
