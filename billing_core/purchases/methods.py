"""The payment method a purchase saved at Stripe, for off-session auto-recharges: the customer of
the organization's purchases (or of its Stripe subscription) and, when a payment reported it, the
payment method itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class SavedMethod:
    customer_id: str
    payment_method_id: str | None  # None: the customer's default, resolved by the provider adapter


def remember(
    connection: Connection,
    organization_id: str,
    customer_id: str | None,
    payment_method_id: str | None,
    now: datetime,
) -> None:
    """Keep the Stripe customer (and payment method) a payment of this organization used; a new
    customer replaces the old one with its own method, the same customer keeps a known method."""
    if not customer_id:
        return
    connection.execute(
        text(
            "INSERT INTO saved_payment_methods (organization_id, provider, customer_id, "
            "payment_method_id, updated_at) VALUES (:org, 'stripe', :customer, :method, :now) "
            "ON CONFLICT (organization_id, provider) DO UPDATE SET customer_id = EXCLUDED.customer_id, "
            "payment_method_id = CASE WHEN saved_payment_methods.customer_id = EXCLUDED.customer_id "
            "THEN COALESCE(EXCLUDED.payment_method_id, saved_payment_methods.payment_method_id) "
            "ELSE EXCLUDED.payment_method_id END, updated_at = EXCLUDED.updated_at"
        ),
        {"org": organization_id, "customer": customer_id, "method": payment_method_id, "now": now},
    )


def saved_method(connection: Connection, organization_id: str) -> SavedMethod | None:
    """The saved Stripe method, else the customer of the organization's latest Stripe subscription."""
    row = connection.execute(
        text(
            "SELECT customer_id, payment_method_id FROM saved_payment_methods "
            "WHERE organization_id = :org AND provider = 'stripe'"
        ),
        {"org": organization_id},
    ).first()
    if row is not None:
        return SavedMethod(row[0], row[1])
    customer = connection.execute(
        text(
            "SELECT provider_customer_id FROM subscriptions WHERE organization_id = :org "
            "AND provider = 'stripe' AND provider_customer_id IS NOT NULL ORDER BY id DESC LIMIT 1"
        ),
        {"org": organization_id},
    ).scalar()
    return SavedMethod(str(customer), None) if customer else None
