"""The billing console's blueprint and what every one of its routes shares: the template filters,
the security headers, who is signed in (and may see the organization in the path), and error
pages (JSON for what the page's script fetches)."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from apiflask import HTTPError
from flask import Blueprint, Response, g, jsonify, render_template, request

from api.console import formatting
from api.console.session import current_user, login_form_token, sign_out, with_login_nonce
from api.cursor import encode_cursor
from api.errors import api_error, domain_error
from api.limits import address_wait, limit_identity, too_many
from billing_core.errors import BillingError

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
# APIFlask reads this of every blueprint with a before_request function (the console is no part of
# the API document).
bp.enable_openapi = False  # type: ignore[attr-defined]
F = TypeVar("F", bound=Callable[..., Any])
_JSON_ROUTES = ("/transactions", "/balance")  # what the page's script fetches: errors answer JSON
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)

for name in ("credits", "signed_credits", "money", "day", "last_day", "plural", "moment", "share"):
    bp.add_app_template_filter(getattr(formatting, name), name)
bp.add_app_template_filter(encode_cursor, "cursor")


@bp.after_request
def _protect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith("/console/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_request
def _refuse_blocked_address() -> Any:
    # Too many failed sign-ins or dead sessions from this address: refused before any database work.
    wait = 0.0 if request.path.startswith("/console/static/") else address_wait()
    if wait <= 0:
        return None
    if wants_json():
        raise too_many(wait, "too many failed attempts from this address; retry later")
    response = sign_in_page("Too many attempts; wait a moment and try again.", 429)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def sign_in_form_page(message: str | None, status: int = 200, organization: str = "") -> Any:
    """The sign-in form, with its CSRF token (and the cookie of its nonce)."""
    nonce, csrf = login_form_token()
    page = render_template("console/sign_in.html", message=message, organization=organization, csrf=csrf)
    return with_login_nonce(Response(page, status=status), nonce)


def sign_in_page(message: str, status: int, organization: str = "") -> Any:
    """The sign-in form after a refusal or an ended session: any session cookie is dropped."""
    return sign_out(sign_in_form_page(message, status, organization))


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.endswith(_JSON_ROUTES)


def signed_in(view: F) -> F:
    """The signed-in user may see the organization in the path; POSTs need the form's CSRF token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            if request.method == "GET" and not wants_json():
                return sign_in_page("Please sign in.", 401)
            raise api_error(401, "unauthorized", "sign in again: the session has ended")
        if not user.may_see(kwargs["org"]):
            # As if the organization did not exist: keys cannot probe for others.
            raise api_error(404, "not_found", f"unknown organization {kwargs['org']!r}")
        limit_identity(user.identity)
        if request.method == "POST" and not user.csrf_matches(request.form.get("csrf")):
            raise api_error(403, "forbidden", "the form has expired; reload the page and try again")
        if request.method == "POST" and not user.may_act:
            raise api_error(403, "forbidden", "this admin key's role may look but not change billing")
        g.console_user = user
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.errorhandler(BillingError)
def _domain_error_page(error: BillingError) -> Any:
    refusal = domain_error(error)
    return _error_page(refusal.status_code, refusal.message or "")


@bp.errorhandler(HTTPError)
def _http_error_page(error: HTTPError) -> Any:
    return _error_page(error.status_code, error.message or "")


def _error_page(status: int, message: str) -> Any:
    if wants_json():
        return jsonify({"error": {"message": message}}), status
    return render_template("console/error.html", status=status, message=message), status
