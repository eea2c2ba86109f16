"""Producers → RabbitMQ → Dramatiq usage actor → ledger, on the real broker and database."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import dramatiq
import pytest
from sqlalchemy import text

from billing_core.pricing.catalog import NewModelPrice, add_model_prices
from billing_core.usage.replay import replay_rejected_usage
from producers import MessageCompleted, Publisher, Unroutable, wire
from tests.support.ledger import balance, committed, cr, create_org, grant, setup_prices, violations
from tests.support.pipeline import (
    AT,
    completed,
    publish_raw,
    rejected,
    scalar,
    usage_queue,
    usage_rows,
    wait_until,
    wait_until_broker_idle,
)
from tests.support.servers import BROKER_URL


def test_bytes_from_the_producer_decode_as_a_dramatiq_message_for_the_usage_actor():
    event = completed("e1", tools={"web_search": 2}, cached_input_tokens=0)
    body = wire.encode("usage", wire.USAGE_ACTOR, [event.to_wire()])
    message = dramatiq.Message.decode(body)
    assert (message.queue_name, message.actor_name, message.kwargs, message.options) == (
        "usage",
        "debit_usage",
        {},
        {},
    )
    assert message.args == ([event.to_wire()],)
    assert set(json.loads(body)) == {
        "queue_name",
        "actor_name",
        "args",
        "kwargs",
        "options",
        "message_id",
        "message_timestamp",
    }


def test_published_events_are_each_debited_exactly_once_even_when_published_three_times(
    engine, workers, pipeline_settings
):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 10_000, "seed")
    events = [completed(f"e{i}", output_tokens=1 + i % 3) for i in range(300)]
    with Publisher(BROKER_URL, queue_prefix=pipeline_settings.queue_prefix, max_batch=25) as publisher:
        for _ in range(3):
            publisher.publish_many(events)
    wait_until(lambda: usage_rows(engine) == 300, what="300 debits")
    expected = sum(e.output_tokens for e in events)
    # Duplicates may still be in flight: wait until the broker has nothing left, then check nothing more
    # was charged.
    wait_until_broker_idle(pipeline_settings.queue_prefix)
    assert usage_rows(engine) == 300
    assert balance(engine, "acme").balance == cr(10_000) - cr(expected)
    assert violations(engine) == []


def test_a_message_mixing_valid_and_bad_events_charges_the_valid_ones_and_keeps_the_others(
    engine, workers, pipeline_settings
):
    setup_prices(engine)
    create_org(engine, "acme")
    good = [completed("ok-1", output_tokens=2), completed("ok-2", output_tokens=3)]
    bad_schema = {**completed("bad-1").to_wire(), "input_tokens": -5}
    missing_org = {k: v for k, v in completed("bad-2").to_wire().items() if k != "organization_id"}
    unknown_model = completed("bad-3", model="gpt-99").to_wire()
    unknown_org = completed("bad-4", org="ghost").to_wire()
    body = wire.encode(
        usage_queue(pipeline_settings.queue_prefix, "acme"),
        wire.USAGE_ACTOR,
        [good[0].to_wire(), bad_schema, missing_org, unknown_model, unknown_org, good[1].to_wire()],
    )
    publish_raw(BROKER_URL, usage_queue(pipeline_settings.queue_prefix, "acme"), body)
    wait_until(lambda: len(rejected(engine)) == 4, what="4 rejected events")
    assert usage_rows(engine) == 2
    assert balance(engine, "acme").balance == -cr(5)
    reasons = {event_id: reason for reason, event_id in rejected(engine)}
    assert reasons == {
        "bad-1": "malformed",
        "bad-2": "malformed",
        "bad-3": "unknown_model",
        "bad-4": "unknown_organization",
    }
    detail = scalar(engine, "SELECT count(*) FROM rejected_events WHERE detail LIKE 'input_tokens:%'")
    assert detail == 1


def test_a_rejected_unknown_model_is_charged_once_after_its_price_is_added_and_replayed(
    engine, workers, pipeline_settings
):
    setup_prices(engine)
    create_org(engine, "acme")
    with Publisher(BROKER_URL, queue_prefix=pipeline_settings.queue_prefix) as publisher:
        publisher.publish(completed("new-model-1", model="brand-new", output_tokens=1000))
    wait_until(lambda: rejected(engine) == [("unknown_model", "new-model-1")], what="the rejection")
    committed(
        engine,
        lambda c: add_model_prices(
            c, [NewModelPrice("brand-new", Decimal(0), Decimal(2000), None, AT.replace(year=2020))]
        ),
    )
    first = committed(engine, lambda c: replay_rejected_usage(c, AT))
    second = committed(engine, lambda c: replay_rejected_usage(c, AT))
    assert (first.charged, second.replayed) == (1, 0)
    assert balance(engine, "acme").balance == -2_000_000
    assert violations(engine) == []


def test_publishing_to_a_queue_no_worker_declared_raises_unroutable(queue_prefix):
    with pytest.raises(Unroutable), Publisher(BROKER_URL, queue_prefix=queue_prefix) as publisher:
        publisher.publish(completed("lost?"))
        publisher.flush()


def test_event_validation_names_the_field():
    with pytest.raises(ValueError, match="output_tokens"):
        completed("x", output_tokens=-1)
    with pytest.raises(ValueError, match="occurred_at"):
        MessageCompleted(
            event_id="x",
            organization_id="o",
            agent_id="a",
            model="m",
            input_tokens=1,
            output_tokens=1,
            occurred_at=datetime(2026, 1, 1),
        )
    with pytest.raises(ValueError, match="event_id"):
        completed("")


def test_a_message_whose_argument_is_not_a_list_of_events_is_parked_as_malformed(
    engine, workers, pipeline_settings
):
    body = json.dumps(
        {
            "queue_name": usage_queue(pipeline_settings.queue_prefix, "acme"),
            "actor_name": wire.USAGE_ACTOR,
            "args": [{"event_id": "lonely"}],
            "kwargs": {},
            "options": {},
        }
    ).encode()
    publish_raw(BROKER_URL, usage_queue(pipeline_settings.queue_prefix, "acme"), body)
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM rejected_events") == 1, what="the parked message")
    with engine.connect() as c:
        row = c.execute(text("SELECT kind, reason, payload FROM rejected_events")).one()
    assert (row.kind, row.reason, row.payload) == ("usage", "malformed", {"args": {"event_id": "lonely"}})
