"""The bridge's HTTP side, all in this package: the Flask application factory wires the
blueprints (api.py: health, articles, status and the release feed; webhooks.py: Label Studio's
events; ml.py: the ML-backend protocol; dashboard.py: the HTML pages) and the one JSON error
shape (errors.py). Nothing outside this package imports Flask."""
from __future__ import annotations

from flask import Flask

from ..settings import Settings, load_settings
from . import api, dashboard, errors, ml, openapi, webhooks


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require("api_token")
    app = Flask(__name__)
    app.config.from_mapping(WORKBENCH=settings, JSON_AS_ASCII=False, MAX_CONTENT_LENGTH=settings.max_request_bytes)
    app.json.ensure_ascii = False
    errors.init_app(app)
    api.init_app(app)
    ml.init_app(app)
    webhooks.init_app(app)
    openapi.init_app(app)
    dashboard.init_app(app)
    return app


__all__ = ["create_app"]
