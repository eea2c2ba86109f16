"""Buying credit packs: the provider's word that it is paid grants the pack once, whatever the
retries and the order of deliveries; a refund takes back only what is left unspent; purchased
credits are drawn after expiring subscription credits."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from billing_core.errors import InvalidInput, PackNotOffered, UnknownPack
from billing_core.purchases.packs import PackChange, set_pack
from tests.support.ledger import balance as balance_of
from tests.support.ledger import committed, cr, create_org, debit, event, grant, setup_prices, violations
from tests.support.purchases import (
    NOW,
    charge_event,
    checkout_completed,
    deliver,
    inbox_row,
    listening,
    notifications,
    open_purchase,
    payment_succeeded,
    process,
    process_all,
    purchase,
    recurrente_pack_paid,
    with_packs,
)

LATER = NOW + timedelta(minutes=5)


@pytest.fixture
def shop(engine):
    setup_prices(engine)
    with_packs(engine)
    listening(engine)
    return engine


def purchase_rows(engine, org: str) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [
            (t, a)
            for t, a in c.execute(
                text(
                    "SELECT type, amount FROM credit_transactions WHERE organization_id = :o "
                    "AND type = 'purchase' ORDER BY id"
                ),
                {"o": org},
            )
        ]


def test_a_purchases_webhooks_delivered_shuffled_and_duplicated_grant_the_pack_once(shop):
    engine, shuffle = shop, random.Random(17)
    for n in range(12):
        org = f"buyer-{n}"
        create_org(engine, org)
        bought = open_purchase(engine, org, request=f"r{n}")
        instant = n % 2 == 0  # a card pays at once; a bank debit pays later (async)
        events = [
            checkout_completed(bought, event_id=f"e{n}-completed", paid=instant),
            payment_succeeded(bought, event_id=f"e{n}-intent"),
            charge_event(bought, event_id=f"e{n}-charge"),  # charge.succeeded: stored, ignored
            payment_succeeded(bought, event_id=f"e{n}-intent-again"),  # resent under a new id
        ]
        if not instant:
            events.append(
                checkout_completed(
                    bought, event_id=f"e{n}-async", kind="checkout.session.async_payment_succeeded"
                )
            )
        events += [dict(e, id=e["id"] + "-dup") for e in events[:2]]
        shuffle.shuffle(events)
        rows = [deliver(engine, "stripe", e["id"], e) for e in events]
        assert set(process_all(engine, rows + rows)) <= {"processed", "ignored"}  # each row twice

        assert balance_of(engine, org, LATER).balance == cr(100), org
        assert purchase_rows(engine, org) == [("purchase", cr(100))]
        assert purchase(engine, bought.id).status == "paid"
        assert purchase(engine, bought.id).payment_reference == f"pi_{bought.id}"
        assert [t for t, _ in notifications(engine, org)] == ["purchase.succeeded"]
    assert violations(engine) == []


def test_charge_refunded_takes_back_only_what_is_unspent_and_records_the_rest_once(shop):
    engine = shop
    create_org(engine, "acme")
    bought = open_purchase(engine, "acme")
    process(engine, deliver(engine, "stripe", "paid", checkout_completed(bought, event_id="paid")))
    debit(engine, [event("e1", "acme", output_tokens=30, at=NOW)], now=NOW)  # 30 of the 100 spent

    refund = charge_event(bought, event_id="refund", refunded_cents=1_000)
    first = deliver(engine, "stripe", "refund", refund)
    again = deliver(engine, "stripe", "refund-resent", dict(refund, id="refund-resent"))
    assert process_all(engine, [first, first, again]) == ["processed"] * 3

    assert balance_of(engine, "acme", LATER).balance == 0  # never below what was spent
    assert purchase_rows(engine, "acme") == [("purchase", cr(100)), ("purchase", -cr(70))]
    refunded = purchase(engine, bought.id)
    assert (refunded.status, refunded.clawed_back, refunded.unrecovered) == ("refunded", cr(70), cr(30))
    assert refunded.refunded_cents == 1_000
    assert violations(engine) == []


def test_partial_refunds_in_either_order_take_back_their_share_and_never_spent_credits(shop):
    engine = shop
    outcomes = []
    for n, order in enumerate([("half", "full"), ("full", "half")]):
        org = f"refunds-{n}"
        create_org(engine, org)
        grant(engine, org, 50, f"bonus-{org}", at=NOW)  # other credits: never taken by a refund
        bought = open_purchase(engine, org, request=org)
        process(
            engine, deliver(engine, "stripe", f"paid-{n}", checkout_completed(bought, event_id=f"paid-{n}"))
        )
        debit(engine, [event(f"spend-{n}", org, output_tokens=60, at=NOW)], now=NOW)  # 50 bonus + 10 bought
        refunds = {
            "half": charge_event(bought, event_id=f"half-{n}", refunded_cents=500),
            "full": charge_event(bought, event_id=f"full-{n}", refunded_cents=1_000),
        }
        process_all(engine, [deliver(engine, "stripe", refunds[k]["id"], refunds[k]) for k in order])
        p = purchase(engine, bought.id)
        outcomes.append((balance_of(engine, org, LATER).balance, p.clawed_back, p.unrecovered, p.status))
    assert outcomes == [(0, cr(90), cr(10), "refunded")] * 2


def test_a_refund_that_arrives_before_the_payment_waits_for_it(shop):
    engine = shop
    create_org(engine, "acme")
    bought = open_purchase(engine, "acme")
    refund = deliver(engine, "stripe", "r", charge_event(bought, event_id="r", refunded_cents=1_000))
    paid = deliver(engine, "stripe", "p", checkout_completed(bought, event_id="p"))
    assert process_all(engine, [refund, paid]) == ["processed", "processed"]
    assert balance_of(engine, "acme", LATER).balance == 0
    assert purchase(engine, bought.id).clawed_back == cr(100)


def test_a_refund_without_metadata_is_matched_through_its_payment_intent_or_has_no_effect(shop):
    engine = shop
    create_org(engine, "acme")
    bought = open_purchase(engine, "acme")
    bare = charge_event(bought, event_id="r", refunded_cents=1_000)
    bare["data"]["object"]["metadata"] = {}
    refund = deliver(engine, "stripe", "r", bare)
    paid = deliver(engine, "stripe", "p", payment_succeeded(bought, event_id="p"))  # stored, not applied yet
    assert process_all(engine, [refund, paid]) == ["processed", "processed"]
    assert purchase(engine, bought.id).clawed_back == cr(100)
    other = charge_event(bought, event_id="o", refunded_cents=500)  # a subscription invoice's charge
    other["data"]["object"].update(metadata={}, payment_intent="pi_not_a_purchase")
    assert process(engine, deliver(engine, "stripe", "o", other)) == "processed"
    assert balance_of(engine, "acme", LATER).balance == 0


def test_an_event_naming_a_purchase_that_is_not_ours_is_parked_at_once_with_its_reason(shop):
    engine = shop
    create_org(engine, "acme")
    create_org(engine, "globex")
    bought = open_purchase(engine, "acme")
    forged = checkout_completed(bought, event_id="x")
    forged["data"]["object"]["metadata"]["organization_id"] = "globex"
    unknown = checkout_completed(bought, event_id="y")
    unknown["data"]["object"]["metadata"]["purchase_id"] = "999999"
    rows = [deliver(engine, "stripe", "x", forged), deliver(engine, "stripe", "y", unknown)]
    assert [process(engine, r) for r in rows] == ["rejected", "rejected"]
    assert [inbox_row(engine, r)[1] for r in rows] == ["organization_mismatch", "unknown_purchase"]
    assert balance_of(engine, "acme", LATER).balance == 0


def test_a_recurrente_pack_checkout_is_granted_once_by_its_paid_event(shop):
    engine = shop
    create_org(engine, "acme")
    bought = open_purchase(engine, "acme", pack="large", provider="recurrente")
    paid = recurrente_pack_paid(bought)
    rows = [deliver(engine, "recurrente", f"msg_{i}", paid) for i in range(3)]  # resent by Svix
    assert process_all(engine, rows) == ["processed"] * 3
    assert balance_of(engine, "acme", LATER).balance == cr(1000)
    with engine.connect() as c:
        expires_at = c.execute(
            text(
                "SELECT expires_at FROM credit_grants WHERE source = 'purchase' AND organization_id = 'acme'"
            )
        ).scalar_one()
    assert expires_at == NOW + timedelta(days=365)  # the pack's optional expiry, from the payment


def test_purchased_credits_are_drawn_after_the_subscription_credits_that_expire(shop):
    engine = shop
    create_org(engine, "acme")
    for n, pack in enumerate(["large", "small"]):  # expiring in a year; never expiring
        bought = open_purchase(engine, "acme", pack=pack, request=pack)
        process(
            engine, deliver(engine, "stripe", f"paid-{n}", checkout_completed(bought, event_id=f"paid-{n}"))
        )
    month_end = NOW + timedelta(days=20)
    grant(engine, "acme", 100, "month", type_="subscription_credit", at=NOW, expires_at=month_end)
    grant(engine, "acme", 100, "rollover", type_="subscription_credit", at=NOW)  # a plan that rolls over
    debit(engine, [event("e1", "acme", output_tokens=150, at=NOW + timedelta(minutes=1))], now=NOW)
    debit(engine, [event("e2", "acme", output_tokens=1_010, at=NOW + timedelta(minutes=2))], now=NOW)
    with engine.connect() as c:
        left = c.execute(
            text("SELECT amount, remaining FROM credit_grants WHERE organization_id = 'acme' ORDER BY id")
        ).all()
    # Earliest expiry first: the month's credits, then the pack of the year; of those without expiry
    # the subscription's rollover (priority 0) before the purchased pack (priority 10).
    assert [tuple(r) for r in left] == [(cr(1000), 0), (cr(100), cr(100)), (cr(100), 0), (cr(100), cr(40))]


def test_packs_are_validated_and_a_pack_is_withdrawn_rather_than_deleted(engine):
    with pytest.raises(InvalidInput, match="price_cents"):
        committed(engine, lambda c: set_pack(c, "p1", PackChange(credits=cr(10)), NOW))
    with pytest.raises(InvalidInput, match="currency"):
        committed(
            engine,
            lambda c: set_pack(c, "p1", PackChange(credits=cr(10), price_cents=100, currency="dollars"), NOW),
        )
    with pytest.raises(InvalidInput, match="code"):
        committed(
            engine, lambda c: set_pack(c, "no spaces", PackChange(credits=cr(10), price_cents=100), NOW)
        )
    pack, created = committed(
        engine, lambda c: set_pack(c, "p1", PackChange(credits=cr(10), price_cents=100), NOW)
    )
    assert created and (pack.currency, pack.expires_after_days, pack.active) == ("USD", None, True)
    withdrawn, created = committed(engine, lambda c: set_pack(c, "p1", PackChange(active=False), NOW))
    assert not created and not withdrawn.active and withdrawn.credits == cr(10)
    create_org(engine, "acme")
    with pytest.raises(PackNotOffered):
        open_purchase(engine, "acme", pack="p1")
    with pytest.raises(UnknownPack):
        open_purchase(engine, "acme", pack="nope")
