"""Running the bridge's HTTP server (`workbench serve`)."""
from __future__ import annotations

from werkzeug.serving import run_simple

from ..settings import Settings
from . import create_app


def serve(settings: Settings, host: str, port: int) -> None:
    run_simple(host, port, create_app(settings), threaded=True)
