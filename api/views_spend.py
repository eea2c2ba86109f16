"""Spend controls over HTTP: budgets of an organization, and credit holds for agent turns (the
organization's `enterprise` keys, or the admin token)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import g
from pydantic import BaseModel, Field, StrictInt

import api.body  # noqa: F401  (registers the JSON body adapter before the inputs below are declared)
from api.actors import audited_write
from api.auth import organization_access
from api.errors import api_error
from api.runtime import now, read, runtime, write
from api.schemas_in import Credits, EstimateIn, IdempotencyHeader, Identifier
from billing_core.access import roles
from billing_core.errors import UnknownBudget, UnknownHold
from billing_core.ledger.balance_check import Estimate, estimate_cost
from billing_core.money import credits_to_micros, micros_to_text
from billing_core.pricing.catalog import load_catalog
from billing_core.spend import budgets, holds

bp = APIBlueprint("spend", __name__, url_prefix="/v1", tag="Spend controls")
ORG = "/organizations/<org>"


class BudgetIn(BaseModel):
    scope: Literal["organization", "agent", "user", "api_key"]
    scope_id: str = Field(
        default="", max_length=200, description="the agent, user or key prefix ('' for the organization)"
    )
    period: Literal["day", "month", "total"]
    limit: Credits = Field(description="credits the scope may spend in a window")
    hard: bool = Field(default=True, description="hard: checks and holds answer 402; soft: notify only")
    alert_thresholds: list[StrictInt] = Field(default=[80], max_length=5, description="percent of the limit")


class BudgetOut(BaseModel):
    id: int
    scope: str
    scope_id: str
    period: str
    limit: str
    hard: bool
    alert_thresholds: list[int]
    spent: str
    held: str
    available: str
    window_start: datetime
    resets_at: datetime | None


class BudgetsOut(BaseModel):
    data: list[BudgetOut]


class HoldIn(BaseModel):
    estimate: EstimateIn | None = Field(
        default=None, description="what the turn may cost at most (priced now)"
    )
    credits: Credits | None = Field(default=None, description="or the credits to hold")
    agent_id: Identifier | None = None
    user_id: Identifier | None = None
    api_key: Identifier | None = Field(default=None, description="a key prefix (default: the calling key's)")
    ttl_seconds: int = Field(default=900, ge=1, le=86_400, description="released by itself after this")


class HoldOut(BaseModel):
    id: int
    organization_id: str
    credits: str
    agent_id: str | None
    user_id: str | None
    api_key: str | None
    status: str
    expires_at: datetime
    created_at: datetime
    ended_at: datetime | None
    settled_event_id: str | None
    settled_credits: str | None


def _budget(s: budgets.BudgetStatus) -> dict[str, Any]:
    b = s.budget
    return {
        "id": b.id,
        "scope": b.scope,
        "scope_id": b.scope_id,
        "period": b.period,
        "limit": micros_to_text(b.limit_micros),
        "hard": b.hard,
        "alert_thresholds": b.alert_thresholds,
        "spent": micros_to_text(s.spent),
        "held": micros_to_text(s.held),
        "available": micros_to_text(max(s.available, 0)),
        "window_start": s.window.start,
        "resets_at": s.window.resets_at,
    }


def _key_of(s: budgets.BudgetStatus) -> tuple[str, str, str]:
    return s.budget.scope, s.budget.scope_id, s.budget.period


def _setting(s: budgets.BudgetStatus) -> dict[str, Any]:
    """What a person sets on a budget (its before and after in the audit log)."""
    b = s.budget
    limit = micros_to_text(b.limit_micros)
    return {"limit": limit, "hard": b.hard, "alert_thresholds": b.alert_thresholds}


def _hold(h: holds.Hold) -> dict[str, Any]:
    return {
        "id": h.id,
        "organization_id": h.organization_id,
        "credits": micros_to_text(h.amount),
        "agent_id": h.agent_id,
        "user_id": h.user_id,
        "api_key": h.api_key,
        "status": h.status,
        "expires_at": h.expires_at,
        "created_at": h.created_at,
        "ended_at": h.ended_at,
        "settled_event_id": h.settled_event_id,
        "settled_credits": None if h.settled_amount is None else micros_to_text(h.settled_amount),
    }


@bp.put(f"{ORG}/budgets")
@organization_access("enterprise", admin=roles.BILLING)
@bp.input(BudgetIn, location="json", arg_name="body")
@bp.output(BudgetOut)
def set_budget_view(org: str, body: BudgetIn) -> Any:
    """Create the scope's budget for the period, or change it (one per scope and period)."""
    at = now()
    limit = credits_to_micros(body.limit, field="limit")

    def work(c: Any) -> tuple[budgets.BudgetStatus, list[dict[str, Any]]]:
        key = (body.scope, body.scope_id or "", body.period)
        before = [_setting(b) for b in budgets.list_budgets(c, org, at) if _key_of(b) == key]
        made = budgets.set_budget(
            c,
            org,
            scope=body.scope,
            scope_id=body.scope_id,
            period=body.period,
            limit_micros=limit,
            hard=body.hard,
            alert_thresholds=body.alert_thresholds,
            now=at,
        )
        return budgets.statuses(c, org, [made], at)[0], before

    status, _ = audited_write(
        "budget.set",
        work,
        organization_id=org,
        target=lambda r: ("budget", r[0].budget.id),
        details=lambda r: {"before": r[1][0] if r[1] else None, "after": _setting(r[0])},
    )
    return _budget(status)


@bp.get(f"{ORG}/budgets")
@organization_access("enterprise", admin=roles.READ)
@bp.output(BudgetsOut)
def list_budgets_view(org: str) -> Any:
    """Every budget of the organization with its current window: spent, held, available, reset."""
    return {"data": [_budget(s) for s in read(lambda c: budgets.list_budgets(c, org, now()))]}


@bp.delete(f"{ORG}/budgets/<int:budget_id>")
@organization_access("enterprise", admin=roles.BILLING)
@bp.output({}, status_code=204)
def delete_budget_view(org: str, budget_id: int) -> Any:
    """Remove a budget."""
    if budget_id >= 2**63:
        raise UnknownBudget(budget_id)
    audited_write(
        "budget.delete",
        lambda c: budgets.delete_budget(c, org, budget_id),
        organization_id=org,
        target=lambda _: ("budget", budget_id),
    )
    return "", 204


@bp.post(f"{ORG}/holds")
@organization_access("enterprise", admin=roles.BILLING)
@bp.input(IdempotencyHeader, location="headers", arg_name="headers")
@bp.input(HoldIn, location="json", arg_name="body")
@bp.output(HoldOut, status_code=201)
@bp.doc(responses={402: "`insufficient_credits` or `budget_exceeded`, naming what is short"})
def create_hold_view(org: str, headers: IdempotencyHeader, body: HoldIn) -> Any:
    """Reserve credits for an agent turn; the message-completed event naming `hold_id` settles it.
    The same Idempotency-Key answers the same hold again (200)."""
    if (body.estimate is None) == (body.credits is None):
        raise api_error(400, "validation_error", "give an `estimate` or `credits`, not both", field="credits")
    at = now()

    def amount(c: Any) -> int:
        if body.credits is not None:
            return credits_to_micros(body.credits)
        e = body.estimate
        assert e is not None  # checked above; narrows the type
        estimate = Estimate(e.model, e.input_tokens, e.max_output_tokens, e.tools)
        return runtime().catalogs.price_with_reload(
            lambda: load_catalog(c), lambda cat: estimate_cost(estimate, cat, at)
        )

    def work(c: Any) -> holds.HoldResult:
        request = holds.HoldRequest(
            org,
            amount(c),
            headers.idempotency_key,
            timedelta(seconds=body.ttl_seconds),
            body.agent_id,
            body.user_id,
            body.api_key or g.principal.key_prefix,
        )
        return holds.create_hold(c, request, at)

    result = write(work)
    return _hold(result.hold), 201 if result.created else 200


@bp.get(f"{ORG}/holds/<int:hold_id>")
@organization_access("enterprise", admin=roles.READ)
@bp.output(HoldOut)
def get_hold_view(org: str, hold_id: int) -> Any:
    """A hold and how it ended (settled by a debit, released, expired), if it did."""
    if hold_id >= 2**63:
        raise UnknownHold(hold_id)
    return _hold(read(lambda c: holds.get_hold(c, org, hold_id)))


@bp.delete(f"{ORG}/holds/<int:hold_id>")
@organization_access("enterprise", admin=roles.BILLING)
@bp.output(HoldOut)
def release_hold_view(org: str, hold_id: int) -> Any:
    """Release a hold (the turn did not happen). Releasing an ended hold changes nothing."""
    if hold_id >= 2**63:
        raise UnknownHold(hold_id)
    return _hold(write(lambda c: holds.end_hold(c, org, hold_id, now())))
