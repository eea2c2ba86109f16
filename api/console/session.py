"""Signing in to the billing console: the API key or admin token is checked once, at sign-in, and
never kept. The browser gets a random session id in an HTTP-only, SameSite=Lax cookie scoped to
/console (Secure when PUBLIC_URL is https); the server keeps the session
(billing_core/access/console_sessions.py) and checks it on every request, so signing out, an idle
or old session, a revoked key or a rotated admin token end it at once, copied cookies included.

CSRF tokens: a form of a session carries the HMAC of its session id; the sign-in form carries the
HMAC of a random nonce held in a cookie of its own (a signed double submit). Both are keyed with the
deployment's console secret, which a page of another site cannot know."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import g, request
from werkzeug.wrappers import Response

from api.auth import ADMIN_TOKEN_ACTOR
from api.limits import client, count_failure
from api.runtime import now, read, runtime, write
from billing_core.access.admin_keys import authenticate_admin_key, is_admin_key, record_admin_key_use
from billing_core.access.api_keys import authenticate_key, key_prefix
from billing_core.access.console_sessions import (
    Identity,
    Lifetimes,
    LiveSession,
    app_secret,
    end_session,
    mac,
    start_session,
    touch_session,
    validate_session,
)
from billing_core.access.roles import BILLING, role_allows
from billing_core.audit import Actor
from telemetry.http import request_id

COOKIE = "billing_console"
_KEY_LABEL = "API key "
LOGIN_COOKIE = "billing_console_login"
COOKIE_PATH = "/console"
_USER = "console_user_of_request"


@dataclass(frozen=True)
class ConsoleUser:
    session_id: str  # the cookie's value
    session: LiveSession
    csrf_token: str

    @property
    def admin(self) -> bool:
        return self.session.admin

    @property
    def organization_id(self) -> str | None:
        """The key's organization; None for an admin."""
        return self.session.key_organization_id

    @property
    def identity(self) -> str:
        """Whom the per-credential rate limit counts (the API's names for the same credentials)."""
        if self.session.api_key_id is not None:
            return f"key:{self.session.api_key_id}"
        if self.session.admin_key_id is not None:
            return f"admin_key:{self.session.admin_key_id}"
        return "admin"

    def may_see(self, org: str) -> bool:
        return self.admin or self.organization_id == org

    @property
    def may_act(self) -> bool:
        """Whether the console's forms (checkout, change, cancel, purchases) are open to this user:
        an organization's own key, or an admin whose role handles billing."""
        return not self.admin or (self.session.role is not None and role_allows(self.session.role, BILLING))

    @property
    def actor(self) -> Actor:
        """Who the audit log names for what this user does in this request."""
        return actor_of(self.session.kind, self.session.display_name)

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


def _secret() -> bytes:
    held = runtime()
    if held.console_secret is None:
        held.console_secret = read(app_secret)
    return held.console_secret


def _admin_token_mac() -> str | None:
    configured = runtime().settings.admin_token
    token = configured.get_secret_value() if configured is not None else ""
    return mac(_secret(), "admin-token", token) if token else None


def _limits() -> Lifetimes:
    settings = runtime().settings
    return Lifetimes.of(settings.console_session_idle_minutes, settings.console_session_max_hours)


def _secure() -> bool:
    settings = runtime().settings
    if settings.public_url:
        return settings.public_url.startswith("https://")
    return settings.console_secure_cookie


def identify(token: str) -> tuple[Identity, str | None] | None:
    """Who a token is (and an API key's organization): the admin, a live key, or nobody."""
    token = token.strip()
    if not token or len(token) > 512:
        return None
    configured = runtime().settings.admin_token
    secret = configured.get_secret_value() if configured is not None else ""
    if secret and hmac.compare_digest(token.encode(), secret.encode()):
        return Identity("admin_token", "admin token", admin_token_mac=_admin_token_mac()), None
    at = now()
    if is_admin_key(token):
        admin = read(lambda c: authenticate_admin_key(c, token, at))
        if admin is None:
            return None
        if admin.needs_touch:
            write(lambda c: record_admin_key_use(c, admin.key_id, at))
        return Identity("admin_key", admin.name, admin_key_id=admin.key_id), None
    found = read(lambda c: authenticate_key(c, token, at))
    if found is None:
        return None
    return Identity(
        "api_key", f"{_KEY_LABEL}{key_prefix(token)}", api_key_id=found.key_id
    ), found.organization_id


def actor_of(kind: str, display_name: str) -> Actor:
    """The audit actor of a console identity in this request, named as the API names the same
    credential: the key's prefix, the admin key's name, or `admin-token`."""
    if kind == "api_key":
        name = display_name.removeprefix(_KEY_LABEL)
    else:
        name = ADMIN_TOKEN_ACTOR if kind == "admin_token" else display_name
    return Actor(kind, name, request_id() or None, client())


def start(identity: Identity, organization_id: str) -> str:
    source, at = client(), now()
    return write(lambda c: start_session(c, identity, organization_id, source, at))


def current_user() -> ConsoleUser | None:
    """The signed-in user of this request, if its cookie names a live session (once per request; a
    cookie that names none counts as a failed authentication of the client)."""
    if _USER in g:
        user: ConsoleUser | None = g.get(_USER)
        return user
    session_id = request.cookies.get(COOKIE, "")
    user = None
    if session_id:
        at, limits, admin_mac = now(), _limits(), _admin_token_mac()
        found = read(lambda c: validate_session(c, session_id, at, limits, admin_mac))
        if found is None:
            count_failure()
        else:
            if found.needs_touch:
                write(lambda c: touch_session(c, found.id, at))
            user = ConsoleUser(session_id, found, mac(_secret(), "csrf", session_id))
    setattr(g, _USER, user)
    return user


def end(user: ConsoleUser) -> None:
    at = now()
    write(lambda c: end_session(c, user.session_id, at))


def keep_signed_in(response: Response, session_id: str) -> Response:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(_limits().absolute.total_seconds()),
        path=COOKIE_PATH,
        secure=_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


def sign_out(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=_secure(), httponly=True, samesite="Lax")
    return response


# --- the sign-in form's CSRF token ----------------------------------------------------------------


def _login_nonce() -> str:
    held = request.cookies.get(LOGIN_COOKIE, "")
    return held if 20 <= len(held) <= 64 and held.replace("-", "").replace("_", "").isalnum() else ""


def login_form_token() -> tuple[str, str]:
    """(nonce, csrf) for a sign-in form: the nonce the browser holds, or a new one."""
    nonce = _login_nonce() or secrets.token_urlsafe(24)
    return nonce, mac(_secret(), "login", nonce)


def with_login_nonce(response: Response, nonce: str) -> Response:
    if nonce != _login_nonce():
        response.set_cookie(
            LOGIN_COOKIE, nonce, path=COOKIE_PATH, secure=_secure(), httponly=True, samesite="Lax"
        )
    return response


def login_csrf_matches(presented: str | None) -> bool:
    nonce = _login_nonce()
    expected = mac(_secret(), "login", nonce)
    return (
        bool(nonce) and presented is not None and hmac.compare_digest(presented.encode(), expected.encode())
    )
