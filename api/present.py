"""Domain values in the API's JSON form: credits as exact decimal strings, references nested."""

from __future__ import annotations

from typing import Any

from api.cursor import encode_cursor
from billing_core.money import micros_to_text
from billing_core.plans.plans import Plan
from billing_core.queries.transactions import TransactionPage, TransactionRow
from billing_core.queries.usage_report import UsageTotals


def transaction(row: TransactionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "occurred_at": row.occurred_at,
        "type": row.type,
        "amount": micros_to_text(row.amount),
        "balance_after": micros_to_text(row.balance_after),
        "description": row.description,
        "user_id": row.user_id,
        "agent_id": row.agent_id,
        "reference": {"type": row.reference_type, "id": row.reference_id},
        "event_id": row.event_id,
        "model": row.model,
        "input_tokens": row.input_tokens,
        "cached_input_tokens": row.cached_input_tokens,
        "output_tokens": row.output_tokens,
        "tools": row.tools,
        "price_version": row.model_price_id,
        "audit_event_id": row.audit_event_id,
    }


def transaction_page(page: TransactionPage) -> dict[str, Any]:
    return {
        "data": [transaction(r) for r in page.rows],
        "next_cursor": encode_cursor(page.next_cursor) if page.next_cursor is not None else None,
        "has_more": page.has_more,
    }


def totals(t: UsageTotals) -> dict[str, Any]:
    return {
        "credits": micros_to_text(t.credits),
        "refunded": micros_to_text(t.refunded),
        "messages": t.messages,
        "input_tokens": t.input_tokens,
        "cached_input_tokens": t.cached_input_tokens,
        "output_tokens": t.output_tokens,
        "tool_calls": t.tool_calls,
    }


def plan(p: Plan) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "credits_per_month": micros_to_text(p.credits_per_month),
        "max_organizations": p.max_organizations,
        "max_agents_per_organization": p.max_agents_per_organization,
        "api_access": p.api_access,
        "support_level": p.support_level,
        "monthly_price_cents": p.monthly_price_cents,
        "yearly_price_cents": p.yearly_price_cents,
        "currency": p.currency,
        "prices": [
            {"interval": "month", "price_cents": p.monthly_price_cents, "currency": p.currency},
            {"interval": "year", "price_cents": p.yearly_price_cents, "currency": p.currency},
        ],
    }
