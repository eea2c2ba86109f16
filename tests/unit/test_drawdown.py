"""Drawdown, overdraft repayment and refund planning: the pure functions of drawdown.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.ledger.drawdown import (
    Allocation,
    GrantBucket,
    RefundPlan,
    draw,
    plan_refund,
    repay_overdraft,
)

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 10, tzinfo=UTC)


def day(n: int) -> datetime:
    return JAN1 + timedelta(days=n)


def bucket(
    grant_id: int,
    remaining: int,
    *,
    expires_at: datetime | None = None,
    priority: int = 0,
    created_at: datetime = JAN1,
    effective_at: datetime | None = None,
) -> GrantBucket:
    return GrantBucket(grant_id, remaining, effective_at or created_at, expires_at, priority, created_at)


# Drawdown order


def test_the_grant_that_expires_first_pays_first_even_if_it_is_newer_and_has_a_higher_priority_number():
    late = bucket(1, 100, expires_at=day(60), priority=0, created_at=day(0))
    early = bucket(2, 100, expires_at=day(30), priority=9, created_at=day(5))
    assert draw(30, [late, early], NOW) == [Allocation(2, 30)]
    assert (late.remaining, early.remaining) == (100, 70)


def test_among_grants_expiring_together_the_lower_priority_number_pays_first_even_if_newer():
    older = bucket(1, 100, expires_at=day(30), priority=1, created_at=day(0))
    newer = bucket(2, 100, expires_at=day(30), priority=0, created_at=day(5))
    assert draw(30, [older, newer], NOW) == [Allocation(2, 30)]


def test_among_grants_with_the_same_expiry_and_priority_the_oldest_pays_first():
    newer = bucket(1, 100, expires_at=day(30), created_at=day(5))
    older = bucket(2, 100, expires_at=day(30), created_at=day(0))
    assert draw(30, [newer, older], NOW) == [Allocation(2, 30)]


def test_grants_without_expiry_pay_only_after_every_grant_with_an_expiry():
    forever = bucket(1, 100, expires_at=None, priority=-5, created_at=day(0))
    far_future = bucket(2, 100, expires_at=datetime(2099, 1, 1, tzinfo=UTC), priority=5, created_at=day(5))
    assert draw(130, [forever, far_future], NOW) == [Allocation(2, 100), Allocation(1, 30)]


def test_among_grants_without_expiry_the_lower_priority_number_pays_first_even_if_newer():
    older = bucket(1, 100, expires_at=None, priority=5, created_at=day(0))
    newer = bucket(2, 100, expires_at=None, priority=0, created_at=day(1))
    assert draw(4, [older, newer], NOW) == [Allocation(2, 4)]


def test_among_grants_without_expiry_and_with_the_same_priority_the_oldest_pays_first():
    newer = bucket(1, 100, expires_at=None, created_at=day(3))
    older = bucket(2, 100, expires_at=None, created_at=day(1))
    assert draw(4, [newer, older], NOW) == [Allocation(2, 4)]


def test_a_cost_larger_than_the_first_grant_spans_into_the_next_one():
    a = bucket(1, 10, expires_at=day(30))
    b = bucket(2, 50)
    assert draw(25, [a, b], NOW) == [Allocation(1, 10), Allocation(2, 15)]
    assert (a.remaining, b.remaining) == (0, 35)


# Grants not in effect


def test_a_grant_that_takes_effect_after_the_usage_occurred_is_skipped():
    future = bucket(1, 100, effective_at=NOW + timedelta(seconds=1), expires_at=day(30))
    current = bucket(2, 100)
    assert draw(10, [future, current], NOW) == [Allocation(2, 10)]
    assert future.remaining == 100


def test_a_grant_that_took_effect_at_the_very_moment_of_the_usage_pays():
    assert draw(10, [bucket(1, 100, effective_at=NOW)], NOW) == [Allocation(1, 10)]


def test_a_grant_that_expired_before_or_exactly_when_the_usage_occurred_is_skipped():
    expired = bucket(1, 100, expires_at=NOW - timedelta(days=1))
    expiring_now = bucket(2, 100, expires_at=NOW)
    current = bucket(3, 100)
    assert draw(10, [expired, expiring_now, current], NOW) == [Allocation(3, 10)]
    assert (expired.remaining, expiring_now.remaining) == (100, 100)


def test_a_grant_with_nothing_left_gets_no_allocation():
    empty = bucket(1, 0, expires_at=day(30))
    assert draw(10, [empty, bucket(2, 100)], NOW) == [Allocation(2, 10)]


# Overdraft


def test_what_no_grant_covers_becomes_a_trailing_overdraft_allocation():
    only = bucket(1, 2)
    assert draw(5, [only], NOW) == [Allocation(1, 2), Allocation(None, 3)]
    assert only.remaining == 0


def test_without_any_grant_the_whole_cost_is_overdraft():
    assert draw(7, [], NOW) == [Allocation(None, 7)]


def test_a_zero_cost_draws_nothing_and_changes_no_grant():
    only = bucket(1, 5)
    assert draw(0, [only], NOW) == []
    assert only.remaining == 5


def test_a_negative_cost_is_refused():
    with pytest.raises(ValueError):
        draw(-1, [bucket(1, 5)], NOW)


@pytest.mark.parametrize(
    ("amount", "overdraft", "expected"),
    [(1000, 3, (997, 0)), (2, 5, (0, 3)), (5, 5, (0, 0)), (5, 0, (5, 0))],
)
def test_a_new_grant_repays_the_overdraft_before_any_of_it_is_spendable(amount, overdraft, expected):
    assert repay_overdraft(amount, overdraft) == expected


# Refund planning


def test_a_refund_returns_each_part_to_the_live_grant_that_paid_it():
    plan = plan_refund([Allocation(1, 10), Allocation(2, 15)], {1, 2}, overdraft=0)
    assert plan == RefundPlan([Allocation(1, 10), Allocation(2, 15)], 0, 0)


def test_the_part_of_a_grant_that_has_expired_goes_to_a_new_grant():
    plan = plan_refund([Allocation(1, 10), Allocation(2, 15)], {2}, overdraft=0)
    assert plan == RefundPlan([Allocation(2, 15)], 0, 10)


def test_an_overdraft_part_pays_down_the_current_overdraft():
    plan = plan_refund([Allocation(1, 2), Allocation(None, 3)], {1}, overdraft=3)
    assert plan == RefundPlan([Allocation(1, 2)], 3, 0)


def test_an_overdraft_part_larger_than_the_current_overdraft_puts_the_rest_in_a_new_grant():
    # The debt of 5 was partly repaid by a later grant; only 2 are still owed.
    plan = plan_refund([Allocation(None, 5)], set(), overdraft=2)
    assert plan == RefundPlan([], 2, 3)


def test_an_overdraft_part_goes_entirely_to_a_new_grant_once_the_debt_is_repaid():
    plan = plan_refund([Allocation(None, 5)], set(), overdraft=0)
    assert plan == RefundPlan([], 0, 5)


def test_live_grant_parts_pay_an_outstanding_debt_before_returning_to_their_grants():
    plan = plan_refund([Allocation(1, 10), Allocation(2, 15)], {1, 2}, overdraft=12)
    assert plan == RefundPlan([Allocation(2, 13)], 12, 0)


def test_expired_parts_pay_an_outstanding_debt_before_becoming_a_new_grant():
    plan = plan_refund([Allocation(1, 10)], set(), overdraft=4)
    assert plan == RefundPlan([], 4, 6)


# Properties of draw

times = st.integers(min_value=0, max_value=40).map(day)


@st.composite
def grant_buckets(draw_, max_size: int = 6) -> list[GrantBucket]:
    grants = []
    for grant_id in range(1, draw_(st.integers(min_value=0, max_value=max_size)) + 1):
        created = draw_(times)
        effective = created + timedelta(days=draw_(st.integers(min_value=0, max_value=5)))
        lifetime = draw_(st.none() | st.integers(min_value=1, max_value=30))
        expires = None if lifetime is None else effective + timedelta(days=lifetime)
        remaining = draw_(st.integers(min_value=0, max_value=100))
        priority = draw_(st.integers(min_value=-2, max_value=2))
        grants.append(GrantBucket(grant_id, remaining, effective, expires, priority, created))
    return grants


def spec_order(grant: GrantBucket) -> tuple[object, ...]:
    """Earliest expiry first, no expiry last, then the lower priority number, then the oldest."""
    if grant.expires_at is None:
        return (1, 0, grant.priority, grant.created_at, grant.id)
    return (0, grant.expires_at.timestamp(), grant.priority, grant.created_at, grant.id)


def eligible(grants: list[GrantBucket], at: datetime) -> list[GrantBucket]:
    return [
        g
        for g in grants
        if g.remaining > 0 and g.effective_at <= at and (g.expires_at is None or at < g.expires_at)
    ]


@given(grant_buckets(), st.integers(min_value=0, max_value=400), times)
def test_a_debit_is_split_into_allocations_that_add_up_to_its_cost_and_never_overdraw_a_grant(
    grants, cost, at
):
    before = {g.id: g.remaining for g in grants}
    available = sum(g.remaining for g in eligible(grants, at))
    allocations = draw(cost, grants, at)

    assert sum(a.amount for a in allocations) == cost
    assert all(a.amount > 0 for a in allocations)
    assert all(g.remaining >= 0 for g in grants)
    covered = sum(a.amount for a in allocations if a.grant_id is not None)
    assert covered == min(cost, available)
    assert sum(before.values()) - sum(g.remaining for g in grants) == covered
    overdraft = [a for a in allocations if a.grant_id is None]
    assert overdraft == ([Allocation(None, cost - available)] if cost > available else [])
    assert not overdraft or allocations[-1] == overdraft[0]
    for grant in grants:
        taken = sum(a.amount for a in allocations if a.grant_id == grant.id)
        assert before[grant.id] - grant.remaining == taken


@given(grant_buckets(), st.integers(min_value=0, max_value=400), times)
def test_a_debit_draws_from_a_grant_only_once_every_grant_before_it_in_drawdown_order_is_empty(
    grants, cost, at
):
    order = sorted(eligible(grants, at), key=spec_order)
    allocations = draw(cost, grants, at)
    paid_by = [a.grant_id for a in allocations if a.grant_id is not None]
    assert paid_by == [g.id for g in order][: len(paid_by)]
    # Every grant that paid, except possibly the last one, was emptied.
    assert all(g.remaining == 0 for g in order[: max(len(paid_by) - 1, 0)])


# A whole ledger in memory, made of the pure functions only


@dataclass
class Ledger:
    grants: dict[int, GrantBucket] = field(default_factory=dict)
    amounts: dict[int, int] = field(default_factory=dict)  # what each grant was created with
    expired: set[int] = field(default_factory=set)
    overdraft: int = 0
    balance: int = 0
    movements: list[int] = field(default_factory=list)
    debits: list[tuple[int, list[Allocation]]] = field(default_factory=list)
    refunded: set[int] = field(default_factory=set)

    def add_grant(self, amount: int, expires: bool) -> None:
        grant_id = len(self.grants) + 1
        remaining, self.overdraft = repay_overdraft(amount, self.overdraft)
        self.grants[grant_id] = GrantBucket(
            grant_id, remaining, JAN1, day(365) if expires else None, 0, JAN1 + timedelta(seconds=grant_id)
        )
        self.amounts[grant_id] = amount
        self.balance += amount
        self.movements.append(amount)

    def live(self) -> list[GrantBucket]:
        return [g for gid, g in self.grants.items() if gid not in self.expired]

    def debit(self, cost: int) -> None:
        allocations = draw(cost, self.live(), NOW)
        assert sum(a.amount for a in allocations) == cost
        self.overdraft += sum(a.amount for a in allocations if a.grant_id is None)
        self.balance -= cost
        self.movements.append(-cost)
        self.debits.append((cost, allocations))

    def refund(self, index: int) -> None:
        if not self.debits or index % len(self.debits) in self.refunded:
            return
        index %= len(self.debits)
        cost, allocations = self.debits[index]
        self.refunded.add(index)
        live_ids = {g.id for g in self.live()}
        plan = plan_refund(allocations, live_ids, self.overdraft)
        assert sum(p.amount for p in plan.to_grants) + plan.overdraft_reduction + plan.to_new_grant == cost
        assert all(p.grant_id in live_ids and p.amount > 0 for p in plan.to_grants)
        for part in plan.to_grants:
            self.grants[part.grant_id].remaining += part.amount
        self.overdraft -= plan.overdraft_reduction
        if plan.to_new_grant:
            grant_id = len(self.grants) + 1
            self.grants[grant_id] = GrantBucket(
                grant_id, plan.to_new_grant, JAN1, day(40), 0, JAN1 + timedelta(seconds=grant_id)
            )
            self.amounts[grant_id] = plan.to_new_grant
        self.balance += cost
        self.movements.append(cost)

    def expire(self, index: int) -> None:
        live = self.live()
        if not live:
            return
        grant = live[index % len(live)]
        self.expired.add(grant.id)
        gone, grant.remaining = grant.remaining, 0
        self.balance -= gone
        self.movements.append(-gone)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(min_value=1, max_value=100), st.booleans()),
        st.tuples(st.just("debit"), st.integers(min_value=0, max_value=120)),
        st.tuples(st.just("refund"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("expire"), st.integers(min_value=0, max_value=50)),
    ),
    max_size=30,
)


@given(operations)
def test_any_sequence_of_grants_debits_refunds_and_expiries_keeps_the_balance_equal_to_its_movements(ops):
    ledger = Ledger()
    for op, *args in ops:
        getattr(ledger, {"grant": "add_grant"}.get(op, op))(*args)
        assert ledger.balance == sum(ledger.movements)
        assert ledger.balance == sum(g.remaining for g in ledger.grants.values()) - ledger.overdraft
        assert ledger.overdraft >= 0
        assert all(0 <= g.remaining <= ledger.amounts[g.id] for g in ledger.grants.values())
        # Debt is repaid first: while something is owed, no live grant has credits to spend.
        if ledger.overdraft:
            assert sum(g.remaining for g in ledger.live()) == 0
