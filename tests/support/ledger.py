"""Small builders for tests that read like the worked examples: orgs, prices, grants, events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, text

from billing_core.db.uow import UnitOfWork, run_in_transaction
from billing_core.ledger.accounts import create_organization
from billing_core.ledger.expiry import expire_due_grants
from billing_core.ledger.grants import GrantRequest, GrantResult, grant_credits
from billing_core.ledger.reconcile import Violation, reconcile
from billing_core.ledger.refunds import RefundResult, refund_usage
from billing_core.ledger.usage import BatchResult, PricedEvent, UsageEvent, debit_usage_batch
from billing_core.money import MICROS_PER_CREDIT
from billing_core.pricing.catalog import NewModelPrice, add_model_prices, add_tool_price, load_catalog
from billing_core.pricing.rules import MessageUsage, price_message
from billing_core.queries.balance import BalanceView, balance_view

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cr(credits: str | int) -> int:
    """Credits to micro-credits, exactly."""
    return int(Decimal(str(credits)) * MICROS_PER_CREDIT)


def committed(engine: Engine, work):  # type: ignore[no-untyped-def]
    def run(uow: UnitOfWork):  # type: ignore[no-untyped-def]
        value = work(uow.connection)
        uow.commit()
        return value

    return run_in_transaction(engine, run)


def setup_prices(engine: Engine, *, at: datetime = datetime(2000, 1, 1, tzinfo=UTC)) -> None:
    """gpt-4o as in worked example 1, and a model whose whole price is 1 credit per output token."""
    committed(
        engine,
        lambda c: add_model_prices(
            c,
            [
                NewModelPrice("gpt-4o", Decimal(250), Decimal(1000), Decimal(125), at),
                NewModelPrice("unit-model", Decimal(0), Decimal(1_000_000), Decimal(0), at),
            ],
        ),
    )
    committed(engine, lambda c: add_tool_price(c, "web_search", Decimal(1), at))
    committed(engine, lambda c: add_tool_price(c, "image_generation", Decimal(4), at))


def create_org(engine: Engine, org: str) -> None:
    committed(engine, lambda c: create_organization(c, org))


def grant(
    engine: Engine,
    org: str,
    credits: str | int,
    key: str,
    *,
    type_: str = "bonus",
    at: datetime = T0,
    expires_at: datetime | None = None,
    priority: int = 0,
) -> GrantResult:
    request = GrantRequest(org, cr(credits), type_, key, at, expires_at, priority)
    return committed(engine, lambda c: grant_credits(c, request, at))  # type: ignore[no-any-return]


def event(
    event_id: str,
    org: str,
    *,
    output_tokens: int = 1,
    model: str = "unit-model",
    at: datetime = T0,
    input_tokens: int = 0,
    cached: int = 0,
    tools: dict[str, int] | None = None,
    agent: str = "agent-1",
    user: str | None = "user-1",
) -> UsageEvent:
    """With the default unit-model, an event costs exactly `output_tokens` credits."""
    return UsageEvent(
        event_id, org, agent, MessageUsage(model, input_tokens, output_tokens, cached, tools or {}), at, user
    )


def debit(engine: Engine, events: Sequence[UsageEvent], *, now: datetime = T0) -> BatchResult:
    def work(c):  # type: ignore[no-untyped-def]
        catalog = load_catalog(c)
        priced = [PricedEvent(e, price_message(e.usage, e.occurred_at, catalog)) for e in events]
        return debit_usage_batch(c, priced, now)

    return committed(engine, work)  # type: ignore[no-any-return]


def refund(engine: Engine, event_id: str, *, now: datetime = T0, reason: str = "failed") -> RefundResult:
    return committed(engine, lambda c: refund_usage(c, event_id, reason, now))  # type: ignore[no-any-return]


def expire(engine: Engine, now: datetime) -> int:
    return committed(engine, lambda c: expire_due_grants(c, now))  # type: ignore[no-any-return]


def balance(engine: Engine, org: str, now: datetime = T0) -> BalanceView:
    with engine.connect() as c:
        return balance_view(c, org, now)


def violations(engine: Engine) -> list[Violation]:
    with engine.connect() as c:
        return reconcile(c)


def grant_remaining(engine: Engine, org: str) -> list[int]:
    with engine.connect() as c:
        return [
            r
            for (r,) in c.execute(
                text("SELECT remaining FROM credit_grants WHERE organization_id = :o ORDER BY id"), {"o": org}
            )
        ]
