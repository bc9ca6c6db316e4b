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
    if not bearer_token_matches():
        raise Unauthorized("missing or wrong API token: send Authorization: Bearer <WORKBENCH_API_TOKEN>",
                           errors={"Authorization": "invalid"})


def token_matches(token: str | None) -> bool:
    """The one comparison with WORKBENCH_API_TOKEN (constant time)."""
    return bool(token) and hmac.compare_digest(token.encode(), settings().api_token.encode())


def bearer_token_matches() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(token)
