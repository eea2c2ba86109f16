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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core.drawdown import Allocation


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
]

# The statement is assembled from the constant column list above; values are bound parameters.
_NAMES = ", ".join(name for name, _ in _COLUMNS)
_ARRAYS = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS)
_INSERT = text(
    f"INSERT INTO credit_transactions ({_NAMES}) SELECT * FROM unnest({_ARRAYS}) "  # noqa: S608
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key"
)


def _column_value(row: LedgerRow, name: str) -> Any:
    value = getattr(row, name)
    if name == "allocations":
        return allocations_json(value)
    if name in ("tools", "cost_breakdown"):
        return None if value is None else json.dumps(value, sort_keys=True)
    return value


def insert_rows(connection: Connection, rows: Sequence[LedgerRow]) -> dict[str, int]:
    """Insert rows whose key is new; returns {idempotency_key: transaction id} of those inserted."""
    if not rows:
        return {}
    params = {name: [_column_value(r, name) for r in rows] for name, _ in _COLUMNS}
    result = connection.execute(_INSERT, params)
    return {key: row_id for row_id, key in result}


def existing_hashes(connection: Connection, keys: Sequence[str]) -> dict[str, str]:
    """The payload hash stored under each of `keys` that is already in the ledger."""
    if not keys:
        return {}
    result = connection.execute(
        text(
            "SELECT idempotency_key, payload_hash FROM credit_transactions WHERE idempotency_key = ANY(:keys)"
        ),
        {"keys": list(keys)},
    )
    return {key: digest for key, digest in result}
