"""The billing console's routes: sign-in, the Settings → Subscription page (Plans, Credits and Usage
tabs), "Load More" for the history, and the subscription actions, which call the same code as the
API's subscription endpoints and send the browser on to the provider's checkout or portal."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from apiflask import HTTPError
from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import Connection

from api import subscription_actions as actions
from api.console import formatting
from api.console.pages import HISTORY_PAGE, subscription_page
from api.console.session import ConsoleUser, current_user, identify, keep_signed_in, sign_out
from api.cursor import decode_cursor, encode_cursor
from api.errors import api_error, domain_error
from api.runtime import read, runtime
from billing_core.errors import BillingError, InvalidInput
from billing_core.queries.balance_snapshot import balance_snapshot
from billing_core.queries.organizations import get_organization
from billing_core.queries.transaction_page import transaction_page
from billing_core.queries.transactions import TransactionPage

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
TABS = ("plans", "credits", "usage")
NOTICES = {
    "checkout_done": "Thank you. Your subscription starts as soon as the payment provider confirms the "
    "payment; this page shows it then.",
    "checkout_canceled": "The checkout was canceled; nothing was charged.",
    "canceled": "Your subscription is canceled at the end of the period. "
    "Your credits stay usable until then.",
    "resumed": "Your subscription continues; it renews at the end of the period.",
    "change_scheduled": "Your plan changes at the end of the current period.",
    "upgrade_charged": "Upgraded. The difference is charged to your saved payment method; the extra "
    "credits arrive when the payment is confirmed.",
    "upgrade_pending": "Upgrade recorded; the extra credits arrive when the payment is confirmed.",
}
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


def _sign_in_page(message: str, status: int, organization: str = "") -> Any:
    """The sign-in form after a refusal or an ended session: any session cookie is dropped."""
    page = render_template("console/sign_in.html", message=message, organization=organization)
    return sign_out(Response(page, status=status))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.endswith(_JSON_ROUTES)


def signed_in(view: F) -> F:
    """The signed-in user may see the organization in the path; POSTs need the form's CSRF token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            if request.method == "GET" and not _wants_json():
                return _sign_in_page("Please sign in.", 401)
            raise api_error(401, "unauthorized", "sign in again: the session has ended")
        if not user.may_see(kwargs["org"]):
            # As if the organization did not exist: keys cannot probe for others.
            raise api_error(404, "not_found", f"unknown organization {kwargs['org']!r}")
        if request.method == "POST" and not user.csrf_matches(request.form.get("csrf")):
            raise api_error(403, "forbidden", "the form has expired; reload the page and try again")
        g.console_user = user
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.get("/")
def home() -> Any:
    user = current_user()
    if user is None or user.organization_id is None:
        return redirect(url_for("console.sign_in_form"))
    return redirect(url_for("console.subscription", org=user.organization_id))


@bp.get("/open")
def open_organization() -> Any:
    """The admin's "open another organization" form: straight to that organization's page."""
    user = current_user()
    org = request.args.get("organization", "").strip()
    if user is None or not user.admin:
        return redirect(url_for("console.sign_in_form"))
    if not org:
        raise api_error(400, "validation_error", "name the organization to open")
    return redirect(url_for("console.subscription", org=org))


@bp.get("/sign-in")
def sign_in_form() -> Any:
    user = current_user()
    if user is not None and user.organization_id is not None:  # already signed in with a key
        return redirect(url_for("console.subscription", org=user.organization_id))
    return Response(render_template("console/sign_in.html", message=None, organization=""))


@bp.post("/sign-in")
def sign_in() -> Any:
    # Guessing tokens is slowed per client address (tokens are long and random anyway).
    if runtime().limiter.acquire(f"console-sign-in:{request.remote_addr}") > 0:
        return _sign_in_page("Too many attempts; wait a moment and try again.", 429)
    organization = request.form.get("organization", "").strip()
    user = identify(request.form.get("token", ""))
    if user is None:
        return _sign_in_page("That key or token is not valid, or has been revoked.", 401, organization)
    org = user.organization_id or organization
    if not org:
        return _sign_in_page("With the admin token, name the organization to open.", 400)
    try:
        read(lambda c: get_organization(c, org))
    except BillingError:
        return _sign_in_page(f"There is no organization {org!r}.", 404, organization)
    return keep_signed_in(redirect(url_for("console.subscription", org=org), 303), user)


@bp.post("/sign-out")
def sign_out_view() -> Any:
    return sign_out(redirect(url_for("console.sign_in_form"), 303))


def _render_page(org: str, *, error: str | None = None, status: int = 200, tab: str | None = None) -> Any:
    wanted_tab = tab or request.args.get("tab", "plans")
    interval = request.args.get("interval", "")
    page = read(lambda c: subscription_page(c, org, actions.now()))
    if interval not in ("month", "year"):
        sub = page.overview.subscription
        interval = sub.state.interval if sub is not None else "month"
    user: ConsoleUser = g.console_user
    html = render_template(
        "console/subscription.html",
        page=page,
        tab=wanted_tab if wanted_tab in TABS else "plans",
        interval=interval,
        providers=sorted(runtime().payments, key=lambda name: (name != "stripe", name)),  # Stripe first
        notice=NOTICES.get(request.args.get("notice", "")),
        error=error,
        confirm_cancel=request.args.get("confirm") == "cancel",
        csrf=user.csrf_token,
        admin=user.admin,
        page_size=HISTORY_PAGE,
    )
    return Response(html, status=status)


@bp.get("/organizations/<org>/subscription")
@signed_in
def subscription(org: str) -> Any:
    return _render_page(org)


@bp.get("/organizations/<org>/transactions")
@signed_in
def more_transactions(org: str) -> Any:
    """The next page of history after the API cursor `cursor`: rendered rows and the next cursor."""
    try:
        before = decode_cursor(request.args.get("cursor", ""))
    except InvalidInput as error:
        return jsonify({"error": {"type": "validation_error", "message": str(error)}}), 400

    def work(connection: Connection) -> TransactionPage:
        get_organization(connection, org)  # 404 for an unknown organization, as the page answers
        return transaction_page(connection, org, limit=HISTORY_PAGE, before_id=before)

    page = read(work)
    return jsonify(
        {
            "rows_html": render_template("console/_history_rows.html", rows=page.rows),
            "rows": len(page.rows),
            "next_cursor": encode_cursor(page.next_cursor) if page.next_cursor is not None else None,
            "has_more": page.has_more,
        }
    )


@bp.get("/organizations/<org>/balance")
@signed_in
def balance_fragment(org: str) -> Any:
    """The Credits tab's balance, rendered again: the page's Refresh button and its timer."""
    view = read(lambda c: balance_snapshot(c, org, actions.now()))
    return jsonify({"html": render_template("console/_balance.html", balance=view)})


def _back(org: str, notice: str) -> Any:
    return redirect(url_for("console.subscription", org=org, tab="plans", notice=notice), 303)


def _field(name: str, allowed: tuple[str, ...]) -> str:
    value = request.form.get(name, "")
    if value not in allowed:
        raise InvalidInput(name, f"must be one of {', '.join(allowed)}")
    return value


def _run(org: str, action: Callable[[], Any]) -> Any:
    """Do a subscription action; a refusal shows the page again with the reason, changing nothing."""
    try:
        return action()
    except BillingError as error:
        refusal = domain_error(error)
        return _render_page(org, error=refusal.message or "", status=refusal.status_code, tab="plans")
    except HTTPError as error:
        return _render_page(org, error=error.message, status=error.status_code, tab="plans")


def _page_url(org: str, **args: str) -> str:
    return url_for("console.subscription", org=org, tab="plans", _external=True, **args)


@bp.post("/organizations/<org>/subscription/checkout")
@signed_in
def checkout(org: str) -> Any:
    def go() -> Any:
        wanted = actions.CheckoutRequest(
            plan=request.form.get("plan", ""),
            interval=_field("interval", ("month", "year")),
            provider=_field("provider", tuple(sorted(runtime().payments)) or ("stripe",)),
            success_url=_page_url(org, notice="checkout_done"),
            cancel_url=_page_url(org, notice="checkout_canceled"),
        )
        return redirect(actions.start_checkout(org, wanted).url, 303)

    return _run(org, go)


@bp.post("/organizations/<org>/subscription/change")
@signed_in
def change(org: str) -> Any:
    def go() -> Any:
        wanted = actions.ChangeRequest(
            plan=request.form.get("plan", ""),
            interval=_field("interval", ("month", "year")),
            success_url=_page_url(org, notice="upgrade_pending"),
            cancel_url=_page_url(org, notice="checkout_canceled"),
        )
        upgrade = actions.change_plan(org, wanted)
        if upgrade is None:
            return _back(org, "change_scheduled")
        if upgrade.checkout_url:
            return redirect(upgrade.checkout_url, 303)
        return _back(org, "upgrade_charged" if upgrade.status == "charged" else "upgrade_pending")

    return _run(org, go)


@bp.post("/organizations/<org>/subscription/portal")
@signed_in
def portal(org: str) -> Any:
    return _run(org, lambda: redirect(actions.open_portal(org, _page_url(org)), 303))


@bp.post("/organizations/<org>/subscription/cancel")
@signed_in
def cancel(org: str) -> Any:
    def go() -> Any:
        actions.set_cancel_at_period_end(org, True)
        return _back(org, "canceled")

    return _run(org, go)


@bp.post("/organizations/<org>/subscription/resume")
@signed_in
def resume(org: str) -> Any:
    def go() -> Any:
        actions.set_cancel_at_period_end(org, False)
        return _back(org, "resumed")

    return _run(org, go)


@bp.errorhandler(BillingError)
def _domain_error_page(error: BillingError) -> Any:
    refusal = domain_error(error)
    return _error_page(refusal.status_code, refusal.message or "")


@bp.errorhandler(HTTPError)
def _http_error_page(error: HTTPError) -> Any:
    return _error_page(error.status_code, error.message or "")


def _error_page(status: int, message: str) -> Any:
    if _wants_json():
        return jsonify({"error": {"message": message}}), status
    return render_template("console/error.html", status=status, message=message), status
