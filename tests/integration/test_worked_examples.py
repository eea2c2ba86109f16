"""The worked examples of docs/worked-examples.md, on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from billing_core.errors import NothingToRefund
from billing_core.pricing.catalog import NewModelPrice, add_model_prices
from tests.support.ledger import (
    T0,
    balance,
    committed,
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


def test_a_gpt4o_message_with_cached_tokens_and_a_web_search_costs_1_625_credits(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "g1")
    e = event(
        "m1",
        "acme",
        model="gpt-4o",
        input_tokens=1200,
        cached=200,
        output_tokens=350,
        tools={"web_search": 1},
    )
    result = debit(engine, [e])
    assert result.charged == {"m1": 1_625_000}
    assert balance(engine, "acme").balance == cr(100) - 1_625_000
    with engine.connect() as c:
        row = c.execute(
            text("SELECT model_price_id, cost_breakdown FROM credit_transactions WHERE event_id='m1'")
        ).one()
    assert row.model_price_id is not None
    assert row.cost_breakdown["input"] == "250000" and row.cost_breakdown["tool:web_search"] == "1000000"


def test_a_message_is_priced_with_the_version_in_effect_when_it_occurred(engine):
    setup_prices(engine)

    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    committed(
        engine,
        lambda c: add_model_prices(c, [NewModelPrice("gpt-4o", Decimal(500), Decimal(2000), None, noon)]),
    )
    create_org(engine, "acme")
    early = event(
        "early", "acme", model="gpt-4o", input_tokens=1000, output_tokens=0, at=noon - timedelta(minutes=1)
    )
    late = event(
        "late", "acme", model="gpt-4o", input_tokens=1000, output_tokens=0, at=noon + timedelta(minutes=1)
    )
    result = debit(engine, [late, early], now=noon + timedelta(minutes=5))
    assert result.charged == {"early": 250_000, "late": 500_000}
    with engine.connect() as c:
        versions = {
            k: v
            for k, v in c.execute(
                text("SELECT event_id, model_price_id FROM credit_transactions WHERE type='usage'")
            )
        }
    assert versions["early"] != versions["late"]


def test_drawdown_takes_the_earliest_expiring_grant_first_and_expiry_removes_the_rest(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    jan1, feb1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    grant(engine, "acme", 1000, "A", type_="subscription_credit", at=jan1, expires_at=feb1)
    grant(engine, "acme", 50, "B", at=jan1 + timedelta(days=4))
    debit(engine, [event("m1", "acme", output_tokens=30, at=jan1 + timedelta(days=9))])
    assert grant_remaining(engine, "acme") == [cr(970), cr(50)]
    assert balance(engine, "acme", jan1 + timedelta(days=9)).balance == cr(1020)
    debit(engine, [event("m2", "acme", output_tokens=570, at=jan1 + timedelta(days=30))])
    assert expire(engine, feb1) == 1
    grant(
        engine,
        "acme",
        1000,
        "C",
        type_="subscription_credit",
        at=feb1,
        expires_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert balance(engine, "acme", feb1).balance == cr(1050)
    assert grant_remaining(engine, "acme") == [0, cr(50), cr(1000)]
    with engine.connect() as c:
        expiration = c.execute(
            text("SELECT amount FROM credit_transactions WHERE type='expiration'")
        ).scalar_one()
    assert expiration == -cr(400)
    assert violations(engine) == []


def test_a_message_spanning_two_grants_names_both_and_its_refund_returns_each_part(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 10, "A", expires_at=datetime(2026, 2, 1, tzinfo=UTC))
    grant(engine, "acme", 50, "B")
    debit(engine, [event("m1", "acme", output_tokens=25)])
    with engine.connect() as c:
        allocations = c.execute(
            text("SELECT allocations FROM credit_transactions WHERE event_id='m1'")
        ).scalar_one()
    assert [a["amount"] for a in allocations] == [cr(10), cr(15)]
    refund(engine, "m1")
    assert grant_remaining(engine, "acme") == [cr(10), cr(50)]
    assert violations(engine) == []


def test_usage_beyond_the_balance_is_recorded_as_overdraft_and_the_next_grant_repays_it(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 2, "A")
    debit(engine, [event("m1", "acme", output_tokens=5)])
    view = balance(engine, "acme")
    assert (view.balance, view.overdraft) == (-cr(3), cr(3))
    grant(engine, "acme", 1000, "B")
    view = balance(engine, "acme")
    assert (view.balance, view.overdraft) == (cr(997), 0)
    assert grant_remaining(engine, "acme") == [0, cr(997)]
    assert violations(engine) == []


def test_the_same_event_three_times_is_one_debit_and_a_changed_payload_is_a_conflict(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "A")
    first = debit(engine, [event("m1", "acme", output_tokens=5)] * 3)
    again = debit(engine, [event("m1", "acme", output_tokens=5)])
    changed = debit(engine, [event("m1", "acme", output_tokens=7)])
    assert first.charged == {"m1": cr(5)} and first.duplicates == ["m1", "m1"]
    assert again.charged == {} and again.duplicates == ["m1"]
    assert changed.charged == {} and changed.conflicts == ["m1"]
    assert balance(engine, "acme").balance == cr(95)
    with engine.connect() as c:
        reasons = c.execute(text("SELECT reason, event_id FROM rejected_events")).all()
    assert [tuple(r) for r in reasons] == [("conflict", "m1")]


def test_a_refund_returns_the_debit_once_and_goes_to_a_new_grant_when_the_old_one_expired(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    feb1 = datetime(2026, 2, 1, tzinfo=UTC)
    grant(engine, "acme", 100, "A", expires_at=feb1)
    debit(engine, [event("m1", "acme", output_tokens=12), event("m2", "acme", output_tokens=12)])
    first = refund(engine, "m1")
    second = refund(engine, "m1")
    assert (first.created, first.amount, second.created) == (True, cr(12), False)
    assert balance(engine, "acme").balance == cr(88)
    expire(engine, feb1)
    late = refund(engine, "m2", now=feb1 + timedelta(days=3))
    assert late.amount == cr(12)
    with engine.connect() as c:
        new_grant = c.execute(
            text("SELECT source, remaining, expires_at FROM credit_grants WHERE source='refund'")
        ).one()
    assert new_grant.remaining == cr(12)
    assert new_grant.expires_at == datetime(2026, 3, 1, tzinfo=UTC)  # end of the current (calendar) period
    assert violations(engine) == []


def test_an_event_for_an_unknown_organization_is_rejected_with_its_payload_and_others_still_charged(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    result = debit(engine, [event("m1", "acme", output_tokens=2), event("m2", "ghost", output_tokens=2)])
    assert result.charged == {"m1": cr(2)} and result.unknown_organization == ["m2"]
    with engine.connect() as c:
        row = c.execute(text("SELECT reason, payload FROM rejected_events")).one()
    assert row.reason == "unknown_organization" and row.payload["organization_id"] == "ghost"
    assert T0  # the events' time


def test_refunding_an_event_that_was_never_debited_raises_a_named_error(engine):
    setup_prices(engine)
    create_org(engine, "acme")
    with pytest.raises(NothingToRefund):
        refund(engine, "never-seen")
