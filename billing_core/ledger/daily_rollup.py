"""The daily usage rollup (`usage_daily`): credits, messages, tokens and tool calls per
organization, UTC day and model, added to in the debit's transaction so that the usage and metrics
views never scan the ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from billing_core.db.bulk import json_rows

if TYPE_CHECKING:
    from billing_core.ledger.usage import PricedEvent


def add_to_daily_rollup(connection: Connection, priced: Sequence[PricedEvent]) -> None:
    """Add the debited events to their days, in one upsert."""
    totals: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for item in priced:
        e, u = item.event, item.event.usage
        t = totals[(e.organization_id, e.occurred_at.astimezone(UTC).date(), u.model)]
        t[0] += item.price.cost_micros
        t[1] += 1
        t[2] += u.input_tokens
        t[3] += u.cached_input_tokens
        t[4] += u.output_tokens
        t[5] += sum(u.tools.values())
    if not totals:
        return
    rows = [
        {
            "org": org,
            "day": day,
            "model": model,
            "c": t[0],
            "m": t[1],
            "i": t[2],
            "ci": t[3],
            "o": t[4],
            "t": t[5],
        }
        for (org, day, model), t in sorted(totals.items())
    ]
    connection.execute(
        text(
            "INSERT INTO usage_daily (organization_id, day, model, credits, messages, input_tokens, "
            "cached_input_tokens, output_tokens, tool_calls) SELECT org, day, model, c, m, i, ci, o, t "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(org text, day date, model text, c bigint, "
            "m bigint, i bigint, ci bigint, o bigint, t bigint) "
            "ON CONFLICT (organization_id, day, model) DO UPDATE SET "
            "credits = usage_daily.credits + EXCLUDED.credits, "
            "messages = usage_daily.messages + EXCLUDED.messages, "
            "input_tokens = usage_daily.input_tokens + EXCLUDED.input_tokens, "
            "cached_input_tokens = usage_daily.cached_input_tokens + EXCLUDED.cached_input_tokens, "
            "output_tokens = usage_daily.output_tokens + EXCLUDED.output_tokens, "
            "tool_calls = usage_daily.tool_calls + EXCLUDED.tool_calls"
        ),
        {"rows": json_rows(rows)},
    )
