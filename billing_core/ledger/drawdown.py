"""Which grants pay for a debit, and where refunded or granted credits go. Pure functions.

Design overview
- Amounts are micro-credits. A debit is positive here; the ledger row stores it negated.
- Drawdown order: earliest expiry first (grants without expiry last), then lower `priority`
  number first, then the oldest grant. Only grants in effect at the usage time count:
  effective_at <= occurred_at < expires_at, with credits remaining.
- What no grant can cover becomes overdraft (a debt of the organization). The next grant
  repays the debt before any of it becomes spendable.
- Invariant kept by every function here: balance = Σ grants' remaining − overdraft.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

NEVER = datetime.max.replace(tzinfo=UTC)  # the expiry of a grant that does not expire: drawn last


@dataclass
class GrantBucket:
    """A grant as drawdown sees it; `remaining` is mutated as debits draw from it."""

    id: int
    remaining: int
    effective_at: datetime
    expires_at: datetime | None
    priority: int
    created_at: datetime

    def in_effect_at(self, at: datetime) -> bool:
        return self.effective_at <= at and (self.expires_at is None or at < self.expires_at)

    def order_key(self) -> tuple[datetime, int, datetime, int]:
        return (self.expires_at or NEVER, self.priority, self.created_at, self.id)


@dataclass(frozen=True)
class Allocation:
    """The part of one debit (or refund) that went to one grant; grant_id None means overdraft."""

    grant_id: int | None
    amount: int


def draw(cost: int, grants: Iterable[GrantBucket], occurred_at: datetime) -> list[Allocation]:
    """Take `cost` from the grants in drawdown order; the uncovered rest is overdraft."""
    if cost < 0:
        raise ValueError("a debit cannot be negative")
    allocations: list[Allocation] = []
    left = cost
    eligible = [g for g in grants if g.remaining > 0 and g.in_effect_at(occurred_at)]
    for grant in sorted(eligible, key=GrantBucket.order_key):
        if left == 0:
            break
        taken = min(left, grant.remaining)
        grant.remaining -= taken
        left -= taken
        allocations.append(Allocation(grant.id, taken))
    if left:
        allocations.append(Allocation(None, left))
    return allocations


def repay_overdraft(amount: int, overdraft: int) -> tuple[int, int]:
    """A new grant of `amount` repays the debt first: returns (grant's remaining, new overdraft)."""
    repaid = min(amount, overdraft)
    return amount - repaid, overdraft - repaid


@dataclass(frozen=True)
class RefundPlan:
    """Where a refund's credits go: back to live grants, off the debt, or into a new grant."""

    to_grants: list[Allocation]
    overdraft_reduction: int
    to_new_grant: int


def plan_refund(drawn: Sequence[Allocation], live_grant_ids: set[int], overdraft: int) -> RefundPlan:
    """Return each part of a debit to the grant that paid it, if that grant is still live.

    A part that came from overdraft first pays down the current debt. Parts whose grant has
    expired (and the overdraft part once no debt is left) go to a new grant.
    """
    to_grants: list[Allocation] = []
    homeless = 0
    from_overdraft = 0
    for part in drawn:
        if part.grant_id is None:
            from_overdraft += part.amount
        elif part.grant_id in live_grant_ids:
            to_grants.append(part)
        else:
            homeless += part.amount
    reduction = min(from_overdraft, overdraft)
    homeless += from_overdraft - reduction
    # Returning credits to a grant while a debt is outstanding would break the invariant's
    # "debt is repaid first" rule, so live-grant parts also pay the remaining debt first.
    debt_left = overdraft - reduction
    settled: list[Allocation] = []
    for part in to_grants:
        pay = min(part.amount, debt_left)
        debt_left -= pay
        reduction += pay
        if part.amount - pay:
            settled.append(Allocation(part.grant_id, part.amount - pay))
    pay = min(homeless, debt_left)
    reduction += pay
    return RefundPlan(settled, reduction, homeless - pay)
