"""Debiting a batch of priced usage events in one transaction, with set-based SQL.

Per batch: lock the balance rows of every organization involved (in id order, so two workers
never deadlock), drop duplicates, draw each new event's cost from its organization's live grants
(see drawdown.py), then COPY every ledger row, and write every grant and balance in one UPDATE
each and the daily rollup in one upsert. A duplicate event id with the same payload is a no-op;
with a different payload it is a conflict, recorded and never charged again.

Everything about an event's row that does not depend on the drawdown (fingerprint, description,
JSON columns) is computed when the event is priced, outside the shared transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from billing_core.ledger.accounts import (
    live_grants,
    lock_accounts,
    save_accounts,
    save_grant_remainders,
)
from billing_core.ledger.daily_rollup import add_to_daily_rollup
from billing_core.ledger.drawdown import Allocation, draw
from billing_core.ledger.journal import copy_new_rows, existing_hashes
from billing_core.notifications import balance_alerts
from billing_core.pricing.rules import MessageUsage, PricedMessage
from billing_core.spend.accounting import charge_budgets, settle_holds
from billing_core.usage import rejections


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
    api_key: str | None = None  # the public prefix of the API key the usage is billed to (budgets)
    hold_id: int | None = None  # the credit hold this message's debit settles

    def payload(self) -> dict[str, Any]:
        extra = {
            name: getattr(self, name) for name in ("api_key", "hold_id") if getattr(self, name) is not None
        }
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
            **extra,
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
        # Fields added later are appended only when set, so every older event keeps its fingerprint.
        if self.api_key is not None or self.hold_id is not None:
            canonical += f"\x1fkey={self.api_key or ''}\x1fhold={self.hold_id or ''}"
        return hashlib.blake2b(canonical.encode(), digest_size=20).hexdigest()


_compact_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class PricedEvent:
    """A priced event and the parts of its ledger row known before the drawdown."""

    event: UsageEvent
    price: PricedMessage
    fingerprint: str = field(init=False, repr=False)
    _columns: tuple[Any, ...] = field(init=False, repr=False)  # the row from idempotency_key on

    def __post_init__(self) -> None:
        event, usage, price = self.event, self.event.usage, self.price
        digest = event.fingerprint()
        tools = {k: v for k, v in sorted(usage.tools.items()) if v}
        breakdown = {**price.breakdown, "tool_price_ids": price.tool_price_ids}
        if event.api_key is not None:
            breakdown["api_key"] = event.api_key  # its budgets are given back if the debit is refunded
        object.__setattr__(self, "fingerprint", digest)
        columns = (
            usage_key(event.event_id),
            digest,
            "event",
            event.event_id,
            _describe(usage.model, usage.input_tokens, usage.output_tokens, tools),
            event.user_id,
            event.agent_id,
            event.event_id,
            usage.model,
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            _compact_json(tools) if tools else "{}",
            price.model_price_id,
            _compact_json(breakdown),
        )
        object.__setattr__(self, "_columns", columns)

    def ledger_row(self, balance_after: int, allocations: Sequence[Allocation]) -> tuple[Any, ...]:
        """The row in journal.COPY_COLUMNS order."""
        drawn = ",".join(
            f'{{"grant_id":{"null" if a.grant_id is None else a.grant_id},"amount":{a.amount}}}'
            for a in allocations
        )
        return (
            self.event.organization_id,
            "usage",
            -self.price.cost_micros,
            balance_after,
            *self._columns,
            f"[{drawn}]",
            self.event.occurred_at,
            self.event.hold_id,
        )


@dataclass
class BatchResult:
    """What happened to each event of a batch."""

    charged: dict[str, int] = field(default_factory=dict)  # event id -> cost in micro-credits
    duplicates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unknown_organization: list[str] = field(default_factory=list)
    recharges: list[int] = field(default_factory=list)  # auto-recharges to charge once this commits


def usage_key(event_id: str) -> str:
    return f"usage:{event_id}"


def debit_usage_batch(connection: Connection, priced: Sequence[PricedEvent], now: datetime) -> BatchResult:
    result = BatchResult()
    to_reject: list[rejections.Rejection] = []
    fresh: dict[str, PricedEvent] = {}
    for item in priced:
        seen = fresh.setdefault(item.event.event_id, item)
        if seen is not item:
            _classify_repeat(item, seen.fingerprint, result, to_reject)

    accounts = lock_accounts(connection, (p.event.organization_id for p in fresh.values()))
    stored = existing_hashes(connection, [usage_key(e) for e in fresh])
    new: list[PricedEvent] = []
    for event_id, item in fresh.items():
        previous = stored.get(usage_key(event_id))
        if item.event.organization_id not in accounts:
            result.unknown_organization.append(event_id)
            to_reject.append(_unknown_organization(item.event))
        elif previous is None:
            new.append(item)
        else:
            _classify_repeat(item, previous, result, to_reject)

    orgs = sorted({p.event.organization_id for p in new})
    grants = live_grants(connection, orgs)
    before = {grant.id: grant.remaining for org_grants in grants.values() for grant in org_grants}
    rows: list[tuple[Any, ...]] = []
    new.sort(key=lambda p: (p.event.organization_id, p.event.occurred_at))
    for item in new:
        event, cost = item.event, item.price.cost_micros
        account = accounts[event.organization_id]
        allocations = draw(cost, grants[event.organization_id], event.occurred_at)
        for allocation in allocations:
            if allocation.grant_id is None:
                account.overdraft += allocation.amount
        account.balance -= cost
        rows.append(item.ledger_row(account.balance, allocations))
        result.charged[event.event_id] = cost
    drawn_from = {
        grant.id: grant.remaining
        for org_grants in grants.values()
        for grant in org_grants
        if grant.remaining != before[grant.id]
    }

    if rows:
        # A key written meanwhile (the same event id, for an organization of another partition)
        # ends the transaction with RetryableConflict: run again, it is then found in `stored`.
        copy_new_rows(connection, rows)
    save_grant_remainders(connection, drawn_from)
    settle_holds(
        connection,
        accounts,
        {
            p.event.hold_id: (p.event.organization_id, p.event.event_id, p.price.cost_micros)
            for p in new
            if p.event.hold_id
        },
        now,
    )
    charge_budgets(
        connection,
        (
            (p.event.organization_id, p.event.agent_id, p.event.user_id, p.event.api_key, p.price.cost_micros)
            for p in new
        ),
        now,
    )
    result.recharges = balance_alerts.after_debits(connection, (accounts[o] for o in orgs), now)
    save_accounts(connection, (accounts[o] for o in orgs), now)
    add_to_daily_rollup(connection, new)
    rejections.record(connection, to_reject)
    return result


def _classify_repeat(
    item: PricedEvent, earlier: str, result: BatchResult, to_reject: list[rejections.Rejection]
) -> None:
    """An event id seen before (in this batch or the ledger): a duplicate if its fingerprint is the
    same, else a conflict, recorded and not charged."""
    if earlier == item.fingerprint:
        result.duplicates.append(item.event.event_id)
    else:
        result.conflicts.append(item.event.event_id)
        to_reject.append(_conflict(item.event))


def _unknown_organization(event: UsageEvent) -> rejections.Rejection:
    return rejections.Rejection(
        "usage",
        rejections.UNKNOWN_ORGANIZATION,
        event.payload(),
        detail=f"organization {event.organization_id!r} does not exist",
        event_id=event.event_id,
        organization_id=event.organization_id,
    )


def _conflict(event: UsageEvent) -> rejections.Rejection:
    return rejections.Rejection(
        "usage",
        rejections.CONFLICT,
        event.payload(),
        detail="event id already charged with a different payload; not charged again",
        event_id=event.event_id,
        organization_id=event.organization_id,
    )


def _describe(model: str, input_tokens: int, output_tokens: int, tools: Mapping[str, int]) -> str:
    text_ = f"{model}: {input_tokens} input / {output_tokens} output tokens"
    if tools:
        text_ += ", " + ", ".join(f"{n} × {t}" for t, n in sorted(tools.items()))
    return text_
