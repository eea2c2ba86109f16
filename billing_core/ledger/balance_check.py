"""Can an organization afford a message? Price an estimate with the current catalog, compare.

The rule: sufficient when balance >= estimated cost and balance > 0 (an organization with
nothing left cannot start even a free message: overdraft is only for usage already done).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from billing_core.errors import UnknownOrganization
from billing_core.pricing.catalog import CatalogCache, load_catalog
from billing_core.pricing.rules import MessageUsage, PriceCatalog, price_message
from billing_core.spend.budgets import BudgetStatus, budgets_of, statuses


@dataclass(frozen=True)
class Estimate:
    model: str
    input_tokens: int = 0
    max_output_tokens: int = 0
    tools: Mapping[str, int] | None = None


@dataclass(frozen=True)
class BalanceCheck:
    balance: int
    estimated_cost: int
    held: int = 0  # credits reserved by active holds
    budget: BudgetStatus | None = None  # the first hard budget the message does not fit, if any

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def sufficient(self) -> bool:
        return is_sufficient(self.available, self.estimated_cost) and self.budget is None

    @property
    def required(self) -> int:
        """What the available balance must reach for the check to pass."""
        return max(self.estimated_cost, 1)


def is_sufficient(balance: int, cost: int) -> bool:
    return balance > 0 and balance >= cost


def estimate_cost(estimate: Estimate | None, catalog: PriceCatalog, now: datetime) -> int:
    """The most the message can cost (all of max_output_tokens used), in micro-credits."""
    if estimate is None:
        return 0
    usage = MessageUsage(
        model=estimate.model,
        input_tokens=estimate.input_tokens,
        output_tokens=estimate.max_output_tokens,
        tools=dict(estimate.tools or {}),
    )
    return price_message(usage, now, catalog).cost_micros


def check_balance(
    connection: Connection,
    organization_id: str,
    estimate: Estimate | None,
    catalogs: CatalogCache,
    now: datetime,
    *,
    agent_id: str | None = None,
    user_id: str | None = None,
    api_key: str | None = None,
) -> BalanceCheck:
    """The check-balance decision: the available balance (balance − active holds; UnknownOrganization
    first) against the estimate priced with the prices in effect now (a price added since the cache
    was filled is found; a model or tool still unknown raises UnknownModel / UnknownTool), then each
    hard budget covering the agent, user and API key (limit − spent − held). One read when the
    organization has no hard budget."""
    row = connection.execute(
        text(
            "SELECT balance, held, EXISTS (SELECT 1 FROM budgets WHERE organization_id = :org AND hard) "
            "FROM balances WHERE organization_id = :org"
        ),
        {"org": organization_id},
    ).first()
    if row is None:
        raise UnknownOrganization(organization_id)
    balance, held, has_budgets = row
    cost = 0
    if estimate is not None:
        cost = catalogs.price_with_reload(
            lambda: load_catalog(connection), lambda catalog: estimate_cost(estimate, catalog, now)
        )
    failed = None
    if has_budgets:
        budgets = [
            b
            for b in budgets_of(connection, [organization_id]).get(organization_id, [])
            if b.hard and b.covers(agent_id, user_id, api_key)
        ]
        failed = next(
            (s for s in statuses(connection, organization_id, budgets, now) if s.available < max(cost, 1)),
            None,
        )
    return BalanceCheck(int(balance), cost, int(held), failed)
