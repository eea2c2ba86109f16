"""Provider events applied to subscriptions: once each, in any order, with the same final state."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from billing_core.errors import NotYet
from billing_core.provider_events.inbox import record_delivery
from billing_core.provider_events.processing import process_inbox_row
from billing_core.subscriptions.service import change_plan_of_organization
from tests.support.ledger import balance, committed, cr, create_org, violations
from tests.support.pipeline import join_all
from tests.support.subscriptions import with_stripe_prices
from tests.support.webhook_payloads import recurrente_payment_succeeded, stripe_event
from workers.scheduler import sweep_inbox

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR1 = datetime(2026, 3, 1, tzinfo=UTC)


def invoice(kind: str, org: str, sub: str, period_start: datetime, *, reason: str, event_id: str) -> dict:
    obj = {
        "id": f"in_{event_id}",
        "object": "invoice",
        "customer": f"cus_{org}",
        "billing_reason": reason,
        "amount_paid": 2000,
        "currency": "usd",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": sub,
                "metadata": {"organization_id": org, "plan": "pro", "interval": "month"},
            },
        },
        "lines": {"object": "list", "data": [{"period": {"start": int(period_start.timestamp())}}]},
    }
    return stripe_event(kind, obj, event_id=event_id, created=int(period_start.timestamp()))


def sub_updated(sub: str, *, cancel: bool, created: datetime, event_id: str) -> dict:
    obj = {"id": sub, "object": "subscription", "status": "active", "cancel_at_period_end": cancel}
    return stripe_event(
        "customer.subscription.updated", obj, event_id=event_id, created=int(created.timestamp())
    )


def deliver(engine, provider: str, external_id: str, event: dict) -> int:  # type: ignore[no-untyped-def]
    kind = event.get("type") or event["event_type"]
    row = committed(engine, lambda c: record_delivery(c, provider, external_id, kind, event, JAN1))
    assert row is not None
    return int(row)


def process(engine, row_id: int, now: datetime = JAN1 + timedelta(minutes=1)) -> str:  # type: ignore[no-untyped-def]
    return committed(engine, lambda c: process_inbox_row(c, row_id, now)).status  # type: ignore[no-any-return]


def process_all(engine, rows: list[int]) -> None:  # type: ignore[no-untyped-def]
    """In the given order; an event that must wait is retried after the others, as the queue would."""
    waiting = list(rows)
    for _ in range(len(rows) + 1):
        retry = []
        for row in waiting:
            try:
                process(engine, row)
            except NotYet:
                retry.append(row)
        if not retry:
            return
        waiting = retry
    raise AssertionError(f"rows never became processable: {waiting}")


def subscribed_at_stripe(engine, org: str, sub: str, event_id: str) -> None:  # type: ignore[no-untyped-def]
    """The organization, and its first Stripe invoice paid on Jan 1: an active Pro subscription."""
    create_org(engine, org)
    paid = invoice("invoice.paid", org, sub, JAN1, reason="subscription_create", event_id=event_id)
    process(engine, deliver(engine, "stripe", event_id, paid))


def subscription(engine, org: str) -> tuple:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return tuple(
            c.execute(
                text(
                    "SELECT status, plan_code, cancel_at_period_end FROM subscriptions "
                    "WHERE organization_id = :o"
                ),
                {"o": org},
            ).one()
        )


def test_a_paid_first_invoice_activates_the_subscription_and_grants_the_month_once(engine):
    create_org(engine, "acme")
    row = deliver(
        engine,
        "stripe",
        "evt_1",
        invoice("invoice.paid", "acme", "sub_1", JAN1, reason="subscription_create", event_id="evt_1"),
    )
    assert process(engine, row) == "processed"
    assert process(engine, row) == "processed"  # a redelivered message changes nothing
    assert subscription(engine, "acme") == ("active", "pro", False)
    assert balance(engine, "acme", JAN1 + timedelta(days=1)).balance == cr(1000)


def test_an_event_type_we_do_not_handle_is_stored_and_marked_ignored(engine):
    row = deliver(
        engine, "stripe", "evt_x", stripe_event("customer.created", {"id": "cus_1"}, event_id="evt_x")
    )
    assert process(engine, row) == "ignored"


def test_every_order_of_a_subscriptions_lifecycle_events_ends_in_the_same_state_and_credits(engine):
    outcomes = set()
    for n, order in enumerate(itertools.permutations(range(5))):
        org, sub = f"org-{n}", f"sub_{n}"
        create_org(engine, org)
        events = [
            (
                "checkout.session.completed",
                stripe_event(
                    "checkout.session.completed", {"id": f"cs_{n}", "subscription": sub}, event_id=f"e{n}a"
                ),
            ),
            (
                "customer.subscription.created",
                stripe_event("customer.subscription.created", {"id": sub}, event_id=f"e{n}b"),
            ),
            (
                "invoice.paid",
                invoice("invoice.paid", org, sub, JAN1, reason="subscription_create", event_id=f"e{n}c"),
            ),
            (
                "updated-later",
                sub_updated(sub, cancel=True, created=JAN1 + timedelta(days=5), event_id=f"e{n}d"),
            ),
            (
                "updated-earlier",
                sub_updated(sub, cancel=False, created=JAN1 + timedelta(days=2), event_id=f"e{n}e"),
            ),
        ]
        rows = [deliver(engine, "stripe", events[i][1]["id"], events[i][1]) for i in order]
        process_all(engine, rows)
        outcomes.add((subscription(engine, org), balance(engine, org, JAN1 + timedelta(days=6)).balance))
    assert outcomes == {(("active", "pro", True), cr(1000))}
    assert violations(engine) == []


def test_a_failed_renewal_then_its_payment_grants_once_in_either_order(engine):
    results = []
    for n, failure_first in enumerate([True, False]):
        org, sub = f"renew-{n}", f"sub_r{n}"
        subscribed_at_stripe(engine, org, sub, f"a{n}")
        failed = deliver(
            engine,
            "stripe",
            f"f{n}",
            invoice("invoice.payment_failed", org, sub, FEB1, reason="subscription_cycle", event_id=f"f{n}"),
        )
        paid = deliver(
            engine,
            "stripe",
            f"p{n}",
            invoice("invoice.paid", org, sub, FEB1, reason="subscription_cycle", event_id=f"p{n}"),
        )
        for row in [failed, paid] if failure_first else [paid, failed]:
            process(engine, row, FEB1 + timedelta(days=2))
        results.append((subscription(engine, org), balance(engine, org, FEB1 + timedelta(days=3)).balance))
    assert results[0] == results[1]
    assert results[0][0] == ("active", "pro", False)
    with engine.connect() as c:
        grants = c.execute(
            text("SELECT count(*) FROM credit_grants WHERE organization_id = 'renew-0'")
        ).scalar_one()
    assert grants == 2  # January and February, each once


def test_the_same_row_processed_by_two_workers_at_once_has_one_effect(engine):
    create_org(engine, "acme")
    row = deliver(
        engine,
        "stripe",
        "evt_c",
        invoice("invoice.paid", "acme", "sub_c", JAN1, reason="subscription_create", event_id="evt_c"),
    )
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        process(engine, row)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    join_all(threads, 30)
    assert balance(engine, "acme", JAN1 + timedelta(days=1)).balance == cr(1000)


def test_a_row_left_pending_by_a_crash_before_enqueue_is_finished_by_the_sweeper(engine):
    create_org(engine, "acme")
    deliver(
        engine,
        "stripe",
        "evt_s",
        invoice("invoice.paid", "acme", "sub_s", JAN1, reason="subscription_create", event_id="evt_s"),
    )
    assert sweep_inbox(engine, JAN1 + timedelta(minutes=1), enqueue=None) == 0  # too fresh to be stale
    assert sweep_inbox(engine, JAN1 + timedelta(minutes=6), enqueue=None) == 1
    assert subscription(engine, "acme") == ("active", "pro", False)


def test_a_recurrente_payment_activates_and_a_cancel_event_cancels_at_period_end(engine):
    create_org(engine, "acme")
    paid = recurrente_payment_succeeded()
    paid["checkout"]["metadata"]["interval"] = "month"
    paid["created_at"] = JAN1.isoformat()
    process(engine, deliver(engine, "recurrente", "msg_1", paid))
    cancel = {"id": "su_123", "event_type": "subscription.cancel", "subscription": {"id": "su_123"}}
    process(engine, deliver(engine, "recurrente", "msg_2", cancel))
    assert subscription(engine, "acme") == ("active", "pro", True)
    assert balance(engine, "acme", JAN1 + timedelta(days=1)).balance == cr(1000)


def test_a_paid_upgrade_invoice_grants_the_difference_once_however_often_it_is_delivered(engine):
    subscribed_at_stripe(engine, "acme", "sub_u", "a")
    mid = JAN1 + timedelta(days=6)
    change = committed(engine, lambda c: change_plan_of_organization(c, "acme", "business", "month", mid))
    assert change.upgrade is not None and change.upgrade.charge_cents > 0
    upgrade = invoice("invoice.paid", "acme", "sub_u", JAN1, reason="subscription_update", event_id="u")
    row = deliver(engine, "stripe", "u", upgrade)
    process(engine, row, mid)
    process(engine, row, mid)
    again = deliver(engine, "stripe", "u2", {**upgrade, "id": "u2"})  # the provider resends it under a new id
    process(engine, again, mid)
    assert subscription(engine, "acme") == ("active", "business", False)
    assert balance(engine, "acme", mid).balance == cr(5000)  # 1,000 of Pro + the 4,000 difference


def _with_items(event: dict, price: str) -> dict:
    event["data"]["object"]["items"] = {"object": "list", "data": [{"id": "si_1", "price": {"id": price}}]}
    return event


def test_a_plan_changed_in_the_stripe_portal_is_applied_whichever_of_its_events_comes_first(engine):
    with_stripe_prices(engine)
    results = []
    for n, update_first in enumerate([True, False]):
        org, sub = f"portal-{n}", f"sub_p{n}"
        subscribed_at_stripe(engine, org, sub, f"c{n}")
        mid = JAN1 + timedelta(days=6)
        updated = _with_items(sub_updated(sub, cancel=False, created=mid, event_id=f"u{n}"), "price_biz_m")
        paid = invoice("invoice.paid", org, sub, JAN1, reason="subscription_update", event_id=f"p{n}")
        paid["data"]["object"]["lines"]["data"].append(
            {"price": {"id": "price_biz_m"}, "period": {"start": int(mid.timestamp())}}
        )
        rows = [deliver(engine, "stripe", f"u{n}", updated), deliver(engine, "stripe", f"p{n}", paid)]
        process_all(engine, rows if update_first else list(reversed(rows)))
        results.append((subscription(engine, org), balance(engine, org, mid).balance))
    assert results == [(("active", "business", False), cr(5000))] * 2


def test_a_downgrade_made_in_the_stripe_portal_is_scheduled_for_the_end_of_the_period(engine):
    with_stripe_prices(engine)
    subscribed_at_stripe(engine, "acme", "sub_d", "c")
    with engine.begin() as c:
        c.execute(text("UPDATE subscriptions SET plan_code = 'business'"))
    updated = _with_items(
        sub_updated("sub_d", cancel=False, created=JAN1 + timedelta(days=3), event_id="d"), "price_pro_m"
    )
    process(engine, deliver(engine, "stripe", "d", updated))
    with engine.connect() as c:
        row = c.execute(text("SELECT plan_code, next_plan_code, next_interval FROM subscriptions")).one()
    assert tuple(row) == ("business", "pro", "month")
