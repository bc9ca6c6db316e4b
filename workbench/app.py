"""The Flask application factory, the API's bearer-token check and the one JSON error shape."""
from __future__ import annotations

import hmac
import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import Unauthorized, WorkbenchError
from .settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require("api_token")
    app = Flask(__name__)
    app.config.from_mapping(WORKBENCH=settings, JSON_AS_ASCII=False)
    app.json.ensure_ascii = False
    init_errors(app)
    from . import mlbackend, views, webhooks
    app.register_blueprint(views.health_bp)
    app.register_blueprint(views.api_bp)
    app.register_blueprint(mlbackend.ml_bp)
    webhooks.init_app(app)
    return app


def settings() -> Settings:
    return current_app.config["WORKBENCH"]


def require_token() -> None:
    """before_request hook of the /api blueprint: `Authorization: Bearer <WORKBENCH_API_TOKEN>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings().api_token
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API token: send Authorization: Bearer <WORKBENCH_API_TOKEN>",
                           errors={"Authorization": "invalid"})


def init_errors(app: Flask) -> None:
    @app.errorhandler(WorkbenchError)
    def _workbench_error(exc: WorkbenchError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return jsonify({"code": code, "status": exc.code, "message": exc.description, "errors": {}}), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return jsonify({"code": "internal_error", "status": 500,
                        "message": "internal error; see the bridge's log", "errors": {}}), 500
