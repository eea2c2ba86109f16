"""The production webhook path on the real RabbitMQ: the receiver verifies, stores and enqueues on
the broker; the `process_webhook` actor applies each event once; an event that needs another one
first (NotYet) is retried through the broker's delay queue until that one has arrived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import text

from billing_cli.processes import start_workers
from tests.integration.test_webhook_processing import invoice, subscription
from tests.support.ledger import balance, cr, create_org, violations
from tests.support.pipeline import wait_until, wait_until_broker_idle
from tests.support.webhook_payloads import STRIPE_SECRET, dumps, sign_stripe, stripe_event
from webhooks.app import create_app
from workers.scheduler import senders


def post(client, event: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    body = dumps(event)
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign_stripe(body)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def statuses(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [s for (s,) in c.execute(text("SELECT status FROM webhook_inbox ORDER BY id"))]


def test_events_arriving_out_of_order_go_through_the_broker_and_are_each_applied_once(
    engine, pipeline_settings
):
    create_org(engine, "acme")
    settings = pipeline_settings.model_copy(
        update={"stripe_webhook_secret": SecretStr(STRIPE_SECRET), "webhook_retry_delay_ms": 300}
    )
    workers = start_workers(settings, engine)
    try:
        receiver = create_app(settings, engine, enqueue=senders(settings, engine).webhook).test_client()
        start = datetime.now(UTC) - timedelta(days=1)  # a period in force now: its grant stays
        paid = invoice("invoice.paid", "acme", "sub_1", start, reason="subscription_create", event_id="paid")
        created = stripe_event("customer.subscription.created", {"id": "sub_1"}, event_id="created")
        completed = stripe_event(
            "checkout.session.completed", {"id": "cs_1", "subscription": "sub_1"}, event_id="completed"
        )
        post(receiver, paid)  # needs the subscription: waits on the delay queue
        post(receiver, paid)  # a duplicate delivery: stored once
        wait_until(lambda: statuses(engine) == ["pending"], what="the paid invoice to wait")
        post(receiver, created)
        post(receiver, completed)
        wait_until(lambda: statuses(engine) == ["processed"] * 3, timeout=60, what="every event applied")
        wait_until_broker_idle(settings.queue_prefix)
    finally:
        workers.stop()
    assert subscription(engine, "acme") == ("active", "pro", False)
    assert balance(engine, "acme", datetime.now(UTC)).balance == cr(1000)  # granted once
    assert violations(engine) == []
