"""Low-balance notifications from the ledger's own writes: the debit group, a grant, a refund.
Each call works on accounts the caller has locked and saves with them (the alert level is a column
of the balance row), so an alert commits or rolls back with the change that caused it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from billing_core.ledger.accounts import Account
from billing_core.money import micros_to_text
from billing_core.notifications import alerts
from billing_core.notifications.events import CREDITS_GRANTED
from billing_core.notifications.outbox import emit
from billing_core.purchases import crossings


def _emit_all(connection: Connection, account: Account, fired: list[alerts.Alert], now: datetime) -> None:
    for alert in fired:
        data = {
            "balance": micros_to_text(account.balance),
            "allocation": micros_to_text(account.alert_base),
            **({"threshold_percent": alert.threshold_percent} if alert.threshold_percent else {}),
        }
        # The level moved in this transaction; the key only tells this crossing from another one.
        key = ":".join(
            map(
                str,
                (
                    account.organization_id,
                    alert.threshold_percent,
                    account.balance_before,
                    account.balance,
                    now,
                ),
            )
        )
        emit(connection, alert.event_type, account.organization_id, data, key)


def after_debits(
    connection: Connection, accounts: Iterable[Account], now: datetime, *, recharge: bool = True
) -> list[int]:
    """Thresholds crossed by a group of debits (one per organization, from before and after), and
    the auto-recharges those crossings call for (purchases/crossings.py): returns the ids of the
    recharges recorded, for the caller to hand to the recharge job once its transaction commits."""
    lowered = [a for a in accounts if a.balance < a.balance_before]
    for account in lowered:
        level, fired = alerts.after_debit(
            account.alert_level, account.balance, account.alert_base, account.alert_thresholds
        )
        account.alert_level = level
        if fired:
            _emit_all(connection, account, fired, now)
    return crossings.record_crossings(connection, lowered, now) if recharge else []


def after_credit(
    connection: Connection,
    account: Account,
    *,
    source: str,
    amount: int,
    reference: str,
    now: datetime,
    allocation: int | None = None,
) -> None:
    """Credits added: `credits.granted`, a new allocation for the thresholds (a grant), and
    `balance.recovered` when the balance is back above the highest threshold."""
    if allocation is not None:
        account.alert_base = allocation
    level, fired = alerts.after_credit(
        account.alert_level, account.balance, account.alert_base, account.alert_thresholds
    )
    account.alert_level = level
    emit(
        connection,
        CREDITS_GRANTED,
        account.organization_id,
        {"source": source, "credits": micros_to_text(amount), "balance": micros_to_text(account.balance)},
        f"{source}:{reference}",
    )
    _emit_all(connection, account, fired, now)
