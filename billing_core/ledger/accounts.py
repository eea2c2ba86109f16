"""Organizations' balance rows and live grants, locked in a fixed order so writers never deadlock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.db.bulk import json_rows, json_values
from billing_core.errors import InvalidInput, UnknownOrganization
from billing_core.ledger.drawdown import GrantBucket


@dataclass
class Account:
    """An organization's balance row as locked by the current transaction, with its low-balance
    alert state (notifications/alerts.py) and its auto-recharge threshold (purchases/recharges.py)."""

    organization_id: str
    balance: int
    overdraft: int
    alert_thresholds: list[int] = field(default_factory=lambda: [20, 5])
    alert_base: int = 0
    alert_level: int = 0
    held: int = 0  # Σ the organization's active credit holds
    recharge_threshold: int | None = None  # set while auto-recharge is enabled
    recharge_crossings: int = 0  # how many times the balance fell below it (each recharge's key)
    balance_before: int = 0  # as locked, before this transaction's changes

    def __post_init__(self) -> None:
        self.balance_before = self.balance


def create_organization(connection: Connection, organization_id: str, name: str | None = None) -> bool:
    """Create an organization and its zero balance; False if it already existed."""
    if not organization_id or len(organization_id) > 200 or organization_id.strip() != organization_id:
        raise InvalidInput("organization_id", "must be 1-200 characters without surrounding spaces")
    created = connection.execute(
        text(
            "INSERT INTO organizations (id, name) VALUES (:id, :name) "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"id": organization_id, "name": name or organization_id},
    ).first()
    connection.execute(
        text("INSERT INTO balances (organization_id) VALUES (:id) ON CONFLICT DO NOTHING"),
        {"id": organization_id},
    )
    return created is not None


def lock_accounts(connection: Connection, organization_ids: Iterable[str]) -> dict[str, Account]:
    """Lock the balance rows of the given organizations in id order; unknown ones are absent."""
    ids = sorted(set(organization_ids))
    if not ids:
        return {}
    result = connection.execute(
        text(
            "SELECT organization_id, balance, overdraft, low_balance_thresholds, low_balance_base, "
            "low_balance_level, held, recharge_threshold, recharge_crossings FROM balances "
            "WHERE organization_id = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))) "
            "ORDER BY organization_id FOR UPDATE"
        ),
        {"ids": json_values(ids)},
    )
    return {org: Account(org, *values) for org, *values in result}


def lock_account(connection: Connection, organization_id: str) -> Account:
    account = lock_accounts(connection, [organization_id]).get(organization_id)
    if account is None:
        raise UnknownOrganization(organization_id)
    return account


def save_accounts(connection: Connection, accounts: Iterable[Account], now: datetime) -> None:
    """Write back balances and overdrafts of accounts locked by this transaction."""
    rows = list(accounts)
    if not rows:
        return
    connection.execute(
        text(
            "UPDATE balances b SET balance = v.balance, overdraft = v.overdraft, "
            "low_balance_base = v.base, low_balance_level = v.level, held = v.held, "
            "recharge_crossings = v.crossings, updated_at = :now "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(org text, balance bigint, "
            "overdraft bigint, base bigint, level integer, held bigint, crossings bigint) "
            "WHERE b.organization_id = v.org"
        ),
        {
            "rows": json_rows(
                [
                    {
                        "org": a.organization_id,
                        "balance": a.balance,
                        "overdraft": a.overdraft,
                        "base": a.alert_base,
                        "level": a.alert_level,
                        "held": a.held,
                        "crossings": a.recharge_crossings,
                    }
                    for a in rows
                ]
            ),
            "now": now,
        },
    )


def live_grants(connection: Connection, organization_ids: Iterable[str]) -> dict[str, list[GrantBucket]]:
    """Grants with credits remaining, per organization (call after locking the accounts)."""
    ids = sorted(set(organization_ids))
    grants: dict[str, list[GrantBucket]] = {org: [] for org in ids}
    if not ids:
        return grants
    result = connection.execute(
        text(
            "SELECT organization_id, id, remaining, effective_at, expires_at, priority, created_at "
            "FROM credit_grants WHERE organization_id = ANY(ARRAY"
            "(SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))) AND remaining > 0 "
            "AND expired_at IS NULL ORDER BY id"
        ),
        {"ids": json_values(ids)},
    )
    for org, *fields in result:
        grants[org].append(GrantBucket(*fields))
    return grants


def save_grant_remainders(connection: Connection, remainders: dict[int, int]) -> None:
    """Set `remaining` of the given grants (whose accounts this transaction has locked)."""
    if not remainders:
        return
    ids = sorted(remainders)
    connection.execute(
        text(
            "UPDATE credit_grants g SET remaining = v.remaining "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, remaining bigint) "
            "WHERE g.id = v.id"
        ),
        {"rows": json_rows([{"id": i, "remaining": remainders[i]} for i in ids])},
    )
