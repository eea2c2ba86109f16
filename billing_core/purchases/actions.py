"""The purchase use cases the API, the billing console, the CLI and the workers share: buy a pack
through a provider's checkout, configure auto-recharge, and charge a recorded auto-recharge.

Each takes the engine and the configured payment providers (by name) and raises domain errors.
The purchase row (and its idempotency key) is committed before the provider is called, so a
retried request or job reuses the key and the provider acts once; the credits come only from the
provider's word that it is paid (its webhook, or the off-session charge's answer)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine

from billing_core.db.uow import committed, read_only
from billing_core.errors import ProviderNotConfigured
from billing_core.purchases import recharges, store
from billing_core.purchases.fulfilment import record_failed
from billing_core.purchases.methods import saved_method
from billing_core.purchases.packs import CreditPack, pack_on_sale
from billing_core.purchases.recharges import RechargeSettings
from billing_core.queries.organizations import require_organization
from billing_core.subscriptions.actions import Providers, provider_named
from billing_core.subscriptions.payment_port import PackCheckout

RECHARGE_PROVIDER = "stripe"  # the one provider with off-session charges of a saved card


@dataclass(frozen=True)
class PurchaseRequest:
    pack: str
    provider: str
    success_url: str
    cancel_url: str

    def digest(self, org: str, day: str) -> str:
        """Who asks for what, on which (UTC) day: a double click or a retry is the same checkout."""
        parts = "\n".join((org, self.pack, self.provider, self.success_url, self.cancel_url, day))
        return hashlib.sha256(parts.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class PurchaseLink:
    url: str
    provider: str
    provider_reference: str
    purchase_id: int


def start_purchase(
    engine: Engine, payments: Providers, org: str, wanted: PurchaseRequest, now: datetime
) -> PurchaseLink:
    """A provider's checkout page for one credit pack. The credits are granted when the provider
    reports the payment (its webhook), once."""

    def check(connection: Connection) -> None:
        require_organization(connection, org)
        pack_on_sale(connection, wanted.pack)

    read_only(engine, check)  # what is asked for exists, before the provider is looked at
    provider = provider_named(payments, wanted.provider)  # ProviderNotConfigured before any write

    def open_(connection: Connection) -> tuple[store.Purchase, CreditPack, str | None]:
        require_organization(connection, org)
        pack = pack_on_sale(connection, wanted.pack)
        purchase = store.open_checkout(
            connection, org, pack, wanted.provider, wanted.digest(org, now.date().isoformat()), now
        )
        method = saved_method(connection, org) if wanted.provider == RECHARGE_PROVIDER else None
        return purchase, pack, method.customer_id if method else None

    purchase, pack, customer = committed(engine, open_)
    # What the purchase recorded is what is sold, should the pack have changed since it was opened.
    sold = replace(
        pack, credits=purchase.credits, price_cents=purchase.price_cents, currency=purchase.currency
    )
    order = PackCheckout(purchase.id, org, sold, wanted.success_url, wanted.cancel_url, customer)
    link = provider.create_pack_checkout(order, purchase.idempotency_key)
    if link.provider_reference != purchase.checkout_reference:

        def keep(connection: Connection) -> None:
            locked = store.load(connection, purchase.id, lock=True)
            if locked is not None and locked.status == "pending":
                store.update(connection, purchase.id, now, checkout_reference=link.provider_reference)

        committed(engine, keep)
    return PurchaseLink(link.url, wanted.provider, link.provider_reference, purchase.id)


def configure_auto_recharge(
    engine: Engine,
    org: str,
    now: datetime,
    *,
    enabled: bool,
    threshold: int | None = None,
    pack: str | None = None,
    monthly_cap_cents: int | None = None,
) -> RechargeSettings | None:
    """Turn auto-recharge on (with the values given, or those kept from before) or off."""
    return committed(
        engine,
        lambda c: recharges.set_settings(
            c,
            org,
            now,
            enabled=enabled,
            threshold=threshold,
            pack_code=pack,
            monthly_cap_cents=monthly_cap_cents,
        ),
    )


def charge_recharge(engine: Engine, payments: Providers, purchase_id: int, now: datetime) -> str:
    """Charge one recorded auto-recharge off-session, at most once; returns its status afterwards.
    A provider that cannot be reached raises PaymentProviderError: the job runs again later with
    the same idempotency key (and gives up after recharges.MAX_ATTEMPTS claims)."""
    try:
        provider = provider_named(payments, RECHARGE_PROVIDER)
    except ProviderNotConfigured:

        def give_up(connection: Connection) -> str:
            purchase = store.load(connection, purchase_id, lock=True)
            if purchase is not None and purchase.status in ("requested", "charging"):
                record_failed(connection, purchase, "provider_not_configured", now)
            return purchase.status if purchase is not None else "missing"

        committed(engine, give_up)
        return _status(engine, purchase_id)
    charge = committed(engine, lambda c: recharges.claim(c, purchase_id, now))
    if charge is None:
        return _status(engine, purchase_id)
    result = provider.charge_saved_method(charge)
    return committed(engine, lambda c: recharges.settle(c, purchase_id, result, now))


def _status(engine: Engine, purchase_id: int) -> str:
    purchase = read_only(engine, lambda c: store.load(c, purchase_id))
    return purchase.status if purchase is not None else "missing"
