"""Random histories of grants, debits, refunds and expiries against the real PostgreSQL ledger.

Each example works on an organization of its own; the test keeps an independent model of what
the ledger must contain (drawdown order, overdraft, refund routing, expiry) and compares.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from billing_core.ledger.usage import UsageEvent
from tests.support.ledger import (
    T0,
    balance,
    cr,
    create_org,
    debit,
    event,
    expire,
    grant,
    grant_remaining,
    refund,
    setup_prices,
    violations,
)


@dataclass
class ModelGrant:
    amount: int
    remaining: int
    effective_at: datetime
    expires_at: datetime | None
    expired: bool = False
    priority: int = 0

    def usable_at(self, at: datetime) -> bool:
        return (
            not self.expired
            and self.remaining > 0
            and self.effective_at <= at
            and (self.expires_at is None or at < self.expires_at)
        )


@dataclass
class Model:
    """What the ledger of one organization must hold, written without the production code."""

    grants: list[ModelGrant] = field(default_factory=list)  # in creation order = id order
    overdraft: int = 0
    granted: int = 0
    debited: int = 0
    refunded: int = 0
    expired: int = 0
    debits: dict[str, tuple[int, list[tuple[int | None, int]]]] = field(default_factory=dict)
    refunds: set[str] = field(default_factory=set)

    def grant(self, amount: int, at: datetime, expires_at: datetime | None, priority: int) -> None:
        repaid = min(amount, self.overdraft)
        self.overdraft -= repaid
        self.grants.append(ModelGrant(amount, amount - repaid, at, expires_at, priority=priority))
        self.granted += amount

    def debit(self, event_id: str, cost: int, at: datetime) -> None:
        order = sorted(
            (i for i, g in enumerate(self.grants) if g.usable_at(at)),
            # Earliest expiry first (none last), then the lower priority number, then the oldest.
            key=lambda i: (
                self.grants[i].expires_at is None,
                self.grants[i].expires_at or at,
                self.grants[i].priority,
                i,
            ),
        )
        parts: list[tuple[int | None, int]] = []
        left = cost
        for i in order:
            taken = min(left, self.grants[i].remaining)
            if taken:
                self.grants[i].remaining -= taken
                parts.append((i, taken))
                left -= taken
        if left:
            parts.append((None, left))
            self.overdraft += left
        self.debits[event_id] = (cost, parts)
        self.debited += cost

    def refund(self, event_id: str, now: datetime) -> None:
        if event_id in self.refunds:
            return
        self.refunds.add(event_id)
        cost, parts = self.debits[event_id]

        def live(i: int) -> bool:
            g = self.grants[i]
            return not g.expired and (g.expires_at is None or g.expires_at > now)

        owed_from_overdraft = sum(a for i, a in parts if i is None)
        pay = min(owed_from_overdraft, self.overdraft)
        self.overdraft -= pay
        homeless = owed_from_overdraft - pay + sum(a for i, a in parts if i is not None and not live(i))
        for i, amount in parts:
            if i is not None and live(i):
                pay = min(amount, self.overdraft)
                self.overdraft -= pay
                self.grants[i].remaining += amount - pay
        pay = min(homeless, self.overdraft)
        self.overdraft -= pay
        if homeless - pay:
            self.grants.append(ModelGrant(homeless - pay, homeless - pay, now, _start_of_next_month(now)))
        self.refunded += cost

    def expire(self, now: datetime) -> None:
        for g in self.grants:
            if not g.expired and g.expires_at is not None and g.expires_at <= now:
                self.expired += g.remaining
                g.remaining = 0
                g.expired = True


# A history is a list of steps; each step first moves the clock forward by some hours.
gaps = st.integers(min_value=0, max_value=24)
grant_steps = st.tuples(
    st.just("grant"),
    gaps,
    st.integers(min_value=1, max_value=40),  # credits
    st.none() | st.integers(min_value=6, max_value=120),  # lifetime in hours, or no expiry
    st.integers(min_value=0, max_value=2),  # priority
)
batch_items = st.tuples(
    st.sampled_from(["new", "new", "again", "changed"]),
    st.integers(min_value=0, max_value=15),  # cost in credits of a new event / which earlier event
    st.integers(min_value=0, max_value=36),  # how many hours before the batch a new event occurred
)
debit_steps = st.tuples(st.just("debit"), gaps, st.lists(batch_items, min_size=1, max_size=5))
refund_steps = st.tuples(st.just("refund"), gaps, st.integers(min_value=0, max_value=20))
expire_steps = st.tuples(st.just("expire"), gaps)
histories = st.lists(
    st.one_of(grant_steps, debit_steps, debit_steps, refund_steps, expire_steps), min_size=8, max_size=24
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
@example(  # the same changed payload twice in one batch (found by this test)
    history=[("grant", 0, 50, None, 0), ("debit", 0, [("new", 3, 0), ("changed", 0, 0), ("changed", 0, 0)])]
    + [("expire", 0)] * 6
)
def test_any_history_of_grants_debits_refunds_and_expiries_leaves_a_consistent_ledger(engine, history):
    setup_prices(engine)
    org = f"org-{uuid.uuid4().hex[:12]}"
    create_org(engine, org)
    model = Model()
    sent: list[UsageEvent] = []  # every event sent so far, in order (first payload of each id)
    now = T0

    for step in history:
        kind, gap, *args = step
        now += timedelta(hours=gap)
        if kind == "grant":
            credits, lifetime_hours, priority = args
            expires_at = None if lifetime_hours is None else now + timedelta(hours=lifetime_hours)
            key = f"{org}-g{len(model.grants)}"
            grant(engine, org, credits, key, at=now, expires_at=expires_at, priority=priority)
            model.grant(cr(credits), now, expires_at, priority)
        elif kind == "debit":
            batch = _batch(org, args[0], sent, now)
            expected_charges = _expected_charges(batch, model)
            result = debit(engine, batch, now=now)
            for e in sorted(expected_charges, key=lambda e: e.occurred_at):
                model.debit(e.event_id, cr(e.usage.output_tokens), e.occurred_at)
            assert result.charged == {e.event_id: cr(e.usage.output_tokens) for e in expected_charges}
            assert len(result.duplicates) + len(result.conflicts) == len(batch) - len(expected_charges)
        elif kind == "refund":
            if not model.debits:
                continue
            event_id = sorted(model.debits)[args[0] % len(model.debits)]
            first_time = event_id not in model.refunds
            outcome = refund(engine, event_id, now=now)
            model.refund(event_id, now)
            assert (outcome.created, outcome.amount) == (first_time, model.debits[event_id][0])
        else:
            expire(engine, now)
            model.expire(now)

    assert violations(engine) == []
    view = balance(engine, org, now)
    expected = model.granted - model.debited + model.refunded - model.expired
    assert view.balance == expected
    assert view.overdraft == model.overdraft
    assert grant_remaining(engine, org) == [g.remaining for g in model.grants]

    with engine.connect() as c:
        totals = dict(
            c.execute(
                text(
                    "SELECT type, SUM(amount) FROM credit_transactions "
                    "WHERE organization_id = :o GROUP BY type"
                ),
                {"o": org},
            ).all()
        )
        usage_rows = c.execute(
            text(
                "SELECT event_id, count(*), -SUM(amount) FROM credit_transactions "
                "WHERE organization_id = :o AND type = 'usage' GROUP BY event_id"
            ),
            {"o": org},
        ).all()
        refunds_vs_debits = c.execute(
            text(
                "SELECT r.event_id, r.amount, -u.amount FROM credit_transactions r "
                "LEFT JOIN credit_transactions u ON u.type = 'usage' AND u.event_id = r.event_id "
                "WHERE r.organization_id = :o AND r.type = 'refund'"
            ),
            {"o": org},
        ).all()

    assert totals.get("bonus", 0) == model.granted
    assert -totals.get("usage", 0) == model.debited
    assert totals.get("refund", 0) == model.refunded
    assert -totals.get("expiration", 0) == model.expired
    assert all(count == 1 for _, count, _ in usage_rows)
    assert {event_id: cost for event_id, _, cost in usage_rows} == {k: v[0] for k, v in model.debits.items()}
    assert sorted(event_id for event_id, _, _ in refunds_vs_debits) == sorted(model.refunds)
    assert all(debited is not None and refunded <= debited for _, refunded, debited in refunds_vs_debits)


def test_the_same_changed_payload_twice_in_one_batch_is_one_conflict_and_the_rest_of_the_batch_is_charged(
    engine,
):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "g1")
    result = debit(
        engine,
        [
            event("m1", "acme", output_tokens=1),
            event("m1", "acme", output_tokens=2),
            event("m1", "acme", output_tokens=2),
            event("m2", "acme", output_tokens=5),
        ],
    )
    assert result.charged == {"m1": cr(1), "m2": cr(5)}
    assert result.conflicts == ["m1", "m1"]
    assert balance(engine, "acme").balance == cr(94)
    with engine.connect() as c:
        rejected = c.execute(text("SELECT reason, event_id FROM rejected_events")).all()
    assert [tuple(r) for r in rejected] == [("conflict", "m1")]
    assert violations(engine) == []


def _batch(
    org: str, items: list[tuple[str, int, int]], sent: list[UsageEvent], now: datetime
) -> list[UsageEvent]:
    """Events of one batch: new ones, exact repeats of earlier ones and changed repeats."""
    batch: list[UsageEvent] = []
    for kind, number, lag_hours in items:
        if kind == "new" or not sent:
            e = event(f"{org}-e{len(sent)}", org, output_tokens=number, at=now - timedelta(hours=lag_hours))
            sent.append(e)
        else:
            earlier = sent[number % len(sent)]
            if kind == "again":
                e = earlier
            else:
                e = event(
                    earlier.event_id,
                    org,
                    output_tokens=earlier.usage.output_tokens + 1,
                    at=earlier.occurred_at,
                )
        batch.append(e)
    return batch


def _expected_charges(batch: list[UsageEvent], model: Model) -> list[UsageEvent]:
    """The first payload of each event id not yet charged, in batch order."""
    charged: dict[str, UsageEvent] = {}
    for e in batch:
        if e.event_id not in model.debits and e.event_id not in charged:
            charged[e.event_id] = e
    return list(charged.values())


def _start_of_next_month(now: datetime) -> datetime:
    """Where a refund grant of an organization without subscription ends: the calendar month's end."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
