"""The one JSON error shape on the wire: every failure is `{"code", "status", "message", "errors"}`
(workbench/errors.py defines it; this module renders it for HTTP)."""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import WorkbenchError

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(WorkbenchError)
    def _workbench_error(exc: WorkbenchError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return jsonify({"code": code, "status": exc.code, "message": exc.description, "errors": {}}), exc.code

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return jsonify({"code": "payload_too_large", "status": 413,
                        "message": f"the request body is over the limit of {limit} bytes "
                                   "(WORKBENCH_MAX_REQUEST_BYTES); send fewer articles per request",
                        "errors": {"body": f"over {limit} bytes"}}), 413

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return jsonify({"code": "internal_error", "status": 500,
                        "message": "internal error; see the bridge's log", "errors": {}}), 500
