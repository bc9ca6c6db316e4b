"""Running the bridge's HTTP server (`workbench serve`): gunicorn, a production WSGI server, with N
worker processes of a few threads each. Every worker process also runs one job worker thread
(workbench/jobs.py), so webhook pulls queued in the database are run by whichever process is free,
and a queued job outlives a restart. `--workers 0` runs werkzeug's single-process server instead
(a debugging aid; it runs the job worker too)."""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from ..settings import Settings
from . import create_app

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    if workers == 0:
        from werkzeug.serving import run_simple
        worker = start_job_worker(settings)
        try:
            run_simple(host, port, create_app(settings), threaded=True)
        finally:
            worker.stop(timeout=5)
        return
    GunicornBridge(settings, {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                              "worker_class": "gthread", "timeout": 120, "graceful_timeout": 20,
                              "accesslog": "-", "errorlog": "-"}).run()


def start_job_worker(settings: Settings):
    from .. import jobs
    return jobs.Worker(settings).start()


class GunicornBridge(BaseApplication):
    """The bridge's app in gunicorn, configured from the arguments, not from a config file or argv."""

    def __init__(self, settings: Settings, options: dict):
        self._settings, self._options = settings, options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)
        # after the fork: each worker process opens its own database connections and runs one job worker
        self.cfg.set("post_worker_init", lambda worker: start_job_worker(self._settings))

    def load(self):
        return create_app(self._settings)
