"""Debiting a batch of priced usage events in one transaction, with set-based SQL.

Per batch: lock the balance rows of every organization involved (in id order, so two workers
never deadlock), drop duplicates, draw each new event's cost from its organization's live grants
(see drawdown.py), then write every ledger row in one INSERT, every grant and balance in one
UPDATE each, and the daily rollup in one upsert. A duplicate event id with the same payload is a
no-op; with a different payload it is a conflict, recorded and never charged again.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, text

from billing_core import rejections
from billing_core.db.bulk import json_rows
from billing_core.drawdown import draw
from billing_core.errors import RetryableConflict
from billing_core.ledger.accounts import (
    live_grants,
    lock_accounts,
    save_accounts,
    save_grant_remainders,
)
from billing_core.ledger.journal import LedgerRow, existing_hashes, insert_counted
from billing_core.pricing import MessageUsage, PricedMessage


@dataclass(frozen=True)
class UsageEvent:
    """A validated message-completed event."""

    event_id: str
    organization_id: str
    agent_id: str
    usage: MessageUsage
    occurred_at: datetime
    user_id: str | None = None
    conversation_id: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "organization_id": self.organization_id,
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "model": self.usage.model,
            "input_tokens": self.usage.input_tokens,
            "cached_input_tokens": self.usage.cached_input_tokens,
            "output_tokens": self.usage.output_tokens,
            "tools": {k: v for k, v in sorted(self.usage.tools.items()) if v},
            "occurred_at": self.occurred_at.isoformat(),
        }

    def fingerprint(self) -> str:
        """A hash of everything that determines the charge. Stored with the debit: changing this
        format would turn replays of old events into false conflicts, so it is fixed."""
        u = self.usage
        tools = ",".join(f"{k}={v}" for k, v in sorted(u.tools.items()) if v)
        canonical = "\x1f".join(
            (
                "usage-v1",
                self.event_id,
                self.organization_id,
                self.agent_id,
                self.user_id or "",
                self.conversation_id or "",
                u.model,
                str(u.input_tokens),
                str(u.cached_input_tokens),
                str(u.output_tokens),
                tools,
                self.occurred_at.astimezone(UTC).isoformat(),
            )
        )
        return hashlib.blake2b(canonical.encode(), digest_size=20).hexdigest()


@dataclass(frozen=True)
class PricedEvent:
    event: UsageEvent
    price: PricedMessage


@dataclass
class BatchResult:
    """What happened to each event of a batch."""

    charged: dict[str, int] = field(default_factory=dict)  # event id -> cost in micro-credits
    duplicates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unknown_organization: list[str] = field(default_factory=list)


def usage_key(event_id: str) -> str:
    return f"usage:{event_id}"


def debit_usage_batch(connection: Connection, priced: Sequence[PricedEvent], now: datetime) -> BatchResult:
    result = BatchResult()
    to_reject: list[rejections.Rejection] = []
    fresh: dict[str, tuple[PricedEvent, str]] = {}
    for item in priced:
        digest = item.event.fingerprint()
        seen = fresh.get(item.event.event_id)
        if seen is None:
            fresh[item.event.event_id] = (item, digest)
        elif seen[1] == digest:
            result.duplicates.append(item.event.event_id)
        else:
            result.conflicts.append(item.event.event_id)
            to_reject.append(_conflict(item.event))

    accounts = lock_accounts(connection, (p.event.organization_id for p, _ in fresh.values()))
    stored = existing_hashes(connection, [usage_key(e) for e in fresh])
    new: list[tuple[PricedEvent, str]] = []
    for event_id, (item, digest) in fresh.items():
        previous = stored.get(usage_key(event_id))
        if item.event.organization_id not in accounts:
            result.unknown_organization.append(event_id)
            to_reject.append(
                rejections.Rejection(
                    "usage",
                    rejections.UNKNOWN_ORGANIZATION,
                    item.event.payload(),
                    detail=f"organization {item.event.organization_id!r} does not exist",
                    event_id=event_id,
                    organization_id=item.event.organization_id,
                )
            )
        elif previous is None:
            new.append((item, digest))
        elif previous == digest:
            result.duplicates.append(event_id)
        else:
            result.conflicts.append(event_id)
            to_reject.append(_conflict(item.event))

    grants = live_grants(connection, {p.event.organization_id for p, _ in new})
    touched: dict[int, int] = {}
    rows: list[LedgerRow] = []
    new.sort(key=lambda pair: (pair[0].event.organization_id, pair[0].event.occurred_at))
    for item, digest in new:
        event, cost = item.event, item.price.cost_micros
        account = accounts[event.organization_id]
        org_grants = grants[event.organization_id]
        allocations = draw(cost, org_grants, event.occurred_at)
        for grant in org_grants:
            touched[grant.id] = grant.remaining
        account.balance -= cost
        account.overdraft += sum(a.amount for a in allocations if a.grant_id is None)
        rows.append(_usage_row(item, digest, allocations, account.balance))
        result.charged[event.event_id] = cost

    if insert_counted(connection, rows) != len(rows):
        # The same event id was debited for another organization meanwhile: start over.
        raise RetryableConflict("an event of this batch was debited by another transaction meanwhile")
    save_grant_remainders(connection, touched)
    save_accounts(connection, (accounts[o] for o in sorted({r.organization_id for r in rows})), now)
    _add_to_daily_rollup(connection, [p for p, _ in new])
    rejections.record(connection, to_reject)
    return result


def _conflict(event: UsageEvent) -> rejections.Rejection:
    return rejections.Rejection(
        "usage",
        rejections.CONFLICT,
        event.payload(),
        detail="event id already charged with a different payload; not charged again",
        event_id=event.event_id,
        organization_id=event.organization_id,
    )


def _usage_row(item: PricedEvent, digest: str, allocations: Sequence[Any], balance: int) -> LedgerRow:
    event, usage, price = item.event, item.event.usage, item.price
    tools = {k: v for k, v in usage.tools.items() if v}
    return LedgerRow(
        organization_id=event.organization_id,
        type="usage",
        amount=-price.cost_micros,
        balance_after=balance,
        idempotency_key=usage_key(event.event_id),
        payload_hash=digest,
        reference_type="event",
        reference_id=event.event_id,
        occurred_at=event.occurred_at,
        description=_describe(usage.model, usage.input_tokens, usage.output_tokens, tools),
        allocations=allocations,
        user_id=event.user_id,
        agent_id=event.agent_id,
        event_id=event.event_id,
        model=usage.model,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        tools=tools,
        model_price_id=price.model_price_id,
        cost_breakdown={**price.breakdown, "tool_price_ids": price.tool_price_ids},
    )


def _describe(model: str, input_tokens: int, output_tokens: int, tools: Mapping[str, int]) -> str:
    text_ = f"{model}: {input_tokens} input / {output_tokens} output tokens"
    if tools:
        text_ += ", " + ", ".join(f"{n} × {t}" for t, n in sorted(tools.items()))
    return text_


def _add_to_daily_rollup(connection: Connection, priced: Sequence[PricedEvent]) -> None:
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
