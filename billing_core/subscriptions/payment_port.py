"""What billing needs from a payment provider (Stripe, Recurrente): the port, in plain values, for
subscriptions and for credit purchases (billing_core/purchases/).

Adapters live in the top-level `payments/` package; billing_core never imports an SDK. Every call
that creates or changes something at the provider carries an idempotency key, so a retried request
(by the caller, or by the HTTP library) has its effect once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from billing_core.plans.catalog import PlanConfig
from billing_core.purchases.packs import CreditPack

INTERVALS = ("month", "year")


@dataclass(frozen=True)
class CheckoutLink:
    """Where to send the customer to pay, and the provider's id of that checkout."""

    url: str
    provider_reference: str


@dataclass(frozen=True)
class UpgradeTarget:
    """A subscription being upgraded: who, at the provider, and to what (plan, billing interval)."""

    organization_id: str
    subscription_id: int
    provider_subscription_id: str
    plan: PlanConfig
    interval: str  # the interval being billed now; an interval change waits for the period's end
    success_url: str | None = None
    cancel_url: str | None = None


@dataclass(frozen=True)
class UpgradeCharge:
    """How the upgrade is being paid: charged at once (Stripe invoices the saved card), or at
    `checkout_url`, which the customer must visit (Recurrente)."""

    provider_reference: str
    checkout_url: str | None = None


@dataclass(frozen=True)
class PackCheckout:
    """A one-off purchase of a credit pack on the provider's page. Its metadata names the
    organization and the purchase, which the payment webhooks carry back."""

    purchase_id: int
    organization_id: str
    pack: CreditPack
    success_url: str
    cancel_url: str
    customer_id: str | None = None  # a Stripe customer the organization already has


@dataclass(frozen=True)
class SavedMethodCharge:
    """An off-session charge of a saved payment method (auto-recharge)."""

    purchase_id: int
    organization_id: str
    pack_code: str
    customer_id: str
    payment_method_id: str | None  # None: the customer's default payment method
    amount_cents: int
    currency: str
    description: str
    idempotency_key: str  # the purchase's own key: a retried charge is the same charge


@dataclass(frozen=True)
class ChargeResult:
    """The provider's answer: `succeeded`, `failed` (declined, or needs the customer: final) or
    `pending` (still processing: a webhook settles it). A provider that cannot be reached raises
    PaymentProviderError instead, and the charge is tried again with the same key."""

    status: str
    provider_reference: str | None
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    name: str

    def create_checkout(
        self,
        organization_id: str,
        plan: PlanConfig,
        interval: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutLink:
        """A page where the customer subscribes to `plan`, billed every `interval`."""
        ...

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        """The URL of a billing portal session (NotSupportedByProvider where there is none)."""
        ...

    def charge_upgrade(self, target: UpgradeTarget, amount_cents: int, idempotency_key: str) -> UpgradeCharge:
        """Charge the prorated difference of an upgrade (`amount_cents`, our quote)."""
        ...

    def schedule_plan_change(self, target: UpgradeTarget, idempotency_key: str) -> None:
        """Bill `target.plan` at `target.interval` from the next renewal on, with no charge now."""
        ...

    def cancel_at_period_end(self, provider_subscription_id: str, idempotency_key: str) -> None:
        """Stop renewing: no charge after the paid period."""
        ...

    def resume(self, provider_subscription_id: str, idempotency_key: str) -> None:
        """Undo cancel_at_period_end before the period ends."""
        ...

    def create_pack_checkout(self, order: PackCheckout, idempotency_key: str) -> CheckoutLink:
        """A page where the customer pays for one credit pack (and, at Stripe, saves the card for
        later off-session charges)."""
        ...

    def charge_saved_method(self, charge: SavedMethodCharge) -> ChargeResult:
        """Charge the saved payment method now, without the customer (NotSupportedByProvider where
        there is no such charge)."""
        ...
