"""Writing ledger rows: one set-based INSERT per call, idempotent on the row's key.

Design overview
- `credit_transactions` is append-only. Sign convention: amount > 0 adds credits (grants,
  refunds), amount < 0 removes them (usage, expiration). balance = Σ amount per organization.
- Every row carries a unique idempotency key and a hash of the payload that produced it, so a
  replay is recognised as a duplicate (same hash) or a conflict (different hash).
- `allocations` lists the grants a row moved credits in or out of; grant_id null = overdraft.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, text

from billing_core.db.bulk import json_rows, json_values
from billing_core.errors import RetryableConflict
from billing_core.ledger.drawdown import Allocation


def payload_hash(payload: Mapping[str, Any]) -> str:
    """A stable hash of a JSON-able payload (key order does not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def allocations_json(allocations: Sequence[Allocation]) -> str:
    return json.dumps([{"grant_id": a.grant_id, "amount": a.amount} for a in allocations])


@dataclass
class LedgerRow:
    """One credit transaction about to be written."""

    organization_id: str
    type: str
    amount: int
    balance_after: int
    idempotency_key: str
    payload_hash: str
    reference_type: str
    reference_id: str
    occurred_at: datetime
    description: str = ""
    allocations: Sequence[Allocation] = ()
    user_id: str | None = None
    agent_id: str | None = None
    event_id: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    tools: Mapping[str, int] | None = None
    model_price_id: int | None = None
    cost_breakdown: Mapping[str, Any] | None = field(default=None)
    hold_id: int | None = None
    audit_event_id: int | None = None  # the audit event of a row a person caused (bonus, admin refund)


_COLUMNS: list[tuple[str, str]] = [
    ("organization_id", "text"),
    ("type", "text"),
    ("amount", "bigint"),
    ("balance_after", "bigint"),
    ("idempotency_key", "text"),
    ("payload_hash", "text"),
    ("reference_type", "text"),
    ("reference_id", "text"),
    ("description", "text"),
    ("user_id", "text"),
    ("agent_id", "text"),
    ("event_id", "text"),
    ("model", "text"),
    ("input_tokens", "bigint"),
    ("cached_input_tokens", "bigint"),
    ("output_tokens", "bigint"),
    ("tools", "jsonb"),
    ("model_price_id", "bigint"),
    ("cost_breakdown", "jsonb"),
    ("allocations", "jsonb"),
    ("occurred_at", "timestamptz"),
    ("hold_id", "bigint"),
    ("audit_event_id", "bigint"),
]
# The bulk path writes usage debits only, which no person causes: no audit_event_id.
_COPIED = [name for name, _ in _COLUMNS if name != "audit_event_id"]

# The statement is assembled from the constant column list above; values are one bound parameter.
_NAMES = ", ".join(name for name, _ in _COLUMNS)
_RECORD = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)
_INSERT_NEW = (
    f"INSERT INTO credit_transactions ({_NAMES}) SELECT {_NAMES} "  # noqa: S608
    f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_RECORD}) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_INSERT = text(f"{_INSERT_NEW} RETURNING id, idempotency_key")
_COPY = f"COPY credit_transactions ({', '.join(_COPIED)}) FROM STDIN"


def _record(row: LedgerRow) -> dict[str, Any]:
    record = {name: getattr(row, name) for name, _ in _COLUMNS}
    record["allocations"] = [{"grant_id": a.grant_id, "amount": a.amount} for a in row.allocations]
    return record


def insert_rows(connection: Connection, rows: Sequence[LedgerRow]) -> dict[str, int]:
    """Insert rows whose key is new; returns {idempotency_key: transaction id} of those inserted."""
    if not rows:
        return {}
    result = connection.execute(_INSERT, {"rows": json_rows([_record(r) for r in rows])})
    return {key: row_id for row_id, key in result}


def copy_new_rows(connection: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """The bulk path: COPY rows (tuples in the column order of `COPY_COLUMNS`, JSON columns as
    text) whose keys the caller found new while holding the organizations' balance locks. A key
    another transaction wrote meanwhile fails the statement: RetryableConflict, and the caller's
    transaction starts over and sees it."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor().copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.errors.UniqueViolation as error:
        raise RetryableConflict("a row of this batch was written by another transaction meanwhile") from error


COPY_COLUMNS = tuple(_COPIED)


def existing_hashes(connection: Connection, keys: Sequence[str]) -> dict[str, str]:
    """The payload hash stored under each of `keys` that is already in the ledger."""
    if not keys:
        return {}
    result = connection.execute(
        text(
            # One unique-index probe per key, whatever the planner's statistics say about the table.
            "SELECT t.idempotency_key, t.payload_hash "
            "FROM jsonb_array_elements_text(CAST(:keys AS jsonb)) AS k(key) "
            "CROSS JOIN LATERAL (SELECT idempotency_key, payload_hash FROM credit_transactions c "
            "WHERE c.idempotency_key = k.key) t"
        ),
        {"keys": json_values(keys)},
    )
    return {key: digest for key, digest in result}
