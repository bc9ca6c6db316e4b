"""Reading a request's JSON body: once, within the size limit (Flask's MAX_CONTENT_LENGTH, set
from WORKBENCH_MAX_REQUEST_BYTES; a larger body, chunked or not, is a 413) and the nesting limit
(WORKBENCH_MAX_JSON_DEPTH). Every route that takes JSON reads it here."""
from __future__ import annotations

from flask import request

from .. import jsonsafe
from ..errors import InputError
from .context import settings

# A webhook or ML-backend body that is JSON but of the wrong shape is the caller's error like
# unreadable JSON: 400, naming the field (POST /api/articles keeps 422 for records it cannot store).
MALFORMED = 400


def json_body(expected: str):
    """The parsed body, or a 400 `invalid_json` saying why not; `expected` tells what to send."""
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and len(data) >= limit:
        # werkzeug stops reading a chunked body at the limit without a word; one more read raises
        # its 413 (so a chunked body of exactly the limit is refused too; one with a length is not)
        request.stream.read(1)
    try:
        return jsonsafe.loads(data, settings().max_json_depth)
    except jsonsafe.JSONInputError as exc:
        raise InputError(f"the body is {exc.detail}; {expected}", errors={"body": exc.kind},
                         code="invalid_json", status=400) from None


def json_object(expected: str) -> dict:
    """The body, which must be a JSON object (else a 400 naming the body)."""
    body = json_body(expected)
    if not isinstance(body, dict):
        raise InputError(f"the body is a JSON {jsonsafe.type_name(body)}, not an object; {expected}",
                         errors={"body": "not an object"}, status=MALFORMED)
    return body
