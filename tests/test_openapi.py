"""GET /api/openapi.json describes every route of the app, and is a valid OpenAPI 3 document."""
import re

from openapi_spec_validator import validate


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_document_is_served_without_a_token_and_validates(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    document = r.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert set(document["components"]["securitySchemes"]) == {"bearerToken", "mlBasic", "webhookSecret"}
    assert set(document["components"]["schemas"]["Error"]["required"]) == {"code", "status", "message", "errors"}


def test_every_route_and_method_is_documented(app, client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is not in the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], f"{method} {rule.rule} is not in the OpenAPI document"


def test_article_request_body_comes_from_the_validating_schema(client):
    article = client.get("/api/openapi.json").get_json()["components"]["schemas"]["Article"]
    assert article["required"] == ["text"] and article["additionalProperties"] is False
