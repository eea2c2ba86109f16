"""What an organization reads: balance, check-balance, history, daily usage, metrics, entitlements."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import g
from sqlalchemy import Connection

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api import present
from api.auth import organization_access
from api.cursor import decode_cursor
from api.errors import api_error, budget_exceeded
from api.runtime import now, read, runtime
from api.schemas_in import CheckIn, MetricsQuery, RangeQuery, TransactionsQuery
from api.schemas_out import BalanceOut, CheckOut, EntitlementsOut, MetricsOut, TransactionPageOut, UsageOut
from billing_core.access import roles
from billing_core.access.service_keys import READ
from billing_core.ledger.balance_check import Estimate, check_balance
from billing_core.money import micros_to_text
from billing_core.plans.plans import entitlements
from billing_core.queries.balance import balance_view
from billing_core.queries.metrics import metrics
from billing_core.queries.organizations import get_organization
from billing_core.queries.transaction_page import transaction_page
from billing_core.queries.transactions import TransactionPage
from billing_core.queries.usage_report import usage_report

bp = APIBlueprint("organization", __name__, url_prefix="/v1", tag="Organization")
ORG = "/organizations/<org>"


@bp.get(f"{ORG}/balance")
@organization_access("basic", admin=roles.READ, service_scope=READ)
@bp.output(BalanceOut)
def get_balance(org: str) -> Any:
    """Balance, this period's allocation and use, overdraft, grants expiring within 7 days."""
    view = read(lambda c: balance_view(c, org, now()))
    return {
        "organization_id": view.organization_id,
        "balance": micros_to_text(view.balance),
        "allocated": micros_to_text(view.allocated),
        "used": micros_to_text(view.used),
        "remaining_percent": str(view.remaining_percent),
        "overdraft": micros_to_text(view.overdraft),
        "period_start": view.period_start,
        "period_end": view.period_end,
        "expiring_soon": [
            {
                "grant_id": g.grant_id,
                "source": g.source,
                "remaining": micros_to_text(g.remaining),
                "expires_at": g.expires_at,
            }
            for g in view.expiring_soon
        ],
        "as_of": view.as_of,
    }


@bp.post(f"{ORG}/balance/check")
@organization_access("basic", admin=roles.READ, service_scope=READ)
@bp.input(CheckIn, location="json", arg_name="body")
@bp.output(CheckOut)
@bp.doc(
    responses={
        402: "`insufficient_credits` (with `balance`, `held` and `required`) or `budget_exceeded` (with the "
        "budget's `scope`, `scope_id`, `period`, `limit`, `spent`, `held` and `resets_at`)"
    }
)
def check_balance_view(org: str, body: CheckIn) -> Any:
    """Can the organization afford a message? 402 when it cannot.

    Sufficient when the available balance (balance − credits held for turns in flight) is
    positive and covers the estimate, priced with the current prices as if every one of
    `max_output_tokens` were produced, and every hard budget covering the agent, user and API key
    has room for it. Without an estimate: sufficient when the available balance is positive and no
    covering hard budget is used up."""
    estimate = None
    if body.estimate is not None:
        e = body.estimate
        estimate = Estimate(e.model, e.input_tokens, e.max_output_tokens, e.tools)
    at, key = now(), body.api_key or g.principal.key_prefix
    result = read(
        lambda c: check_balance(
            c,
            org,
            estimate,
            runtime().catalogs,
            at,
            agent_id=body.agent_id,
            user_id=body.user_id,
            api_key=key,
        )
    )
    if result.budget is not None:
        outcome = "budget_exceeded"
    else:
        outcome = "sufficient" if result.sufficient else "insufficient"
    runtime().metrics.balance_checks.labels(outcome).inc()
    if result.budget is not None:
        raise budget_exceeded(result.budget)
    if not result.sufficient:
        raise api_error(
            402,
            "insufficient_credits",
            "the balance does not cover this message",
            balance=micros_to_text(result.balance),
            held=micros_to_text(result.held),
            required=micros_to_text(result.required),
        )
    return {
        "sufficient": True,
        "balance": micros_to_text(result.balance),
        "estimated_cost": micros_to_text(result.estimated_cost),
    }


@bp.get(f"{ORG}/transactions")
@organization_access("full", admin=roles.READ, service_scope=READ)
@bp.input(TransactionsQuery, location="query", arg_name="query")
@bp.output(TransactionPageOut)
def list_transactions(org: str, query: TransactionsQuery) -> Any:
    """History, newest first. Pass `next_cursor` back as `cursor` for the next page.

    Keyset pagination on the transaction id: walking every page while new transactions arrive
    gives no duplicate and misses none of the rows that existed when the walk started."""
    before = decode_cursor(query.cursor) if query.cursor is not None else None

    def work(connection: Connection) -> TransactionPage:
        get_organization(connection, org)  # 404 for an unknown organization
        return transaction_page(
            connection,
            org,
            limit=query.limit,
            before_id=before,
            type_=query.type,
            user_id=query.user_id,
            agent_id=query.agent_id,
        )

    return present.transaction_page(read(work))


def _range(query: RangeQuery) -> tuple[date, date]:
    """Default: the 31 days ending today (UTC)."""
    end = query.to or now().date()
    start = query.from_ or end - timedelta(days=30)
    return start, end


@bp.get(f"{ORG}/usage")
@organization_access("full", admin=roles.READ, service_scope=READ)
@bp.input(RangeQuery, location="query", arg_name="query")
@bp.output(UsageOut)
def get_usage(org: str, query: RangeQuery) -> Any:
    """Usage per day (UTC) and per model, the 7-day trend, and a forecast of the balance.

    `from`/`to` are days, both included (default: the 31 days ending today; at most 366).
    Credits are net of refunds. The trend compares the 7 days ending today with the 7 before;
    the burn rate is the average of the last 7 days; the projected run-out date is today plus
    balance / burn rate."""
    start, end = _range(query)
    report = read(lambda c: usage_report(c, org, start, end, now()))
    f, t = report.forecast, report.trend
    return {
        "organization_id": org,
        "from": report.start,
        "to": report.end,
        "days": [
            {
                "date": d.day,
                **present.totals(d.totals),
                "models": [{"model": m, **present.totals(v)} for m, v in sorted(d.models.items())],
            }
            for d in report.days
        ],
        "totals": present.totals(report.totals),
        "trend": {
            "last_7_days": micros_to_text(t.last_7_days),
            "previous_7_days": micros_to_text(t.previous_7_days),
            "change_percent": str(t.change_percent) if t.change_percent is not None else None,
        },
        "forecast": {
            "balance": micros_to_text(f.balance),
            "burn_rate_per_day": micros_to_text(f.burn_rate_per_day),
            "projected_run_out_date": f.projected_run_out,
            "period_end": f.period_end,
            "needed_until_period_end": micros_to_text(f.needed_until_period_end),
            "allowance_lasts_until_period_end": f.allowance_lasts_until_period_end,
        },
    }


@bp.get(f"{ORG}/metrics")
@organization_access("full", admin=roles.READ, service_scope=READ)
@bp.input(MetricsQuery, location="query", arg_name="query")
@bp.output(MetricsOut)
def get_metrics(org: str, query: MetricsQuery) -> Any:
    """Consumption totals per model, agent, user, tool or day over `from`..`to` (UTC days).

    Credits are net of refunds (`refunded` shows what was returned); grouped by tool, credits
    are the tool's part of the cost of the messages that used it."""
    start, end = _range(query)
    groups = read(lambda c: metrics(c, org, start, end, query.group_by))
    return {
        "organization_id": org,
        "from": start,
        "to": end,
        "group_by": query.group_by,
        "groups": [
            {
                "key": g.key,
                "credits": micros_to_text(g.credits),
                "refunded": micros_to_text(g.refunded),
                "messages": g.messages,
                "input_tokens": g.input_tokens,
                "cached_input_tokens": g.cached_input_tokens,
                "output_tokens": g.output_tokens,
                "tool_calls": g.tool_calls,
            }
            for g in groups
        ],
    }


@bp.get(f"{ORG}/entitlements")
@organization_access("enterprise", admin=roles.READ, service_scope=READ)
@bp.output(EntitlementsOut)
def get_entitlements(org: str) -> Any:
    """The organization's plan and what it allows: API access, support, agents used and left."""
    e = read(lambda c: entitlements(c, org))
    return {
        "organization_id": e.organization_id,
        "plan": present.plan(e.plan),
        "subscription_status": e.subscription_status,
        "api_access": e.plan.api_access,
        "support_level": e.plan.support_level,
        "credits_per_month": micros_to_text(e.plan.credits_per_month),
        "max_organizations": e.plan.max_organizations,
        "max_agents": e.plan.max_agents_per_organization,
        "agents": e.agents,
        "agents_remaining": e.agents_remaining,
    }
