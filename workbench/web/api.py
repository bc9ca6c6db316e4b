"""HTTP views: thin wrappers over the stage functions in workflow.py and feed.py."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import feed, stats, workflow
from ..errors import InputError
from .body import json_body
from .context import require_token, settings

health_bp = Blueprint("health", __name__)
api_bp = Blueprint("api", __name__, url_prefix="/api")
api_bp.before_request(require_token)


def init_app(app) -> None:
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)


@health_bp.get("/health")
def health():
    return {"status": "ok"}


@api_bp.post("/articles")
def post_articles():
    body = json_body("send an article object, a list of them, or {\"articles\": [...]}")
    if isinstance(body, list):
        records = body
    elif isinstance(body, dict) and "articles" in body and "text" not in body:
        records = body["articles"]
    else:
        records = [body]
    if not isinstance(records, list):
        raise InputError("articles must be a list", errors={"articles": "not a list"})
    report = workflow.ingest_records(settings(), records)
    stored = len(report.new) + len(report.revised)
    if report.errors and not stored and not report.unchanged:
        raise InputError(f"no article stored: {len(report.errors)} error(s)", errors=report.errors)
    return jsonify(report.to_dict()), 201 if stored else 200


@api_bp.get("/status")
def get_status():
    return workflow.status(settings())


@api_bp.get("/stats")
def get_stats():
    """The dashboard's figures (workbench/stats.py); `?section=progress&section=versions` for some."""
    return stats.collect(settings(), tuple(request.args.getlist("section")) or None)


@api_bp.get("/releases")
def get_releases():
    """Every version folder; a broken one as {"version", "broken": true, "problem"}."""
    return {"releases": feed.list_releases(settings().exports_dir)}


@api_bp.get("/releases/<version>")
def get_release(version: str):
    return feed.read_manifest(settings().exports_dir, version)


@api_bp.get("/releases/<version>/examples")
def get_release_examples(version: str):
    return _send(feed.examples_body(settings().exports_dir, version, request.args.get("split"),
                                    request.args.get("since")))


@api_bp.get("/releases/<version>/files/<name>")
def get_release_file(version: str, name: str):
    return _send(feed.file_body(settings().exports_dir, version, name))


def _send(body: feed.Body) -> Response:
    """A checked body, streamed in pieces (never read whole); 304 when If-None-Match has its
    ETag, which is only reached once the files on disk still verify."""
    if request.if_none_match.contains_weak(body.etag):
        body.stream.close()
        response = Response(status=304)
    else:
        response = Response(body.stream, mimetype=body.mimetype)
        if body.length is not None:
            response.content_length = body.length
    response.set_etag(body.etag)
    response.cache_control.no_cache = True
    response.headers["X-Workbench-Version"] = body.version
    return response
