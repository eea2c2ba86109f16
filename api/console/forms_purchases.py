"""The Credits tab's forms: buy a credit pack (to the provider's checkout) and the auto-recharge
setting. They call the same code as the API's purchase endpoints; a refusal shows the page again
with the reason, and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apiflask import HTTPError
from flask import redirect, request, url_for

from api.console.blueprint import bp, signed_in
from api.console.views import render_page
from api.errors import domain_error
from api.redirects import public_url_for
from api.runtime import now, runtime
from billing_core.errors import BillingError, InvalidInput
from billing_core.money import credits_to_micros
from billing_core.purchases import actions

_MONEY = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


def money_to_cents(value: str, field: str) -> int:
    """ "50" or "49.99" (the pack's currency) as cents, exactly; anything else is refused."""
    text = value.strip()
    if not _MONEY.match(text):
        raise InvalidInput(field, "an amount such as 50 or 49.99")
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0") or 0)


def _run(org: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except BillingError as error:
        refusal = domain_error(error)
        return render_page(org, error=refusal.message or "", status=refusal.status_code, tab="credits")
    except HTTPError as error:
        return render_page(org, error=error.message, status=error.status_code, tab="credits")


def _page_url(org: str, **args: str) -> str:
    return public_url_for("console.subscription", org=org, tab="credits", **args)


@bp.post("/organizations/<org>/purchases/checkout")
@signed_in
def buy_credits(org: str) -> Any:
    def go() -> Any:
        provider = request.form.get("provider") or next(iter(sorted(runtime().payments)), "stripe")
        wanted = actions.PurchaseRequest(
            pack=request.form.get("pack", ""),
            provider=provider,
            success_url=_page_url(org, notice="purchase_done"),
            cancel_url=_page_url(org, notice="purchase_canceled"),
        )
        link = actions.start_purchase(runtime().engine, runtime().payments, org, wanted, now())
        return redirect(link.url, 303)

    return _run(org, go)


@bp.post("/organizations/<org>/auto-recharge")
@signed_in
def auto_recharge(org: str) -> Any:
    def go() -> Any:
        enabled = request.form.get("enabled") == "on"
        threshold = request.form.get("threshold", "").strip()
        cap = request.form.get("monthly_cap", "").strip()
        actions.configure_auto_recharge(
            runtime().engine,
            org,
            now(),
            enabled=enabled,
            threshold=credits_to_micros(threshold, field="threshold") if threshold else None,
            pack=request.form.get("pack") or None,
            monthly_cap_cents=money_to_cents(cap, "monthly_cap") if cap else None,
        )
        notice = "auto_recharge_on" if enabled else "auto_recharge_off"
        return redirect(url_for("console.subscription", org=org, tab="credits", notice=notice), 303)

    return _run(org, go)
