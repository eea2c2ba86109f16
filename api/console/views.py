"""The billing console's pages: sign-in, the Settings → Subscription page (Plans, Credits and Usage
tabs), and what its script fetches: "Load More" rows of the history and the refreshed balance."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import Connection

from api.actors import record_console_sign_in
from api.console.blueprint import bp, sign_in_form_page, sign_in_page, signed_in
from api.console.pages import HISTORY_PAGE, subscription_page
from api.console.session import (
    ConsoleUser,
    actor_of,
    current_user,
    end,
    identify,
    keep_signed_in,
    login_csrf_matches,
    sign_out,
    start,
)
from api.cursor import decode_cursor, encode_cursor
from api.errors import api_error
from api.limits import count_failure
from api.runtime import now, read, runtime, write
from billing_core.access.console_sessions import open_organization as open_organization_of
from billing_core.errors import BillingError, InvalidInput
from billing_core.queries.balance import balance_view
from billing_core.queries.organizations import get_organization
from billing_core.queries.transaction_page import transaction_page
from billing_core.queries.transactions import TransactionPage

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
    "purchase_done": "Thank you. The credits arrive as soon as the payment provider confirms the payment; "
    "this page shows them then.",
    "purchase_canceled": "The purchase was canceled; nothing was charged.",
    "auto_recharge_on": "Auto-recharge is on.",
    "auto_recharge_off": "Auto-recharge is off.",
}


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
    read(lambda c: get_organization(c, org))  # 404 for an unknown one
    write(lambda c: open_organization_of(c, user.session.id, org))
    return redirect(url_for("console.subscription", org=org))


@bp.get("/sign-in")
def sign_in_form() -> Any:
    user = current_user()
    if user is not None and user.organization_id is not None:  # already signed in with a key
        return redirect(url_for("console.subscription", org=user.organization_id))
    return sign_in_form_page(None)


@bp.post("/sign-in")
def sign_in() -> Any:
    # Addresses with too many failures were refused before this (blueprint._refuse_blocked_address).
    organization = request.form.get("organization", "").strip()
    if not login_csrf_matches(request.form.get("csrf")):
        return sign_in_page("The sign-in form has expired; please try again.", 403, organization)
    token = request.form.get("token", "")
    found = identify(token)
    if found is None:
        count_failure()
        record_console_sign_in(token, None, None)
        return sign_in_page("That key or token is not valid, or has been revoked.", 401, organization)
    identity, key_organization = found
    org = key_organization or organization
    if not org:
        return sign_in_page("As an admin, name the organization to open.", 400)
    try:
        read(lambda c: get_organization(c, org))
    except BillingError:
        return sign_in_page(f"There is no organization {org!r}.", 404, organization)
    session_id = start(identity, org)
    record_console_sign_in(token, actor_of(identity.kind, identity.display_name), org)
    return keep_signed_in(redirect(url_for("console.subscription", org=org), 303), session_id)


@bp.post("/sign-out")
def sign_out_view() -> Any:
    """Ends the session on the server (a copy of the cookie stops working too); needs the page's
    CSRF token, so that another site cannot sign a user out."""
    user = current_user()
    if user is not None:
        if not user.csrf_matches(request.form.get("csrf")):
            raise api_error(403, "forbidden", "the form has expired; reload the page and try again")
        end(user)
    return sign_out(redirect(url_for("console.sign_in_form"), 303))


def render_page(org: str, *, error: str | None = None, status: int = 200, tab: str | None = None) -> Any:
    wanted_tab = tab or request.args.get("tab", "plans")
    interval = request.args.get("interval", "")
    page = read(lambda c: subscription_page(c, org, now()))
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
    )
    return Response(html, status=status)


@bp.get("/organizations/<org>/subscription")
@signed_in
def subscription(org: str) -> Any:
    return render_page(org)


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
    view = read(lambda c: balance_view(c, org, now()))
    return jsonify({"html": render_template("console/_balance.html", balance=view)})
