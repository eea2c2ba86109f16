"""The debit path's part of auto-recharge (purchases/recharges.py tells the whole story): a crossing
below the threshold, found from the balance before and after a debit group, records the recharge to
do, once per crossing. Called by notifications/balance_alerts.py `after_debits`, in the debit
group's transaction; it imports nothing that grants, so the ledger can call it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.db.bulk import json_rows
from billing_core.ledger.accounts import Account
from billing_core.purchases import rules


def record_crossings(connection: Connection, accounts: Iterable[Account], now: datetime) -> list[int]:
    """The debit hook: for every account whose balance fell below its recharge threshold in this
    transaction, count the crossing and record the recharge to do (once per crossing). Returns the
    new purchases' ids, for the caller to hand to the job after its commit."""
    crossing = [a for a in accounts if rules.crossed(a.balance_before, a.balance, a.recharge_threshold)]
    if not crossing:
        return []
    for account in crossing:
        account.recharge_crossings += 1
    rows = [{"org": a.organization_id, "n": a.recharge_crossings} for a in crossing]
    result = connection.execute(
        text(
            "INSERT INTO purchases (organization_id, pack_code, kind, provider, status, credits, "
            "price_cents, currency, expires_after_days, idempotency_key, created_at, updated_at) "
            "SELECT s.organization_id, p.code, 'auto_recharge', 'stripe', 'requested', p.credits, "
            "p.price_cents, p.currency, p.expires_after_days, 'auto-recharge:' || v.org || ':' || v.n, "
            ":now, :now FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(org text, n bigint) "
            "JOIN auto_recharge_settings s ON s.organization_id = v.org AND s.enabled "
            "JOIN credit_packs p ON p.code = s.pack_code "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
        ),
        {"rows": json_rows(rows), "now": now},
    )
    return [int(row_id) for (row_id,) in result]
