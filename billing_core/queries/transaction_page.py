"""One page of an organization's history, newest first: keyset pagination on the id.

The statement is assembled from fixed fragments, one per filter actually given, so that every
variant is a plain `organization_id = :org AND id < :before ... ORDER BY id DESC LIMIT n`: the
index (organization_id, id DESC) starts right at the cursor, and page 10,000 costs what page 1
costs, even when the driver prepares the statement and the server switches to a generic plan
(a catch-all `(:before IS NULL OR id < :before)` would turn deep pages into long index scans).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, text

from billing_core.queries.transactions import COLUMNS, TransactionPage, TransactionRow

_SELECT = f"SELECT {COLUMNS} FROM credit_transactions WHERE organization_id = :org"  # noqa: S608
_FILTERS = {
    "before": " AND id < :before",
    "type": " AND type = :type",
    "user": " AND user_id = :user",
    "agent": " AND agent_id = :agent",
}


def filtered(
    select: str, fragments: Mapping[str, str], given: Mapping[str, object], params: dict[str, object]
) -> str:
    """`select` with the fragment of each filter given (binding its value in `params`), newest
    first, `:limit` rows: the statement every keyset page of this package runs."""
    sql = select
    for name, value in given.items():
        if value is not None:
            sql += fragments[name]
            params[name] = value
    return sql + " ORDER BY id DESC LIMIT :limit"


def transaction_page(
    connection: Connection,
    organization_id: str,
    *,
    limit: int = 50,
    before_id: int | None = None,
    type_: str | None = None,
    user_id: str | None = None,
    agent_id: str | None = None,
) -> TransactionPage:
    """Up to `limit` rows older than `before_id` (newest first) and the cursor of the next page."""
    params: dict[str, object] = {"org": organization_id, "limit": limit + 1}
    given = {"before": before_id, "type": type_, "user": user_id, "agent": agent_id}
    sql = filtered(_SELECT, _FILTERS, given, params)
    rows = [TransactionRow(*r) for r in connection.execute(text(sql), params)]
    more = len(rows) > limit
    rows = rows[:limit]
    return TransactionPage(rows, rows[-1].id if more and rows else None)
