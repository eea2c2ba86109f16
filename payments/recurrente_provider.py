"""The Recurrente adapter: its REST API over urllib, authenticated by the X-PUBLIC-KEY and
X-SECRET-KEY headers.

A subscription is a checkout with one recurring item; an upgrade is a one-off checkout for the
prorated difference, which the customer pays on Recurrente's page; a credit pack is a one-off
checkout too. Checkout metadata ({organization_id, plan, interval}, or {organization_id,
purchase_id, pack}) comes back with the payment webhook. Recurrente has no billing portal, no way
to undo a cancellation and no off-session charge: those raise NotSupportedByProvider.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from billing_core.errors import NotSupportedByProvider, PaymentProviderError
from billing_core.plans.catalog import PlanConfig
from billing_core.purchases.rules import credits_label
from billing_core.subscriptions.payment_port import (
    ChargeResult,
    CheckoutLink,
    PackCheckout,
    SavedMethodCharge,
    UpgradeCharge,
    UpgradeTarget,
)

NAME = "recurrente"
DEFAULT_BASE = "https://app.recurrente.com/api"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Every request carries the secret key: following a redirect would send it to whatever host
    the answer names, so a 3xx is an HTTPError of its own code instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class RecurrenteProvider:
    name = NAME

    def __init__(
        self, public_key: str, secret_key: str, *, api_base: str | None = None, timeout: float = 30.0
    ) -> None:
        if not public_key or not secret_key:
            raise ValueError("both Recurrente keys are required")
        self._keys = {"X-PUBLIC-KEY": public_key, "X-SECRET-KEY": secret_key}
        self._base = (api_base or DEFAULT_BASE).rstrip("/")
        self._timeout = timeout

    def _request(self, method: str, path: str, idempotency_key: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {
            **self._keys,
            "Accept": "application/json",
            # Sent on every call that changes something; ignored where Recurrente does not use it.
            "Idempotency-Key": idempotency_key,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self._base + path, data=data, headers=headers, method=method)
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            with error:
                if 300 <= error.code < 400:
                    raise PaymentProviderError(
                        NAME, f"{method} {path} answered a redirect ({error.code}), not followed"
                    ) from None
                raise PaymentProviderError(NAME, f"{method} {path} answered {error.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise PaymentProviderError(NAME, f"{method} {path} failed: {type(error).__name__}") from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise PaymentProviderError(NAME, f"{method} {path} answered with invalid JSON") from None

    def _checkout(self, body: dict[str, Any], idempotency_key: str) -> CheckoutLink:
        answer = self._request("POST", "/checkouts", idempotency_key, body)
        url, checkout_id = answer.get("checkout_url"), answer.get("id")
        if not isinstance(url, str) or not url or not isinstance(checkout_id, str):
            raise PaymentProviderError(NAME, "the checkout answer has no checkout_url or id")
        return CheckoutLink(url=url, provider_reference=checkout_id)

    def create_checkout(
        self,
        organization_id: str,
        plan: PlanConfig,
        interval: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutLink:
        # A price configured in Recurrente (`billing plans set --recurrente-product-monthly ...`) is
        # referenced by its id; otherwise the recurring item is described inline at the plan's price.
        configured = (
            plan.recurrente_product_monthly if interval == "month" else plan.recurrente_product_yearly
        )
        item: dict[str, object] = (
            {"price_id": configured}
            if configured
            else {
                "name": f"{plan.name} ({'monthly' if interval == 'month' else 'yearly'})",
                "charge_type": "recurring",
                "billing_interval": interval,
                "billing_interval_count": 1,
                "amount_in_cents": plan.price_cents(interval),
                "currency": plan.currency,
                "quantity": 1,
            }
        )
        body = {
            "items": [item],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"organization_id": organization_id, "plan": plan.code, "interval": interval},
        }
        return self._checkout(body, idempotency_key)

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        raise NotSupportedByProvider(NAME, "a billing portal")

    def charge_upgrade(self, target: UpgradeTarget, amount_cents: int, idempotency_key: str) -> UpgradeCharge:
        if amount_cents <= 0:
            raise PaymentProviderError(NAME, "an upgrade checkout needs a positive amount")
        body: dict[str, Any] = {
            "items": [
                {
                    "name": f"Upgrade to {target.plan.name} (rest of the current period)",
                    "amount_in_cents": amount_cents,
                    "currency": target.plan.currency,
                    "quantity": 1,
                }
            ],
            "metadata": {
                "organization_id": target.organization_id,
                "upgrade_plan": target.plan.code,
                "interval": target.interval,
                "subscription_id": target.provider_subscription_id,
            },
        }
        if target.success_url:
            body["success_url"] = target.success_url
        if target.cancel_url:
            body["cancel_url"] = target.cancel_url
        link = self._checkout(body, idempotency_key)
        return UpgradeCharge(provider_reference=link.provider_reference, checkout_url=link.url)

    def schedule_plan_change(self, target: UpgradeTarget, idempotency_key: str) -> None:
        raise NotSupportedByProvider(NAME, "a plan change at period end (cancel, then subscribe again)")

    def cancel_at_period_end(self, provider_subscription_id: str, idempotency_key: str) -> None:
        """Recurrente cancels with DELETE: no further charge; the paid period keeps its credits here."""
        path = f"/subscriptions/{urllib.parse.quote(provider_subscription_id, safe='')}"
        self._request("DELETE", path, idempotency_key)

    def resume(self, provider_subscription_id: str, idempotency_key: str) -> None:
        raise NotSupportedByProvider(NAME, "resuming a canceled subscription (subscribe again)")

    def create_pack_checkout(self, order: PackCheckout, idempotency_key: str) -> CheckoutLink:
        pack = order.pack
        item: dict[str, object] = (
            {"price_id": pack.recurrente_product}
            if pack.recurrente_product
            else {
                "name": f"{pack.name}: {credits_label(pack.credits)} credits",
                "amount_in_cents": pack.price_cents,
                "currency": pack.currency,
                "quantity": 1,
            }
        )
        body = {
            "items": [item],
            "success_url": order.success_url,
            "cancel_url": order.cancel_url,
            "metadata": {
                "organization_id": order.organization_id,
                "purchase_id": str(order.purchase_id),
                "pack": pack.code,
            },
        }
        return self._checkout(body, idempotency_key)

    def charge_saved_method(self, charge: SavedMethodCharge) -> ChargeResult:
        raise NotSupportedByProvider(NAME, "off-session charges of a saved card (auto-recharge)")
