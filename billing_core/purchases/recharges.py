"""Auto-recharge: opt-in per organization (a threshold, a pack, a monthly cap).

- **The crossing** is found in the debit group's transaction (notifications/balance_alerts.py
  `after_debits`), from each organization's balance before and after the group, against the
  threshold kept on the balance row the group has locked: no query per event. A crossing adds one
  to `balances.recharge_crossings` and records a purchase `requested`, whose idempotency key
  `auto-recharge:<organization>:<crossing number>` comes from the crossing (one statement for the
  whole group, only when something crossed). No provider is called in that transaction.
- **The charge** happens after the commit, in the `charge_recharge` job (billing_core/purchases/
  actions.py), or when the scheduler finds the request still waiting: `claim` checks the setting
  and the monthly cap and marks it `charging` (committed); the provider is called with the
  purchase's key as its idempotency key, so a retried job charges once; `settle` records the
  answer. A decline is final: `purchase.failed`, no credits, no retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput
from billing_core.ledger.accounts import lock_account
from billing_core.purchases import rules, store
from billing_core.purchases.fulfilment import record_failed, record_paid
from billing_core.purchases.methods import SavedMethod, saved_method
from billing_core.purchases.packs import get_pack, pack_on_sale
from billing_core.purchases.store import AUTO_RECHARGE, Purchase
from billing_core.queries.organizations import require_organization
from billing_core.subscriptions.payment_port import ChargeResult, SavedMethodCharge

MAX_ATTEMPTS = 5  # claims of one recharge whose provider call did not answer
GIVE_UP_AFTER = timedelta(hours=12)  # well inside the 24 hours a Stripe idempotency key is kept


@dataclass(frozen=True)
class RechargeSettings:
    organization_id: str
    enabled: bool
    threshold: int  # micro-credits
    pack_code: str
    monthly_cap_cents: int
    updated_at: datetime


def get_settings(connection: Connection, org: str, *, lock: bool = False) -> RechargeSettings | None:
    row = connection.execute(
        text(
            "SELECT organization_id, enabled, threshold, pack_code, monthly_cap_cents, updated_at "
            "FROM auto_recharge_settings WHERE organization_id = :org" + (" FOR UPDATE" if lock else "")
        ),
        {"org": org},
    ).first()
    return None if row is None else RechargeSettings(*row)


def set_settings(
    connection: Connection,
    org: str,
    now: datetime,
    *,
    enabled: bool,
    threshold: int | None = None,
    pack_code: str | None = None,
    monthly_cap_cents: int | None = None,
) -> RechargeSettings | None:
    """Enable (every value given or kept from before) or disable auto-recharge. The threshold is
    copied to the balance row, where the debit path compares against it."""
    current = get_settings(connection, org, lock=True)
    threshold = threshold if threshold is not None else current.threshold if current else None
    pack_code = pack_code or (current.pack_code if current else None)
    cap = (
        monthly_cap_cents if monthly_cap_cents is not None else current.monthly_cap_cents if current else None
    )
    lock_account(connection, org)  # UnknownOrganization; after the setting row: the lock order
    if not enabled and current is None:
        return None
    if threshold is None or threshold <= 0:
        raise InvalidInput("threshold", "a positive number of credits is required")
    if pack_code is None:
        raise InvalidInput("pack", "name the credit pack to buy")
    if cap is None or isinstance(cap, bool) or cap <= 0:
        raise InvalidInput("monthly_cap_cents", "a positive amount in cents is required")
    pack = pack_on_sale(connection, pack_code)
    if cap < pack.price_cents:
        raise InvalidInput(
            "monthly_cap_cents", f"is below the price of pack {pack.code} ({pack.price_cents} cents)"
        )
    connection.execute(
        text(
            "INSERT INTO auto_recharge_settings (organization_id, enabled, threshold, pack_code, "
            "monthly_cap_cents, updated_at) VALUES (:org, :enabled, :threshold, :pack, :cap, :now) "
            "ON CONFLICT (organization_id) DO UPDATE SET enabled = EXCLUDED.enabled, "
            "threshold = EXCLUDED.threshold, pack_code = EXCLUDED.pack_code, "
            "monthly_cap_cents = EXCLUDED.monthly_cap_cents, updated_at = EXCLUDED.updated_at"
        ),
        {"org": org, "enabled": enabled, "threshold": threshold, "pack": pack.code, "cap": cap, "now": now},
    )
    connection.execute(
        text("UPDATE balances SET recharge_threshold = :t WHERE organization_id = :org"),
        {"t": threshold if enabled else None, "org": org},
    )
    return get_settings(connection, org)


def charged_this_month(connection: Connection, org: str, now: datetime) -> int:
    start, end = rules.month_of(now)
    total = connection.execute(
        text(
            "SELECT COALESCE(SUM(price_cents), 0) FROM purchases WHERE organization_id = :org "
            "AND kind = 'auto_recharge' AND status IN ('charging', 'paid', 'refunded') "
            "AND created_at >= :start AND created_at < :end"
        ),
        {"org": org, "start": start, "end": end},
    ).scalar_one()
    return int(total)


@dataclass(frozen=True)
class RechargeView:
    """What the API and the console show of an organization's auto-recharge."""

    settings: RechargeSettings | None
    charged_this_month_cents: int
    saved_payment_method: bool

    @property
    def enabled(self) -> bool:
        return self.settings is not None and self.settings.enabled


def recharge_view(connection: Connection, org: str, now: datetime) -> RechargeView:
    require_organization(connection, org)
    return RechargeView(
        get_settings(connection, org),
        charged_this_month(connection, org, now),
        saved_method(connection, org) is not None,
    )


def claim(connection: Connection, purchase_id: int, now: datetime) -> SavedMethodCharge | None:
    """Take a requested (or interrupted) recharge for charging; None when there is nothing to charge
    (done already, skipped for the cap or a disabled setting, or failed: each recorded here)."""
    purchase = store.load(connection, purchase_id, lock=True)
    if purchase is None or purchase.kind != AUTO_RECHARGE or purchase.status not in ("requested", "charging"):
        return None
    settings = get_settings(connection, purchase.organization_id, lock=True)  # one claim per org at a time
    if purchase.status == "requested":
        if settings is None or not settings.enabled:
            store.update(
                connection, purchase.id, now, status="skipped", failure_reason="auto_recharge_disabled"
            )
            return None
        if not get_pack(connection, purchase.pack_code).active:
            record_failed(connection, purchase, "pack_not_on_sale", now, status="skipped")
            return None
        if not rules.within_monthly_cap(
            charged_this_month(connection, purchase.organization_id, now),
            purchase.price_cents,
            settings.monthly_cap_cents,
        ):
            record_failed(connection, purchase, "monthly_cap_reached", now, status="skipped")
            return None
    elif purchase.attempts >= MAX_ATTEMPTS or now - purchase.created_at > GIVE_UP_AFTER:
        record_failed(connection, purchase, "provider_unreachable", now)
        return None
    method = saved_method(connection, purchase.organization_id)
    if method is None:
        record_failed(connection, purchase, "no_saved_payment_method", now)
        return None
    store.update(connection, purchase.id, now, status="charging", attempts=purchase.attempts + 1)
    return _charge_of(purchase, method)


def _charge_of(purchase: Purchase, method: SavedMethod) -> SavedMethodCharge:
    return SavedMethodCharge(
        purchase_id=purchase.id,
        organization_id=purchase.organization_id,
        pack_code=purchase.pack_code,
        customer_id=method.customer_id,
        payment_method_id=method.payment_method_id,
        amount_cents=purchase.price_cents,
        currency=purchase.currency,
        description=f"Auto-recharge: {rules.credits_label(purchase.credits)} credits ({purchase.pack_code})",
        idempotency_key=purchase.idempotency_key,
    )


def settle(connection: Connection, purchase_id: int, result: ChargeResult, now: datetime) -> str:
    """Record the provider's answer to the charge; returns the purchase's status afterwards."""
    purchase = store.load(connection, purchase_id, lock=True)
    if purchase is None:
        return "missing"
    if result.status == "succeeded":
        record_paid(connection, purchase, now, payment_reference=result.provider_reference)
    elif result.status == "failed":
        record_failed(
            connection,
            purchase,
            result.failure_reason or "declined",
            now,
            payment_reference=result.provider_reference,
        )
    elif result.provider_reference and purchase.payment_reference is None:
        # Still processing at the provider: its payment_intent webhook settles it.
        store.update(connection, purchase.id, now, payment_reference=result.provider_reference)
    reloaded = store.load(connection, purchase_id)
    return reloaded.status if reloaded is not None else "missing"


def in_flight(connection: Connection, now: datetime, *, limit: int = 200) -> list[int]:
    """Recharges to (re)start: requested a minute ago and never claimed (the job's message was
    lost), or charging for ten minutes (the job died during the provider call)."""
    rows = connection.execute(
        text(
            "SELECT id FROM purchases WHERE (status = 'requested' AND updated_at <= :requested) "
            "OR (status = 'charging' AND updated_at <= :charging) ORDER BY id LIMIT :limit"
        ),
        {"requested": now - timedelta(minutes=1), "charging": now - timedelta(minutes=10), "limit": limit},
    )
    return [int(r) for (r,) in rows]
