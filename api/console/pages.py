"""What the subscription page shows, read from the ledger in one place: plans, the subscription,
the balance, the credit packs and the organization's purchases and auto-recharge, the first page of
history, and this period's usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from api.console import formatting
from api.console.chart import DailyChart, daily_chart
from billing_core.plans.plans import Plan, list_plans, organization_plan
from billing_core.purchases.packs import CreditPack, list_packs
from billing_core.purchases.recharges import RechargeView, recharge_view
from billing_core.purchases.store import Purchase, list_purchases
from billing_core.queries.balance import BalanceView, balance_view
from billing_core.queries.organizations import get_organization
from billing_core.queries.transaction_page import transaction_page
from billing_core.queries.transactions import TransactionPage
from billing_core.queries.usage_report import UsageReport, UsageTotals, group_by_model, usage_report
from billing_core.spend.budgets import BudgetStatus, list_budgets
from billing_core.subscriptions import state as machine
from billing_core.subscriptions.overview import SubscriptionOverview, subscription_overview

HISTORY_PAGE = 20  # rows per "Load More"
RECENT_PURCHASES = 10


@dataclass(frozen=True)
class PlanChoice:
    """A plan as the Plans tab offers it: what its button does for this organization."""

    plan: Plan
    action: str  # current, subscribe, upgrade, change, none

    @property
    def label(self) -> str:
        return {"subscribe": "Subscribe", "upgrade": "Upgrade", "change": "Change plan"}.get(self.action, "")


@dataclass(frozen=True)
class ModelUsage:
    model: str
    totals: UsageTotals


@dataclass(frozen=True)
class SubscriptionPage:
    organization_id: str
    now: datetime
    current_plan: Plan
    overview: SubscriptionOverview
    choices: list[PlanChoice]
    balance: BalanceView
    history: TransactionPage
    usage: UsageReport
    chart: DailyChart
    models: list[ModelUsage]
    budgets: list[BudgetStatus]
    packs: list[CreditPack]
    purchases: list[Purchase]
    recharge: RechargeView

    @property
    def live(self) -> bool:
        return self.overview.subscription is not None


def _action(plan: Plan, current: Plan, overview: SubscriptionOverview) -> str:
    sub = overview.subscription
    if sub is None:
        if plan.code == current.code:
            return "current"
        return "subscribe" if plan.monthly_price_cents > 0 else "none"
    if plan.code == sub.state.plan_code:
        return "current"
    if plan.monthly_price_cents <= 0:
        return "none"  # back to a free plan: cancel instead
    return "upgrade" if machine.is_upgrade(current.terms, plan.terms) else "change"


def subscription_page(connection: Connection, org: str, now: datetime) -> SubscriptionPage:
    get_organization(connection, org)  # UnknownOrganization for a missing one
    current, _ = organization_plan(connection, org)
    overview = subscription_overview(connection, org, now)
    balance = balance_view(connection, org, now)
    first, last = formatting.utc(balance.period_start).date(), formatting.last_day(balance.period_end)
    today = min(max(formatting.utc(now).date(), first), last)
    usage = usage_report(connection, org, first, today, now)
    chart = daily_chart(
        [(d.day, d.totals.credits) for d in usage.days], first, last, usage.forecast.burn_rate_per_day
    )
    models = sorted(
        (ModelUsage(m, t) for m, t in group_by_model(usage.days).items()),
        key=lambda m: (-m.totals.credits, m.model),
    )
    return SubscriptionPage(
        organization_id=org,
        now=now,
        current_plan=current,
        overview=overview,
        choices=[PlanChoice(p, _action(p, current, overview)) for p in list_plans(connection)],
        balance=balance,
        history=transaction_page(connection, org, limit=HISTORY_PAGE),
        usage=usage,
        chart=chart,
        models=models,
        budgets=list_budgets(connection, org, now),
        packs=list_packs(connection, active_only=True),
        purchases=list_purchases(connection, org, limit=RECENT_PURCHASES),
        recharge=recharge_view(connection, org, now),
    )
