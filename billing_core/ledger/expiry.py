"""Expiring grants: an `expiration` row removes exactly what a grant has left when it expires."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.ledger.accounts import lock_accounts, save_accounts
from billing_core.ledger.drawdown import Allocation
from billing_core.ledger.journal import LedgerRow, insert_rows, payload_hash


def expire_due_grants(connection: Connection, now: datetime, *, limit: int = 1000) -> int:
    """Expire up to `limit` grants whose expiry has passed; returns how many were expired."""
    due = connection.execute(
        text(
            "SELECT id, organization_id FROM credit_grants WHERE expired_at IS NULL "
            "AND expires_at <= :now ORDER BY expires_at, id LIMIT :limit"
        ),
        {"now": now, "limit": limit},
    ).all()
    by_org: dict[str, list[int]] = defaultdict(list)
    for grant_id, org in due:
        by_org[org].append(grant_id)
    accounts = lock_accounts(connection, by_org)  # balance rows first: the global lock order
    grants = connection.execute(
        text(
            "SELECT id, organization_id, remaining, expires_at FROM credit_grants "
            "WHERE id = ANY(:ids) AND expired_at IS NULL ORDER BY id FOR UPDATE"
        ),
        {"ids": [gid for gid, _ in due]},
    ).all()
    rows: list[LedgerRow] = []
    for grant_id, org, remaining, expires_at in grants:
        if remaining == 0:
            continue
        account = accounts[org]
        account.balance -= remaining
        key = f"expire:{grant_id}"
        rows.append(
            LedgerRow(
                organization_id=org,
                type="expiration",
                amount=-remaining,
                balance_after=account.balance,
                idempotency_key=key,
                payload_hash=payload_hash({"grant_id": grant_id, "remaining": remaining}),
                reference_type="grant",
                reference_id=str(grant_id),
                occurred_at=expires_at,
                description=f"Expiration of grant {grant_id}",
                allocations=[Allocation(grant_id, remaining)],
            )
        )
    insert_rows(connection, rows)
    connection.execute(
        text("UPDATE credit_grants SET remaining = 0, expired_at = :now WHERE id = ANY(:ids)"),
        {"ids": [g[0] for g in grants], "now": now},
    )
    save_accounts(connection, (accounts[o] for o in sorted({r.organization_id for r in rows})), now)
    return len(grants)
