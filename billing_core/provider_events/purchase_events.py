"""Provider events about credit purchases (billing_core/purchases/), in any order and any number
of times: the credits are granted once when the provider says paid, a refund takes back what is
left of them once per refunded amount.

Our checkouts and off-session charges carry `metadata.purchase_id` (and `organization_id`); Stripe
copies a checkout's `payment_intent_data.metadata` onto its payment intent and charge. An event
naming a purchase that does not exist, or another organization's, can never apply: it is parked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from billing_core.errors import InvalidInput, UnapplicableEvent
from billing_core.provider_events.common import Handler, dig
from billing_core.provider_events.inbox import stored_purchase_of_payment
from billing_core.purchases import methods, store
from billing_core.purchases.fulfilment import record_failed, record_paid, record_refund
from billing_core.purchases.store import AUTO_RECHARGE, Purchase


def _id(value: Any) -> str | None:
    """A Stripe reference, given as its id or as the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def names_purchase(metadata: Any) -> bool:
    return isinstance(metadata, dict) and metadata.get("purchase_id") is not None


def _purchase(
    connection: Connection, provider: str, metadata: Any, *, payment_reference: str | None = None
) -> Purchase | None:
    """The purchase an event is about, locked: by `metadata.purchase_id`, else by the payment's
    reference; None when the event is about no purchase of ours."""
    if not names_purchase(metadata):
        if payment_reference:
            return store.find_by_payment(connection, provider, payment_reference, lock=True)
        return None
    raw = str(metadata["purchase_id"])
    purchase = store.load(connection, int(raw), lock=True) if raw.isdigit() else None
    if purchase is None or purchase.provider != provider:
        raise UnapplicableEvent("unknown_purchase", f"metadata.purchase_id {raw!r}: no {provider} purchase")
    org = metadata.get("organization_id")
    if org and org != purchase.organization_id:
        raise UnapplicableEvent(
            "organization_mismatch",
            f"purchase {purchase.id} belongs to {purchase.organization_id!r}, not {org!r}",
        )
    return purchase


def stripe_checkout_completed(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """A payment-mode checkout of ours: paid now (card), or later (`async_payment_succeeded`).
    Subscription checkouts are only recorded: their invoices do the work."""
    session = event["data"]["object"]
    if session.get("mode") != "payment":
        return
    purchase = _purchase(connection, "stripe", session.get("metadata"))
    if purchase is None:
        return  # a payment this app did not ask for: recorded, no effect
    methods.remember(connection, purchase.organization_id, _id(session.get("customer")), None, now)
    payment = _id(session.get("payment_intent"))
    if (
        session.get("payment_status") == "paid"
        or event.get("type") == "checkout.session.async_payment_succeeded"
    ):
        record_paid(connection, purchase, now, payment_reference=payment)
    elif payment and purchase.payment_reference is None and not purchase.granted:
        store.update(connection, purchase.id, now, payment_reference=payment)


def stripe_checkout_failed(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """The delayed payment of a checkout failed (e.g. a bank debit): no credits, `purchase.failed`."""
    session = event["data"]["object"]
    purchase = _purchase(connection, "stripe", session.get("metadata"))
    if purchase is not None:
        record_failed(connection, purchase, "async_payment_failed", now)


def stripe_checkout_expired(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """The customer never paid: the purchase is over (a new request makes a new checkout)."""
    purchase = _purchase(connection, "stripe", event["data"]["object"].get("metadata"))
    if purchase is not None and purchase.status == "pending":
        store.update(connection, purchase.id, now, status="expired")


def stripe_payment_succeeded(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """A payment intent of ours succeeded (a checkout's, or an auto-recharge's): paid, and its card
    is the organization's saved payment method from now on."""
    intent = event["data"]["object"]
    reference = _id(intent.get("id"))
    purchase = _purchase(connection, "stripe", intent.get("metadata"), payment_reference=reference)
    if purchase is None:
        return
    methods.remember(
        connection,
        purchase.organization_id,
        _id(intent.get("customer")),
        _id(intent.get("payment_method")),
        now,
    )
    record_paid(connection, purchase, now, payment_reference=reference)


def stripe_payment_failed(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """An auto-recharge's charge failed: final. (In a checkout the customer may try another card on
    the same page: only the checkout's own events count there.)"""
    intent = event["data"]["object"]
    reference = _id(intent.get("id"))
    purchase = _purchase(connection, "stripe", intent.get("metadata"), payment_reference=reference)
    if purchase is None or purchase.kind != AUTO_RECHARGE:
        return
    error = intent.get("last_payment_error") or {}
    reason = error.get("decline_code") or error.get("code") or error.get("message") or "payment_failed"
    record_failed(connection, purchase, str(reason), now, payment_reference=reference)


def stripe_charge_refunded(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """A refund at Stripe (full or partial; `amount_refunded` is the total so far) takes back that
    share of the purchase's credits, as far as they are unspent; the rest is recorded."""
    charge = event["data"]["object"]
    payment = _id(charge.get("payment_intent"))
    metadata = charge.get("metadata") or {}
    if not names_purchase(metadata) and payment:
        # A refund that arrives before the purchase's other events: they name the purchase.
        if store.find_by_payment(connection, "stripe", payment) is None:
            stored = stored_purchase_of_payment(connection, payment)
            metadata = {"purchase_id": stored} if stored else metadata
    purchase = _purchase(connection, "stripe", metadata, payment_reference=payment)
    if purchase is None:
        return  # not a purchase (e.g. a subscription invoice's payment): recorded, no effect
    refunded, paid = charge.get("amount_refunded"), charge.get("amount")
    if isinstance(refunded, bool) or not isinstance(refunded, int) or refunded < 0:
        raise InvalidInput("charge.amount_refunded", "must be a non-negative integer of cents")
    if isinstance(paid, bool) or not isinstance(paid, int) or paid <= 0:
        paid = purchase.price_cents
    record_refund(connection, purchase, refunded, paid, now)


def recurrente_payment_succeeded(connection: Connection, event: dict[str, Any], now: datetime) -> None:
    """Recurrente's paid event for a checkout of ours (`checkout.metadata.purchase_id`)."""
    purchase = _purchase(connection, "recurrente", dig(event, "checkout", "metadata"))
    if purchase is not None:
        record_paid(connection, purchase, now, payment_reference=_id(event.get("id")))


STRIPE_HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": stripe_checkout_completed,
    "checkout.session.async_payment_succeeded": stripe_checkout_completed,
    "checkout.session.async_payment_failed": stripe_checkout_failed,
    "checkout.session.expired": stripe_checkout_expired,
    "payment_intent.succeeded": stripe_payment_succeeded,
    "payment_intent.payment_failed": stripe_payment_failed,
    "charge.refunded": stripe_charge_refunded,
}
