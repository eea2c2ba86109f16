"""What a provider's word does to a purchase, in the caller's transaction, on a purchase row the
caller has locked: paid grants the credits once (`purchase:<id>`), failed tells the organization
once, refunded takes back what is left of the credits (never below what was spent).

Lock order: the purchase row (locked by the caller), then the balance row, then the grant row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import NotYet
from billing_core.ledger.accounts import lock_account, save_accounts
from billing_core.ledger.drawdown import Allocation
from billing_core.ledger.grants import GrantRequest, grant_credits
from billing_core.ledger.journal import LedgerRow, insert_rows, payload_hash
from billing_core.notifications import balance_alerts
from billing_core.notifications.events import PURCHASE_FAILED, PURCHASE_SUCCEEDED
from billing_core.notifications.outbox import emit
from billing_core.purchases import rules, store
from billing_core.purchases.store import AUTO_RECHARGE, Purchase

# Among grants with the same expiry, purchased credits are drawn after subscription and bonus
# credits (priority 0): the lower priority number is drawn first (ledger/drawdown.py).
PURCHASE_PRIORITY = 10


def grant_key(purchase_id: int) -> str:
    return f"purchase:{purchase_id}"


def _notice(purchase: Purchase, **extra: object) -> dict[str, object]:
    return {
        "purchase_id": purchase.id,
        "pack": purchase.pack_code,
        "kind": purchase.kind,
        "provider": purchase.provider,
        "credits": rules.credits_label(purchase.credits),
        "price_cents": purchase.price_cents,
        "currency": purchase.currency,
        **extra,
    }


def record_paid(
    connection: Connection, purchase: Purchase, now: datetime, *, payment_reference: str | None = None
) -> bool:
    """The provider says the purchase is paid: its credits are granted, once, whatever the status
    (a payment that succeeded after we gave up on it still bought the credits). Returns whether the
    credits were granted now."""
    if purchase.granted:
        if payment_reference and purchase.payment_reference is None:
            store.update(connection, purchase.id, now, payment_reference=payment_reference)
        return False
    expires_at = now + timedelta(days=purchase.expires_after_days) if purchase.expires_after_days else None
    what = "Auto-recharge" if purchase.kind == AUTO_RECHARGE else "Purchase"
    request = GrantRequest(
        organization_id=purchase.organization_id,
        amount=purchase.credits,
        type="purchase",
        idempotency_key=grant_key(purchase.id),
        effective_at=now,
        expires_at=expires_at,
        priority=PURCHASE_PRIORITY,
        description=f"{what}: pack {purchase.pack_code}, {rules.credits_label(purchase.credits)} credits "
        f"({purchase.price_cents} {purchase.currency} cents, {purchase.provider})",
        reference_type="purchase",
        reference_id=str(purchase.id),
    )
    result = grant_credits(connection, request, now)
    store.update(
        connection,
        purchase.id,
        now,
        status="paid",
        grant_id=result.grant_id,
        paid_at=now,
        payment_reference=payment_reference or purchase.payment_reference,
        failure_reason=None,
    )
    emit(connection, PURCHASE_SUCCEEDED, purchase.organization_id, _notice(purchase), grant_key(purchase.id))
    return True


def record_failed(
    connection: Connection,
    purchase: Purchase,
    reason: str,
    now: datetime,
    *,
    status: str = "failed",
    payment_reference: str | None = None,
) -> bool:
    """The purchase will not be paid (declined, cap reached, ...): `purchase.failed`, once. A
    purchase already paid or finished stays as it is. Returns whether it changed."""
    if purchase.status in store.FINISHED:
        return False
    store.update(
        connection,
        purchase.id,
        now,
        status=status,
        failure_reason=reason[:500],
        payment_reference=payment_reference or purchase.payment_reference,
    )
    emit(
        connection,
        PURCHASE_FAILED,
        purchase.organization_id,
        _notice(purchase, reason=reason[:500]),
        grant_key(purchase.id),
    )
    return True


@dataclass(frozen=True)
class RefundOutcome:
    taken: int  # micro-credits taken back by this event
    unrecovered: int  # micro-credits this event owed that were already spent (or expired)


def record_refund(
    connection: Connection, purchase: Purchase, refunded_cents: int, paid_cents: int, now: datetime
) -> RefundOutcome:
    """The provider refunded `refunded_cents` of the payment so far (its cumulative figure): take
    back that share of the credits from what is left of the purchase's grant, once per figure (a
    redelivered or older refund event changes nothing). NotYet before the purchase is granted."""
    if purchase.grant_id is None:
        raise NotYet(f"purchase {purchase.id} is not granted yet; its refund waits")
    if refunded_cents <= purchase.refunded_cents:
        return RefundOutcome(0, 0)
    account = lock_account(connection, purchase.organization_id)
    remaining, expired = connection.execute(
        text("SELECT remaining, expired_at IS NOT NULL FROM credit_grants WHERE id = :id FOR UPDATE"),
        {"id": purchase.grant_id},
    ).one()
    plan = rules.clawback(
        purchase.credits,
        purchase.clawed_back + purchase.unrecovered,
        refunded_cents,
        paid_cents,
        0 if expired else remaining,
    )
    if plan.take:
        account.balance -= plan.take
        connection.execute(
            text("UPDATE credit_grants SET remaining = remaining - :take WHERE id = :id"),
            {"take": plan.take, "id": purchase.grant_id},
        )
        spent = f"; {rules.credits_label(plan.unrecovered)} already spent" if plan.unrecovered else ""
        key = f"{grant_key(purchase.id)}:refund:{refunded_cents}"
        insert_rows(
            connection,
            [
                LedgerRow(
                    organization_id=purchase.organization_id,
                    type="purchase",
                    amount=-plan.take,
                    balance_after=account.balance,
                    idempotency_key=key,
                    payload_hash=payload_hash({"purchase": purchase.id, "refunded_cents": refunded_cents}),
                    reference_type="purchase",
                    reference_id=str(purchase.id),
                    occurred_at=now,
                    description=f"Refund of purchase {purchase.id} at {purchase.provider}: "
                    f"{rules.credits_label(plan.take)} credits taken back{spent}",
                    allocations=[Allocation(purchase.grant_id, plan.take)],
                )
            ],
        )
        # Low-balance alerts as for a debit; a refund never starts an auto-recharge.
        balance_alerts.after_debits(connection, [account], now, recharge=False)
        save_accounts(connection, [account], now)
    store.update(
        connection,
        purchase.id,
        now,
        refunded_cents=refunded_cents,
        clawed_back=purchase.clawed_back + plan.take,
        unrecovered=purchase.unrecovered + plan.unrecovered,
        status="refunded" if refunded_cents >= paid_cents else purchase.status,
    )
    return RefundOutcome(plan.take, plan.unrecovered)
