"""HTTP views: thin wrappers over the stage functions in workflow.py and feed.py."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, send_file, stream_with_context

from .. import feed, workflow
from ..errors import InputError
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
    body = request.get_json(silent=True)
    if body is None:
        raise InputError("the body must be JSON: an article object, a list of them, or {\"articles\": [...]}",
                         errors={"body": "not JSON"}, code="invalid_json", status=400)
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


@api_bp.get("/releases")
def get_releases():
    return {"releases": feed.list_releases(settings().exports_dir)}


@api_bp.get("/releases/<version>")
def get_release(version: str):
    return feed.read_manifest(settings().exports_dir, version)


@api_bp.get("/releases/<version>/examples")
def get_release_examples(version: str):
    exports = settings().exports_dir
    split, since = request.args.get("split"), request.args.get("since")
    manifest = feed.read_manifest(exports, version)
    etag = manifest["files"]["examples.jsonl"]["sha256"]
    if since:
        since_manifest = feed.read_manifest(exports, since)
        lines = feed.iter_delta_lines(exports, manifest["version"], since_manifest["version"], split)
        etag += "-since-" + since_manifest["files"]["examples.jsonl"]["sha256"]
    else:
        lines = feed.iter_example_lines(exports, manifest["version"], split)
    response = Response(stream_with_context(lines), mimetype="application/x-ndjson")
    response.set_etag(etag + (f"-{split}" if split else ""))
    response.headers["X-Workbench-Version"] = manifest["version"]
    return response.make_conditional(request)


@api_bp.get("/releases/<version>/files/<name>")
def get_release_file(version: str, name: str):
    path, sha256 = feed.release_file(settings().exports_dir, version, name)
    return send_file(path, etag=sha256, conditional=True, max_age=0)
