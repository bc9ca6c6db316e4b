"""Property-based test of the bridge's HTTP API, driven by its own OpenAPI document.

The bridge runs for real: the app from `create_app(settings)` behind werkzeug's HTTP server in a
thread on a free loopback port (conftest.served), with a temporary SQLite database, a release
(v0001) in a temporary exports folder, and a webhook secret. Schemathesis loads the document from
the served `GET /api/openapi.json` and, for every operation in it, sends generated requests, both
valid and invalid ones (bounded: MAX_EXAMPLES per operation, derandomized so CI is reproducible),
authenticated as the document's security schemes say (Bearer token, Basic with the token as the
password, the webhook-secret header).

Checks, on every response:
- not_a_server_error: no 5xx, save the 503 the document declares (webhooks with no secret); a 500
  is always a failure;
- status_code_conformance, content_type_conformance and response_schema_conformance: the status,
  media type and body are the ones the document declares (every error is the Error shape);
- positive_data_acceptance: a request the document calls valid is accepted (so the document says
  exactly what the bridge accepts: blank texts, malformed URLs, versions and event ids are in it);
Schemathesis's own pytest plugin does not load under pytest 9, so the test runs one Hypothesis
search per operation of the loaded schema and reports every failing operation together.

Label Studio: no operation of the API talks to Label Studio in the request. The webhook queues a
pull job and answers 202; the job then runs in the background against WORKBENCH_LABEL_STUDIO_URL,
which points at a closed loopback port, so it fails fast and is recorded as a failed job (what a
pull does when Label Studio is down is tested in test_faults.py, not here).
"""
from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from conftest import API_TOKEN, make_settings, served
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig
from test_releases import decision

from workbench import stack
from workbench.db import session_scope
from workbench.releases import write_release
from workbench.web import create_app

MAX_EXAMPLES = 25
WEBHOOK_SECRET = "property-secret"


@pytest.fixture(scope="module")
def bridge_url(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("api-properties")
    settings = make_settings(tmp_path, label_studio_url=f"http://127.0.0.1:{stack.free_port()}",
                             label_studio_token="unused-token")
    settings = dataclasses.replace(settings, webhook_secret=WEBHOOK_SECRET)
    with session_scope(settings) as session:
        write_release(session, settings.exports_dir, [decision("a"), decision("b")], {})
    app = create_app(settings)
    with served(app) as url:
        yield url
    app.extensions["workbench_pulls"].shutdown(wait=True)


@pytest.fixture(scope="module")
def api_schema(bridge_url):
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {
        "bearerToken": {"bearer": API_TOKEN},
        "mlBasic": {"username": "label-studio", "password": API_TOKEN},
        "webhookSecret": {"api_key": WEBHOOK_SECRET},
    }}})
    return schemathesis.openapi.from_url(f"{bridge_url}/api/openapi.json", config=config)


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_no_operation_answers_a_server_error(api_schema):
    # one Hypothesis run per operation (schemathesis's own pytest plugin does not load under pytest 9)
    failures, checked = {}, []
    for operation in operations(api_schema):
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate()

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - each operation's failure is reported below, all together
            failures[operation.label] = str(exc)[:2000]
        checked.append(operation.label)
    assert len(checked) >= 10, checked
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
