"""Signing in to the billing console: the organization API key or the admin token is checked once
at sign-in, then kept in an HTTP-only, SameSite=Strict session cookie scoped to /console (never in a
URL, never readable by the page's scripts) and checked again on every request, so a revoked key
ends its sessions at once.

Forms that change something carry a CSRF token: an HMAC of the session's token, which a page of
another site cannot compute."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import request
from werkzeug.wrappers import Response

from api.runtime import runtime, write
from billing_core.access.api_keys import authenticate_key

COOKIE = "billing_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
_CSRF_CONTEXT = b"billing-console-csrf-v1"


@dataclass(frozen=True)
class ConsoleUser:
    token: str
    admin: bool
    organization_id: str | None  # the key's organization; None for the admin

    def may_see(self, org: str) -> bool:
        return self.admin or self.organization_id == org

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


def identify(token: str) -> ConsoleUser | None:
    """Who a token is: the admin, a live key of an organization, or nobody."""
    token = token.strip()
    if not token or len(token) > 512:
        return None
    configured = runtime().settings.admin_token
    secret = configured.get_secret_value() if configured is not None else ""
    if secret and hmac.compare_digest(token.encode(), secret.encode()):
        return ConsoleUser(token, True, None)
    identity = write(lambda c: authenticate_key(c, token, datetime.now(UTC)))
    if identity is None:
        return None
    return ConsoleUser(token, False, identity.organization_id)


def current_user() -> ConsoleUser | None:
    """The signed-in user of this request, if the cookie still holds a valid token."""
    token = request.cookies.get(COOKIE)
    return identify(token) if token else None


def keep_signed_in(response: Response, user: ConsoleUser) -> Response:
    response.set_cookie(
        COOKIE,
        user.token,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        secure=runtime().settings.console_secure_cookie,
        httponly=True,
        samesite="Strict",
    )
    return response


def sign_out(response: Response) -> Response:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=runtime().settings.console_secure_cookie,
        httponly=True,
        samesite="Strict",
    )
    return response
