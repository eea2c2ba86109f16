"""Consumption of an organization grouped by model, agent, user, tool or day (UTC), over a range
of days. By model and by day it is read from the daily rollup (`usage_daily`, kept in the debit's
transaction: a few rows per day whatever the traffic); by agent, user and tool, from the usage
rows of the ledger.

Credits are net of refunds (a refund always returns a whole debit, so a refunded message counts
0 credits and its cost appears under `refunded`); messages, tokens and tool calls count every
message charged. Grouped by tool, a group holds the messages that used the tool: its credits are
the tool's part of their cost, its tokens those messages' tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, text

from billing_core.errors import InvalidInput
from billing_core.queries.organizations import require_organization

GROUPS = ("model", "agent", "user", "tool", "day")
MAX_DAYS = 366


@dataclass(frozen=True)
class MetricGroup:
    key: str | None
    credits: int
    refunded: int
    messages: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    tool_calls: int


# The usage rows of the range, each with its refund (if any). Every fragment below is a constant.
_ROWS = (
    "FROM credit_transactions t LEFT JOIN credit_transactions r ON r.type = 'refund' "
    "AND r.event_id = t.event_id AND r.event_id IS NOT NULL "
    "WHERE t.organization_id = :org AND t.type = 'usage' "
    "AND t.occurred_at >= :start AND t.occurred_at < :end"
)
_SUMS = (
    "COALESCE(SUM(-t.amount) FILTER (WHERE r.id IS NULL), 0), "
    "COALESCE(SUM(-t.amount) FILTER (WHERE r.id IS NOT NULL), 0), count(*), "
    "COALESCE(SUM(t.input_tokens), 0), COALESCE(SUM(t.cached_input_tokens), 0), "
    "COALESCE(SUM(t.output_tokens), 0)"
)
_TOOL_CALLS = "(SELECT COALESCE(SUM(value::bigint), 0) FROM jsonb_each_text(COALESCE(t.tools, '{}')))"
_KEYS = {
    "model": "t.model",
    "agent": "t.agent_id",
    "user": "t.user_id",
    "day": "to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
_TOOL_PART = "CEIL(COALESCE((t.cost_breakdown ->> ('tool:' || u.key))::numeric, 0))"


_TOOL_ROWS = (
    "FROM credit_transactions t CROSS JOIN LATERAL jsonb_each_text(t.tools) u "
    "LEFT JOIN credit_transactions r ON r.type = 'refund' "
    "AND r.event_id = t.event_id AND r.event_id IS NOT NULL "
    "WHERE t.organization_id = :org AND t.type = 'usage' AND jsonb_typeof(t.tools) = 'object' "
    "AND t.occurred_at >= :start AND t.occurred_at < :end"
)


# From the rollup: its credits count every debit, `refunded` the debits refunded since.
_ROLLUP_KEYS = {"model": "model", "day": "to_char(day, 'YYYY-MM-DD')"}
_ROLLUP = (
    "SELECT {key}, COALESCE(SUM(credits - refunded), 0), COALESCE(SUM(refunded), 0), "
    "COALESCE(SUM(messages), 0), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0), "
    "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(tool_calls), 0) FROM usage_daily "
    "WHERE organization_id = :org AND day >= :first AND day <= :last GROUP BY 1 ORDER BY 2 DESC, 1"
)


def _statement(group_by: str) -> str:
    if group_by in _ROLLUP_KEYS:
        return _ROLLUP.format(key=_ROLLUP_KEYS[group_by])
    if group_by == "tool":
        return (
            f"SELECT u.key, COALESCE(SUM({_TOOL_PART}) FILTER (WHERE r.id IS NULL), 0), "
            f"COALESCE(SUM({_TOOL_PART}) FILTER (WHERE r.id IS NOT NULL), 0), count(*), "
            "COALESCE(SUM(t.input_tokens), 0), COALESCE(SUM(t.cached_input_tokens), 0), "
            f"COALESCE(SUM(t.output_tokens), 0), COALESCE(SUM(u.value::bigint), 0) {_TOOL_ROWS} "
            "GROUP BY u.key ORDER BY 2 DESC, 1"
        )
    key = _KEYS[group_by]
    return (
        f"SELECT {key}, {_SUMS}, COALESCE(SUM({_TOOL_CALLS}), 0) {_ROWS} "
        f"GROUP BY {key} ORDER BY 2 DESC, 1 NULLS LAST"
    )


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    return (
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


def metrics(
    connection: Connection, organization_id: str, start: date, end: date, group_by: str
) -> list[MetricGroup]:
    if group_by not in GROUPS:
        raise InvalidInput("group_by", f"must be one of {', '.join(GROUPS)}")
    if end < start:
        raise InvalidInput("to", "must not be before `from`")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput("from", f"metrics cover at most {MAX_DAYS} days")
    require_organization(connection, organization_id)
    low, high = day_bounds(start, end)
    rows = connection.execute(
        text(_statement(group_by)),
        {"org": organization_id, "start": low, "end": high, "first": start, "last": end},
    )
    return [MetricGroup(key, *(int(v) for v in values)) for key, *values in rows]
