"""What a request handler needs from the app it runs in, without importing the factory."""
from __future__ import annotations

import hmac

from flask import current_app, request

from ..errors import Unauthorized
from ..settings import Settings


def settings() -> Settings:
    return current_app.config["WORKBENCH"]


def require_token() -> None:
    """before_request hook of the /api blueprint: `Authorization: Bearer <WORKBENCH_API_TOKEN>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings().api_token
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API token: send Authorization: Bearer <WORKBENCH_API_TOKEN>",
                           errors={"Authorization": "invalid"})
