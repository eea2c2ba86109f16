"""The Stripe adapter: Checkout Sessions in subscription mode, billing portal sessions, and
subscription updates; Checkout Sessions in payment mode for credit packs, and off-session
PaymentIntents for auto-recharge; through the official `stripe` library (`StripeClient`).

The subscription checkout carries the organization as `client_reference_id` and, with the plan and
interval, as the subscription's metadata (`subscription_data.metadata`): the webhooks read it back
from the invoices. A pack's checkout puts {organization_id, purchase_id, pack} on the session and
on its payment intent, and saves the card for off-session use. Every POST carries an idempotency
key.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe

from billing_core.errors import PaymentProviderError, PlanNotOffered
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

NAME = "stripe"


def price_id(plan: PlanConfig, interval: str) -> str:
    price = plan.stripe_price_monthly if interval == "month" else plan.stripe_price_yearly
    if not price:
        raise PlanNotOffered(NAME, plan.code, interval)
    return price


class StripeProvider:
    name = NAME

    def __init__(self, api_key: str, *, api_base: str | None = None, max_network_retries: int = 2) -> None:
        if not api_key:
            raise ValueError("a Stripe API key is required")
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
        )

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except stripe.StripeError as error:
            # The message is Stripe's own (never the key); the request id helps support.
            detail = error.user_message or type(error).__name__
            raise PaymentProviderError(NAME, f"{what} failed: {detail}") from error

    def create_checkout(
        self,
        organization_id: str,
        plan: PlanConfig,
        interval: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutLink:
        metadata = {"organization_id": organization_id, "plan": plan.code, "interval": interval}
        params: Any = {
            "mode": "subscription",
            "line_items": [{"price": price_id(plan, interval), "quantity": 1}],
            "client_reference_id": organization_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
        session = self._call(
            "creating a checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                params, options={"idempotency_key": idempotency_key}
            ),
        )
        if not session.url:
            raise PaymentProviderError(NAME, "the checkout session has no URL")
        return CheckoutLink(url=session.url, provider_reference=session.id)

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        params: Any = {"customer": customer_id, "return_url": return_url}
        session = self._call(
            "creating a billing portal session",
            lambda: self._client.v1.billing_portal.sessions.create(
                params, options={"idempotency_key": f"portal:{uuid.uuid4()}"}
            ),
        )
        return str(session.url)

    def charge_upgrade(self, target: UpgradeTarget, amount_cents: int, idempotency_key: str) -> UpgradeCharge:
        """Switch the subscription's item to the new plan's price and invoice the proration now
        (`proration_behavior=always_invoice`); Stripe computes the prorated amount itself and
        charges the saved payment method. The invoice's payment arrives as a webhook."""
        extra = {
            "proration_behavior": "always_invoice",
            "metadata": {"upgrade_plan": target.plan.code, "upgrade_quote_cents": str(amount_cents)},
        }
        updated = self._switch_price(target, extra, idempotency_key, "upgrading the subscription")
        invoice = updated.to_dict().get("latest_invoice")
        reference = invoice if isinstance(invoice, str) and invoice else str(updated.id)
        return UpgradeCharge(provider_reference=reference)

    def schedule_plan_change(self, target: UpgradeTarget, idempotency_key: str) -> None:
        """Switch the item to the new price without proration: Stripe bills it from the next renewal."""
        self._switch_price(target, {"proration_behavior": "none"}, idempotency_key, "changing the plan")

    def _switch_price(self, target: UpgradeTarget, extra: dict[str, Any], key: str, what: str) -> Any:
        subscription_id = target.provider_subscription_id
        current = self._call(
            "reading the subscription", lambda: self._client.v1.subscriptions.retrieve(subscription_id)
        )
        items = ((current.to_dict().get("items") or {}).get("data")) or []
        if len(items) != 1:
            raise PaymentProviderError(NAME, f"subscription {subscription_id} has {len(items)} items, not 1")
        params: Any = {
            "items": [{"id": items[0]["id"], "price": price_id(target.plan, target.interval)}],
            **extra,
            "metadata": {
                "organization_id": target.organization_id,
                "plan": target.plan.code,
                "interval": target.interval,
                **extra.get("metadata", {}),
            },
        }
        return self._call(
            what,
            lambda: self._client.v1.subscriptions.update(
                subscription_id, params, options={"idempotency_key": key}
            ),
        )

    def _set_cancel(self, provider_subscription_id: str, cancel: bool, idempotency_key: str) -> None:
        params: Any = {"cancel_at_period_end": cancel}
        self._call(
            "canceling the subscription" if cancel else "resuming the subscription",
            lambda: self._client.v1.subscriptions.update(
                provider_subscription_id, params, options={"idempotency_key": idempotency_key}
            ),
        )

    def cancel_at_period_end(self, provider_subscription_id: str, idempotency_key: str) -> None:
        self._set_cancel(provider_subscription_id, True, idempotency_key)

    def resume(self, provider_subscription_id: str, idempotency_key: str) -> None:
        self._set_cancel(provider_subscription_id, False, idempotency_key)

    def create_pack_checkout(self, order: PackCheckout, idempotency_key: str) -> CheckoutLink:
        """A Checkout Session in payment mode for one pack: the pack's Stripe price, or the price
        stated inline. The card is saved on the customer for later off-session charges."""
        pack = order.pack
        metadata = {
            "organization_id": order.organization_id,
            "purchase_id": str(order.purchase_id),
            "pack": pack.code,
        }
        item: dict[str, Any] = (
            {"price": pack.stripe_price, "quantity": 1}
            if pack.stripe_price
            else {
                "price_data": {
                    "currency": pack.currency.lower(),
                    "unit_amount": pack.price_cents,
                    "product_data": {"name": f"{pack.name}: {credits_label(pack.credits)} credits"},
                },
                "quantity": 1,
            }
        )
        params: Any = {
            "mode": "payment",
            "line_items": [item],
            "client_reference_id": order.organization_id,
            "success_url": order.success_url,
            "cancel_url": order.cancel_url,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "setup_future_usage": "off_session"},
            **({"customer": order.customer_id} if order.customer_id else {"customer_creation": "always"}),
        }
        session = self._call(
            "creating a checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                params, options={"idempotency_key": idempotency_key}
            ),
        )
        if not session.url:
            raise PaymentProviderError(NAME, "the checkout session has no URL")
        return CheckoutLink(url=session.url, provider_reference=session.id)

    def charge_saved_method(self, charge: SavedMethodCharge) -> ChargeResult:
        """A PaymentIntent confirmed at once, off-session, with the saved card. A decline (or a card
        that needs its holder, e.g. 3-D Secure) is a final `failed`; a provider that cannot be
        reached raises PaymentProviderError, and the same idempotency key makes the retry safe."""
        method = charge.payment_method_id or self._default_method(charge.customer_id)
        if method is None:
            return ChargeResult("failed", None, "no_saved_payment_method")
        params: Any = {
            "amount": charge.amount_cents,
            "currency": charge.currency.lower(),
            "customer": charge.customer_id,
            "payment_method": method,
            "off_session": True,
            "confirm": True,
            "description": charge.description,
            "metadata": {
                "organization_id": charge.organization_id,
                "purchase_id": str(charge.purchase_id),
                "pack": charge.pack_code,
            },
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params, options={"idempotency_key": charge.idempotency_key}
            )
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            raw = error.json_body if isinstance(error.json_body, dict) else {}
            body: dict[str, Any] = raw["error"] if isinstance(raw.get("error"), dict) else {}
            declined = body.get("payment_intent") or {}
            reason = body.get("decline_code") or body.get("code") or error.user_message or "declined"
            reference = declined.get("id") if isinstance(declined, dict) else None
            return ChargeResult("failed", reference, str(reason))
        except stripe.StripeError as error:
            raise PaymentProviderError(
                NAME, f"charging the saved card failed: {type(error).__name__}"
            ) from error
        if intent.status == "succeeded":
            return ChargeResult("succeeded", intent.id)
        if intent.status == "processing":
            return ChargeResult("pending", intent.id)
        return ChargeResult("failed", intent.id, f"payment_{intent.status}")  # e.g. requires_action

    def _default_method(self, customer_id: str) -> str | None:
        """The customer's default payment method, else the card it saved last."""
        customer = self._call(
            "reading the customer", lambda: self._client.v1.customers.retrieve(customer_id)
        ).to_dict()
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if isinstance(default, dict):
            default = default.get("id")
        if isinstance(default, str) and default:
            return default
        listed = self._call(
            "listing the customer's payment methods",
            lambda: self._client.v1.customers.payment_methods.list(customer_id, {"limit": 1}),
        ).to_dict()
        methods = listed.get("data") or []
        return str(methods[0]["id"]) if methods else None
