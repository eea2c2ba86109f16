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

    @property
    def sufficient(self) -> bool:
        return is_sufficient(self.balance, self.estimated_cost)

    @property
    def required(self) -> int:
        """What the balance must reach for the check to pass."""
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
) -> BalanceCheck:
    """The check-balance decision: the organization's balance (UnknownOrganization first) against
    the estimate priced with the prices in effect now (a price added since the cache was filled
    is found; a model or tool still unknown raises UnknownModel / UnknownTool)."""
    balance = connection.execute(
        text("SELECT balance FROM balances WHERE organization_id = :org"), {"org": organization_id}
    ).scalar()
    if balance is None:
        raise UnknownOrganization(organization_id)
    if estimate is None:
        return BalanceCheck(int(balance), 0)
    cost = catalogs.price_with_reload(
        lambda: load_catalog(connection), lambda c: estimate_cost(estimate, c, now)
    )
    return BalanceCheck(int(balance), cost)
