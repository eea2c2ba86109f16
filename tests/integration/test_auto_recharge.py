"""Auto-recharge: a crossing below the threshold, found in the debit group's transaction, records one
recharge; the off-session charge happens after the commit (the real Stripe library against the
local fake), once per crossing whatever the concurrency and retries, within the monthly cap; a
declined card gives `purchase.failed`, no credits, and no retry."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from billing_cli.processes import start_workers
from billing_core.ledger.usage import PricedEvent, debit_usage_batch
from billing_core.pricing.catalog import load_catalog
from billing_core.pricing.rules import price_message
from billing_core.purchases.actions import charge_recharge
from billing_core.purchases.recharges import in_flight
from payments.stripe_provider import StripeProvider
from producers import MessageCompleted
from tests.support.ledger import balance as balance_of
from tests.support.ledger import committed, cr, create_org, debit, event, grant, setup_prices, violations
from tests.support.pipeline import wait_until
from tests.support.providers import FakeProviders, fake_providers
from tests.support.purchases import NOW, auto_recharge, listening, notifications, purchases_of, with_packs
from workers.scheduler import sweep_recharges

STRIPE_KEY = "sk_test_recharge"


@pytest.fixture
def fake() -> FakeProviders:
    with fake_providers() as server:
        yield server


@pytest.fixture
def stripe(fake) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"stripe": StripeProvider(STRIPE_KEY, api_base=fake.url, max_network_retries=0)}


@pytest.fixture
def acme(engine):  # type: ignore[no-untyped-def]
    """acme with 100 credits, buying pack `small` (100 credits, US$10) below 20 credits."""
    setup_prices(engine)
    with_packs(engine)
    listening(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "seed", at=NOW)
    auto_recharge(engine, "acme")
    return engine


def debit_concurrently(engine, org: str, prefix: str, count: int, *, threads: int = 8) -> None:  # type: ignore[no-untyped-def]
    """`count` debits of 1 credit in groups of 5, committed by `threads` threads at once."""
    events = [event(f"{prefix}-{i}", org, output_tokens=1, at=NOW) for i in range(count)]
    groups = [events[i : i + 5] for i in range(0, count, 5)]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                if not groups:
                    return
                group = groups.pop()
            try:
                debit(engine, group, now=NOW)
            except BaseException as error:
                errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert errors == [] and not any(w.is_alive() for w in workers)


def charge_all(engine, stripe) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        charge_recharge(engine, stripe, p.id, NOW)
        for p in purchases_of(engine, "acme")
        if p.status == "requested"
    ]


def test_each_crossing_under_concurrent_debits_charges_once_and_grants_the_pack_once(acme, fake, stripe):
    engine = acme
    debit_concurrently(engine, "acme", "a", 90)  # 100 -> 10: one crossing below 20
    [first] = purchases_of(engine, "acme")
    assert (first.kind, first.status, first.idempotency_key) == (
        "auto_recharge",
        "requested",
        "auto-recharge:acme:1",
    )
    assert fake.requests == []  # nothing was asked of Stripe inside the debits' transactions

    # The job, run twice at once (a redelivered message), and once more later: one charge.
    barrier = threading.Barrier(2)

    def job() -> None:
        barrier.wait()
        try:
            charge_recharge(engine, stripe, first.id, NOW)
        except Exception:
            pass  # the loser of the race may see Stripe's idempotency conflict: it would be retried

    racers = [threading.Thread(target=job) for _ in range(2)]
    for r in racers:
        r.start()
    for r in racers:
        r.join(30)
    assert charge_recharge(engine, stripe, first.id, NOW) == "paid"
    assert balance_of(engine, "acme", NOW).balance == cr(110)

    debit_concurrently(engine, "acme", "b", 95)  # 110 -> 15: the second crossing
    assert charge_all(engine, stripe) == ["paid"]
    assert balance_of(engine, "acme", NOW).balance == cr(115)

    keys = {r.header("Idempotency-Key") for r in fake.requests if r.path == "/v1/payment_intents"}
    assert keys == {"auto-recharge:acme:1", "auto-recharge:acme:2"}
    charged = fake.charged()
    assert len(charged) == 2
    assert {(c["amount"], c["customer"], c["payment_method"]) for c in charged} == {
        (1_000, "cus_acme", "pm_saved")
    }
    sent = next(r for r in fake.requests if r.path == "/v1/payment_intents")
    assert (sent.form["off_session"], sent.form["confirm"]) == ("true", "true")
    assert [p.status for p in purchases_of(engine, "acme")] == ["paid", "paid"]
    assert [t for t, _ in notifications(engine, "acme")] == ["purchase.succeeded"] * 2
    assert violations(engine) == []


def test_a_rolled_back_crossing_records_no_recharge_and_a_balance_already_below_records_none(acme, stripe):
    engine = acme

    def crossing_then_failure(c: Any) -> None:
        e = event("big", "acme", output_tokens=90, at=NOW)
        debit_usage_batch(c, [PricedEvent(e, price_message(e.usage, e.occurred_at, load_catalog(c)))], NOW)
        raise RuntimeError("the transaction fails after the debit")

    with pytest.raises(RuntimeError):
        committed(engine, crossing_then_failure)
    assert purchases_of(engine, "acme") == []
    debit(engine, [event("big", "acme", output_tokens=90, at=NOW)], now=NOW)
    debit(engine, [event("more", "acme", output_tokens=5, at=NOW)], now=NOW)  # still below: no new crossing
    assert len(purchases_of(engine, "acme")) == 1


def test_the_monthly_cap_skips_recharges_past_it_with_purchase_failed(acme, fake, stripe):
    engine = acme
    auto_recharge(engine, "acme", cap_cents=2_000)  # two packs of US$10 a month
    for round_ in range(3):
        debit_concurrently(engine, "acme", f"r{round_}", 95)
        charge_all(engine, stripe)
    assert [(p.status, p.failure_reason) for p in purchases_of(engine, "acme")] == [
        ("paid", None),
        ("paid", None),
        ("skipped", "monthly_cap_reached"),
    ]
    assert len(fake.charged()) == 2
    assert [d.get("reason") for t, d in notifications(engine, "acme") if t == "purchase.failed"] == [
        "monthly_cap_reached"
    ]
    # Next month the cap starts again.
    next_month = NOW + timedelta(days=31)
    grant(engine, "acme", 100, "top-up", at=next_month)
    debit(engine, [event("june", "acme", output_tokens=100, at=next_month)], now=next_month)
    [latest] = [p for p in purchases_of(engine, "acme") if p.status == "requested"]
    assert charge_recharge(engine, stripe, latest.id, next_month) == "paid"


def test_a_declined_card_gives_purchase_failed_and_no_credits_and_is_not_retried(acme, fake, stripe):
    engine = acme
    fake.decline = True
    debit_concurrently(engine, "acme", "a", 90)
    [recharge] = purchases_of(engine, "acme")
    assert charge_recharge(engine, stripe, recharge.id, NOW) == "failed"
    failed = purchases_of(engine, "acme")[0]
    assert (failed.failure_reason, failed.payment_reference) == ("insufficient_funds", "pi_fake_1")
    assert balance_of(engine, "acme", NOW).balance == cr(10)
    [(kind, notice)] = notifications(engine, "acme")
    assert (kind, notice["reason"], notice["purchase_id"]) == (
        "purchase.failed",
        "insufficient_funds",
        recharge.id,
    )
    # Not retried: the job again, the scheduler's sweep, more debits below the threshold.
    assert charge_recharge(engine, stripe, recharge.id, NOW) == "failed"
    assert sweep_recharges(engine, NOW + timedelta(hours=1), None, stripe) == 0
    debit(engine, [event("still-low", "acme", output_tokens=5, at=NOW)], now=NOW)
    assert len(purchases_of(engine, "acme")) == 1
    assert len([r for r in fake.requests if r.path == "/v1/payment_intents"]) == 1


def test_a_recharge_whose_job_was_lost_is_charged_by_the_sweep_and_one_without_a_card_fails(
    acme, fake, stripe
):
    engine = acme
    debit_concurrently(engine, "acme", "a", 90)
    with engine.connect() as c:
        assert in_flight(c, NOW) == []  # too fresh: its job is on its way
    assert sweep_recharges(engine, NOW + timedelta(minutes=2), None, stripe) == 1
    assert [p.status for p in purchases_of(engine, "acme")] == ["paid"]

    create_org(engine, "nocard")
    grant(engine, "nocard", 100, "seed-nocard", at=NOW)
    auto_recharge(engine, "nocard", card=False)
    debit(engine, [event("n1", "nocard", output_tokens=90, at=NOW)], now=NOW)
    [p] = purchases_of(engine, "nocard")
    assert charge_recharge(engine, stripe, p.id, NOW) == "failed"
    assert purchases_of(engine, "nocard")[0].failure_reason == "no_saved_payment_method"


def test_on_the_real_broker_the_debits_commit_then_the_recharge_job_charges_once(
    acme, fake, pipeline_settings
):
    engine = acme
    settings = pipeline_settings.model_copy(
        update={"stripe_api_key": SecretStr(STRIPE_KEY), "stripe_api_base": fake.url}
    )
    app = start_workers(settings, engine)
    try:
        wire = [
            MessageCompleted(
                event_id=f"w{i}",
                organization_id="acme",
                agent_id="agent-1",
                model="unit-model",
                input_tokens=0,
                output_tokens=1,
                occurred_at=NOW,
            ).to_wire()
            for i in range(90)
        ]
        for i in range(0, 90, 10):
            app.send_usage(wire[i : i + 10])
        wait_until(lambda: [p.status for p in purchases_of(engine, "acme")] == ["paid"], what="the recharge")
    finally:
        app.stop()
    assert balance_of(engine, "acme", NOW).balance == cr(110)
    assert len(fake.charged()) == 1
    with engine.connect() as c:
        usage = c.execute(text("SELECT count(*) FROM credit_transactions WHERE type = 'usage'")).scalar_one()
    assert usage == 90
