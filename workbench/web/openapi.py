"""The bridge's API described: an OpenAPI 3 document built from marshmallow schemas (the article
schema that validates POST /api/articles, and the response and error shapes below), served at
GET /api/openapi.json without a token. Every route of the app is listed here; tests/test_openapi.py
fails when a route is added without its description."""
from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from marshmallow import INCLUDE, Schema, fields

from ..articles import ArticleSchema
from ..feed import SPLIT_NAMES
from ..tasks import WEBHOOK_SECRET_HEADER
from .context import settings

openapi_bp = Blueprint("openapi", __name__)
OPENAPI_VERSION = "3.0.3"


def init_app(app) -> None:
    app.register_blueprint(openapi_bp)


@openapi_bp.get("/api/openapi.json")
def openapi_document():
    return build_spec(settings().max_article_bytes)


class ErrorSchema(Schema):
    """Every failure, whatever the route: the one error shape (workbench/errors.py)."""
    code = fields.String(required=True, metadata={"description": "machine-readable error name, e.g. invalid_input"})
    status = fields.Integer(required=True, metadata={"description": "the HTTP status, repeated"})
    message = fields.String(required=True, metadata={"description": "what went wrong and what to send instead"})
    errors = fields.Raw(required=True, metadata={
        "description": "the offending fields: an object of field -> problem, or a list of per-record errors"})


class IngestErrorSchema(Schema):
    where = fields.String(metadata={"description": "the record, e.g. api[1]"})
    field = fields.String(allow_none=True)
    message = fields.String()


class IngestReportSchema(Schema):
    new = fields.List(fields.String(), metadata={"description": "ids of articles stored for the first time"})
    revised = fields.List(fields.String(), metadata={"description": "ids given a new revision"})
    unchanged = fields.List(fields.String(), metadata={"description": "ids whose text was already stored"})
    errors = fields.List(fields.Nested(IngestErrorSchema), metadata={"description": "records not stored"})


class ArticleBatchSchema(Schema):
    articles = fields.List(fields.Raw(), required=True, metadata={"description": "article objects"})


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReleasesSchema(Schema):
    releases = fields.List(fields.Dict(), metadata={
        "description": "each version's manifest; a broken one as {version, broken: true, problem}"})


class MLHealthSchema(Schema):
    status = fields.String()
    model_class = fields.String()
    model_version = fields.String()


class ModelVersionSchema(Schema):
    model_version = fields.String()


class MLTaskDataSchema(Schema):
    class Meta:
        unknown = INCLUDE  # Label Studio sends the task's other data fields too

    text = fields.String(required=True, metadata={"description": "the article text"})


class MLTaskSchema(Schema):
    id = fields.Integer()
    data = fields.Nested(MLTaskDataSchema, required=True)


class PredictRequestSchema(Schema):
    tasks = fields.List(fields.Nested(MLTaskSchema), required=True)


class PredictionSchema(Schema):
    result = fields.List(fields.Dict(), metadata={"description": "Label Studio span and choice results"})
    score = fields.Float()
    model_version = fields.String()


class PredictResponseSchema(Schema):
    results = fields.List(fields.Nested(PredictionSchema), metadata={"description": "one per task, in order"})
    model_version = fields.String()


class TrainingEventSchema(Schema):
    action = fields.String(allow_none=True)


class TrainingEventReplySchema(Schema):
    status = fields.String()
    ignored = fields.String(allow_none=True)


# what webhooks.ids_in_event accepts: ids are positive integers, a task may be given by its id alone
POSITIVE_ID = {"type": "integer", "minimum": 1}
EVENT_TASK = {"type": "object", "nullable": True, "properties": {"id": POSITIVE_ID}}
EVENT_ANNOTATION = {"type": "object", "properties": {"task": {"nullable": True, "oneOf": [
    POSITIVE_ID, {"type": "object", "properties": {"id": POSITIVE_ID}}]}}}


class LabelStudioEventSchema(Schema):
    """Label Studio's annotation event (webhooks.py reads task/annotation ids out of it)."""
    action = fields.String(required=True, metadata={"description": "e.g. ANNOTATION_CREATED"})
    task = fields.Raw(allow_none=True, metadata={"description": "a task object {id} or a list of them",
                                                 "oneOf": [EVENT_TASK, {"type": "array", "items": EVENT_TASK}]})
    annotation = fields.Raw(metadata={"description": "an annotation {task} or a list of them",
                                      "oneOf": [EVENT_ANNOTATION, {"type": "array", "items": EVENT_ANNOTATION}]})
    annotations = fields.List(fields.Dict(metadata={"required": ["id"], "properties": {"id": POSITIVE_ID}}),
                              metadata={"description": "deleted annotations' {id}"})


class QueuedPullSchema(Schema):
    action = fields.String()
    queued_tasks = fields.List(fields.Integer())
    queued_deleted_annotations = fields.List(fields.Integer())


class ProgressSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "exactly GET /api/status's counts"})
    waiting_reasons = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                  metadata={"description": "waiting tasks per reason the review gave"})
    latest_release = fields.String(allow_none=True)
    review_policy = fields.String()
    timeline = fields.List(fields.Dict(), metadata={
        "description": "per UTC day: {date, ingested, preannotated, pushed, annotated, released} running totals"})


class AnnotatorStatsSchema(Schema):
    annotator = fields.String(allow_none=True)
    tasks = fields.Integer(metadata={"description": "current tasks with a submitted annotation of theirs"})
    accepted = fields.Integer(metadata={"description": "their annotations the review accepted"})
    median_lead_time = fields.Float(allow_none=True, metadata={"description": "seconds, Label Studio's lead_time"})
    mean_span_f1_with_others = fields.Float(allow_none=True)
    stance_agreement_with_others = fields.Float(allow_none=True)
    compared_annotations = fields.Integer()


class AgreementStatsSchema(Schema):
    tasks_with_multiple_annotations = fields.Integer()
    low_agreement_threshold = fields.Float()
    span_f1 = fields.Dict(metadata={"description": "annotator pair -> exact|overlap -> label (and ALL) -> F1"})
    stance_alpha = fields.Dict(metadata={"description": "stance target -> Krippendorff's alpha (null: undefined)"})
    low_agreement_tasks = fields.List(fields.Dict(), metadata={
        "description": "{task_id, article_id, min_exact_f1, stance_disagreement, annotation_ids, link}"})


class ModelQualitySchema(Schema):
    model_version = fields.String()
    tasks = fields.Integer(metadata={"description": "accepted tasks it pre-annotated"})
    labels = fields.Dict(metadata={"description": "label -> {precision, recall, f1, matched, predicted, accepted}"})
    overall = fields.Dict()
    corrections = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "predicted spans kept, relabelled, moved, deleted; spans added"})


class VersionStatsSchema(Schema):
    version = fields.String(required=True)
    broken = fields.Boolean(required=True)
    problem = fields.String()
    created_at = fields.String()
    parent = fields.String(allow_none=True)
    examples = fields.Integer()
    splits = fields.Dict()
    entity_labels = fields.Dict()
    stance = fields.Dict()
    review_policy = fields.String(allow_none=True)
    diff = fields.Dict(allow_none=True, metadata={"description": "from the parent: added, removed, changed counts"})


class StatsSchema(Schema):
    """The dashboard's figures (workbench/stats.py); only the sections asked for."""
    progress = fields.Nested(ProgressSchema)
    annotators = fields.List(fields.Nested(AnnotatorStatsSchema))
    agreement = fields.Nested(AgreementStatsSchema)
    quality = fields.List(fields.Nested(ModelQualitySchema))
    versions = fields.List(fields.Nested(VersionStatsSchema))


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _dashboard_page(summary: str) -> dict:
    return {"get": {"summary": summary, "tags": ["dashboard"], "security": BEARER,
                    "description": "or the session cookie POST /dashboard/login sets",
                    "responses": {"200": _html("the page"),
                                  "302": {"description": "not logged in: to /dashboard/login"}}}}


def _json(schema) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"description": description, **_json("Error")}


def _ok(description: str, schema) -> dict:
    return {"description": description, **_json(schema)}


def _binary(description: str, mimetype: str) -> dict:
    return {"description": description, "headers": {
        "ETag": {"schema": {"type": "string"}}, "X-Workbench-Version": {"schema": {"type": "string"}}},
        "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}}}


AUTH_ERRORS = {"401": _error("missing or wrong credentials")}
BODY_ERRORS = {"400": _error("the body is not JSON or not of the shape asked for"),
               "413": _error("the body is over WORKBENCH_MAX_REQUEST_BYTES")}
FEED_ERRORS = {**AUTH_ERRORS, "404": _error("no such release or file"),
               "409": _error("the release does not verify against its manifest"),
               "422": _error("a version, split or since that is not well-formed")}
VERSION_SCHEMA = {"type": "string", "pattern": r"^(v\d{4,}|latest)$"}
VERSION = {"name": "version", "in": "path", "required": True, "description": "a version like v0001, or latest",
           "schema": VERSION_SCHEMA}
NOT_MODIFIED = {"304": {"description": "If-None-Match holds the body's ETag"}}
BEARER, BASIC, WEBHOOK = [{"bearerToken": []}], [{"mlBasic": []}, {"bearerToken": []}], [{"webhookSecret": []}]


def _operations(article_schema) -> dict:
    """path -> method -> operation, for every route the app serves."""
    return {
        "/health": {"get": {"summary": "liveness", "security": [],
                            "responses": {"200": _ok("up", "Health")}}},
        "/api/openapi.json": {"get": {"summary": "this document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3 document",
                                                            **_json({"type": "object"})}}}},
        "/api/articles": {"post": {
            "summary": "ingest one article, a list, or {articles: [...]}", "security": BEARER,
            "requestBody": {"required": True, **_json({"oneOf": [
                article_schema, {"type": "array", "items": article_schema}, "ArticleBatch"]})},
            "responses": {"201": _ok("at least one article new or revised", "IngestReport"),
                          "200": _ok("nothing new to store", "IngestReport"),
                          **AUTH_ERRORS, **BODY_ERRORS, "422": _error("no article could be stored")}}},
        "/api/status": {"get": {"summary": "counts and release state", "security": BEARER,
                                "responses": {"200": _ok("the pipeline's state", {"type": "object"}),
                                              **AUTH_ERRORS}}},
        "/api/releases": {"get": {"summary": "every release version", "security": BEARER,
                                  "responses": {"200": _ok("the versions", "Releases"), **AUTH_ERRORS}}},
        "/api/releases/{version}": {"get": {
            "summary": "a release's manifest", "security": BEARER, "parameters": [VERSION],
            "responses": {"200": _ok("the manifest", {"type": "object"}), **FEED_ERRORS}}},
        "/api/releases/{version}/examples": {"get": {
            "summary": "a release's examples as JSON lines", "security": BEARER, "parameters": [
                VERSION,
                {"name": "split", "in": "query", "schema": {"type": "string", "enum": list(SPLIT_NAMES)},
                 "description": "train, dev or test"},
                {"name": "since", "in": "query", "schema": VERSION_SCHEMA,
                 "description": "only examples changed after this version"}],
            "responses": {"200": _binary("examples, one JSON object a line", "application/x-ndjson"),
                          **NOT_MODIFIED, **FEED_ERRORS}}},
        "/api/releases/{version}/files/{name}": {"get": {
            "summary": "one file of a release", "security": BEARER, "parameters": [
                VERSION, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _binary("the file as listed in the manifest", "application/octet-stream"),
                          **NOT_MODIFIED, **FEED_ERRORS}}},
        "/api/stats": {"get": {
            "summary": "the dashboard's figures", "security": BEARER, "parameters": [
                {"name": "section", "in": "query", "schema": {"type": "array", "items": {"type": "string", "enum": [
                    "progress", "annotators", "agreement", "quality", "versions"]}},
                 "description": "only these sections (repeatable); all by default"}],
            "responses": {"200": _ok("the figures", "Stats"), **AUTH_ERRORS,
                          "422": _error("an unknown section")}}},
        "/dashboard": _dashboard_page("dashboard: progress of the pipeline"),
        "/dashboard/annotators": _dashboard_page("dashboard: annotators"),
        "/dashboard/agreement": _dashboard_page("dashboard: inter-annotator agreement"),
        "/dashboard/quality": _dashboard_page("dashboard: pre-annotation quality per model version"),
        "/dashboard/versions": _dashboard_page("dashboard: releases"),
        "/dashboard/login": {
            "get": {"summary": "the dashboard's login form", "tags": ["dashboard"], "security": [],
                    "responses": {"200": _html("the form")}},
            "post": {"summary": "log in with the API token: sets the signed session cookie (HttpOnly, SameSite=Lax)",
                     "tags": ["dashboard"], "security": [],
                     "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                         "schema": {"type": "object", "required": ["token"], "properties": {
                             "token": {"type": "string"}, "next": {"type": "string"}}}}}},
                     "responses": {"302": {"description": "logged in: to `next` or /dashboard"},
                                   "401": _html("wrong token: the form again, with the error")}}},
        "/dashboard/logout": {"post": {"summary": "end the dashboard session", "tags": ["dashboard"], "security": [],
                                       "responses": {"302": {"description": "to the login form"}}}},
        "/webhooks/label-studio": {"post": {
            "summary": "Label Studio annotation event: queues a pull of the tasks it names", "security": WEBHOOK,
            "requestBody": {"required": True, **_json("LabelStudioEvent")},
            "responses": {"202": _ok("the pull is queued", "QueuedPull"), **AUTH_ERRORS, **BODY_ERRORS,
                          "503": _error("WORKBENCH_WEBHOOK_SECRET is not set")}}},
        "/ml/health": {"get": {"summary": "ML backend health", "security": BASIC,
                               "responses": {"200": _ok("the model in use", "MLHealth"), **AUTH_ERRORS}}},
        "/ml/setup": {"post": {"summary": "ML backend setup (Label Studio sends its token: never logged)",
                               "security": BASIC, "requestBody": {"required": True, **_json({"type": "object"})},
                               "responses": {"200": _ok("the model version", "ModelVersion"), **AUTH_ERRORS,
                                             **BODY_ERRORS}}},
        "/ml/predict": {"post": {"summary": "one prediction per task, in order", "security": BASIC,
                                 "requestBody": {"required": True, **_json("PredictRequest")},
                                 "responses": {"200": _ok("the predictions", "PredictResponse"), **AUTH_ERRORS,
                                               **BODY_ERRORS}}},
        "/ml/webhook": {"post": {"summary": "training events (ignored: the bridge trains from releases)",
                                 "security": BASIC, "requestBody": {"required": True, **_json("TrainingEvent")},
                                 "responses": {"200": _ok("ignored", "TrainingEventReply"), **AUTH_ERRORS,
                                               **BODY_ERRORS}}},
    }


SCHEMAS = {"Error": ErrorSchema, "IngestReport": IngestReportSchema, "ArticleBatch": ArticleBatchSchema,
           "Health": HealthSchema, "Releases": ReleasesSchema, "MLHealth": MLHealthSchema,
           "ModelVersion": ModelVersionSchema, "PredictRequest": PredictRequestSchema,
           "PredictResponse": PredictResponseSchema, "TrainingEvent": TrainingEventSchema,
           "TrainingEventReply": TrainingEventReplySchema, "LabelStudioEvent": LabelStudioEventSchema,
           "QueuedPull": QueuedPullSchema, "Stats": StatsSchema}


def build_spec(max_article_bytes: int) -> dict:
    """The OpenAPI 3 document as a dict."""
    spec = APISpec(title="Arabic News Annotation Workbench bridge", version="1", openapi_version=OPENAPI_VERSION,
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Every error is {code, status, message, errors} (the Error schema)."})
    spec.components.security_scheme("bearerToken", {"type": "http", "scheme": "bearer",
                                                    "description": "WORKBENCH_API_TOKEN"})
    spec.components.security_scheme("mlBasic", {"type": "http", "scheme": "basic",
                                                "description": "any user name, WORKBENCH_API_TOKEN as password"})
    spec.components.security_scheme("webhookSecret", {"type": "apiKey", "in": "header", "name": WEBHOOK_SECRET_HEADER,
                                                      "description": "WORKBENCH_WEBHOOK_SECRET"})
    spec.components.schema("Article", schema=ArticleSchema(max_bytes=max_article_bytes))
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    for path, operations in _operations("Article").items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    # the batch's items are Articles (ArticleSchema needs max_bytes, so the field cannot nest it)
    document["components"]["schemas"]["ArticleBatch"]["properties"]["articles"]["items"] = {
        "$ref": "#/components/schemas/Article"}
    return document
