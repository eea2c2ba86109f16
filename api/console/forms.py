"""The console's subscription forms: subscribe (to the provider's checkout), change plan, billing
portal, cancel and resume. They call the same code as the API's subscription endpoints; a refusal
shows the page again with the reason, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiflask import HTTPError
from flask import g, redirect, request, url_for

from api.console.blueprint import bp, signed_in
from api.console.session import ConsoleUser
from api.console.views import render_page
from api.errors import domain_error
from api.redirects import public_url_for
from api.runtime import now, runtime
from billing_core.audit import Actor
from billing_core.errors import BillingError, InvalidInput
from billing_core.subscriptions import actions


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
        return render_page(org, error=refusal.message or "", status=refusal.status_code, tab="plans")
    except HTTPError as error:
        return render_page(org, error=error.message, status=error.status_code, tab="plans")


def _actor() -> Actor:
    user: ConsoleUser = g.console_user
    return user.actor


def _page_url(org: str, **args: str) -> str:
    return public_url_for("console.subscription", org=org, tab="plans", **args)


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
        return redirect(
            actions.start_checkout(runtime().engine, runtime().payments, org, wanted, now()).url, 303
        )

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
        upgrade = actions.change_plan(
            runtime().engine, runtime().payments, org, wanted, now(), actor=_actor()
        )
        if upgrade is None:
            return _back(org, "change_scheduled")
        if upgrade.checkout_url:
            return redirect(upgrade.checkout_url, 303)
        return _back(org, "upgrade_charged" if upgrade.status == "charged" else "upgrade_pending")

    return _run(org, go)


@bp.post("/organizations/<org>/subscription/portal")
@signed_in
def portal(org: str) -> Any:
    return _run(
        org,
        lambda: redirect(
            actions.open_portal(runtime().engine, runtime().payments, org, _page_url(org), now()), 303
        ),
    )


@bp.post("/organizations/<org>/subscription/cancel")
@signed_in
def cancel(org: str) -> Any:
    def go() -> Any:
        actions.set_cancel_at_period_end(
            runtime().engine, runtime().payments, org, True, now(), actor=_actor()
        )
        return _back(org, "canceled")

    return _run(org, go)


@bp.post("/organizations/<org>/subscription/resume")
@signed_in
def resume(org: str) -> Any:
    def go() -> Any:
        actions.set_cancel_at_period_end(
            runtime().engine, runtime().payments, org, False, now(), actor=_actor()
        )
        return _back(org, "resumed")

    return _run(org, go)
