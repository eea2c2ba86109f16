"""The billing console's blueprint and what every one of its routes shares: the template filters,
the security headers, who is signed in (and may see the organization in the path), and error
pages (JSON for what the page's script fetches)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from apiflask import HTTPError
from flask import Blueprint, Response, g, jsonify, render_template, request

from api.console import formatting
from api.console.session import current_user, sign_out
from api.cursor import encode_cursor
from api.errors import api_error, domain_error
from billing_core.errors import BillingError

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
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


def sign_in_page(message: str, status: int, organization: str = "") -> Any:
    """The sign-in form after a refusal or an ended session: any session cookie is dropped."""
    page = render_template("console/sign_in.html", message=message, organization=organization)
    return sign_out(Response(page, status=status))


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
        if request.method == "POST" and not user.csrf_matches(request.form.get("csrf")):
            raise api_error(403, "forbidden", "the form has expired; reload the page and try again")
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
