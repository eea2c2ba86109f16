"""Usage partitions on the real RabbitMQ: every path routes an organization to one partition queue,
and nothing dead-lettered is lost."""

from __future__ import annotations

import json

import pika
from dramatiq import Message

from billing_core.settings import Settings
from billing_core.usage import rejections
from producers import Publisher, routing, wire
from tests.support.ledger import create_org, setup_prices
from tests.support.pipeline import completed, publish_raw, usage_queue, usage_rows, wait_until
from tests.support.servers import BROKER_URL
from workers.boot import boot
from workers.broker import usage_queues
from workers.dead_letters import DeadLetterSweeper

ORGS = [f"org-{i}" for i in range(40)]


def drain(queue: str) -> list[dict]:
    """Every message waiting in `queue`, decoded (and removed)."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    try:
        channel = connection.channel()
        messages = []
        while True:
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append(json.loads(body))
    finally:
        connection.close()


def partitions_seen(settings: Settings) -> dict[int, set[str]]:
    """For each partition queue, the organizations of the events it holds; also checks that every
    message names its own queue (so a retry goes back to the same partition)."""
    seen: dict[int, set[str]] = {}
    for partition, name in enumerate(usage_queues(settings)):
        for message in drain(name):
            assert message["queue_name"] == name
            seen.setdefault(partition, set()).update(e["organization_id"] for e in message["args"][0])
    return seen


def declared_queues(settings: Settings) -> None:
    app = boot(settings)
    for name in usage_queues(settings):
        app.broker.declare_queue(name, ensure=True)
    app.broker.close()


def test_the_publisher_sends_each_organization_to_its_partition_and_only_there(queue_prefix):
    settings = Settings(queue_prefix=queue_prefix, broker_url=BROKER_URL)
    declared_queues(settings)
    events = [completed(f"e{i}", org=ORGS[i % len(ORGS)]) for i in range(400)]
    with Publisher(BROKER_URL, queue_prefix=queue_prefix, max_batch=7) as publisher:
        publisher.publish_many(events)
    seen = partitions_seen(settings)
    assert set().union(*seen.values()) == set(ORGS)
    for partition, orgs in seen.items():
        assert {routing.partition_of(org, 8) for org in orgs} == {partition}


def test_the_workers_own_sender_routes_exactly_as_the_publisher(queue_prefix):
    settings = Settings(queue_prefix=queue_prefix, broker_url=BROKER_URL)
    declared_queues(settings)
    app = boot(settings)
    try:
        app.send_usage([completed(f"s{i}", org=ORGS[i % len(ORGS)]).to_wire() for i in range(200)])
    finally:
        app.broker.close()
    for partition, orgs in partitions_seen(settings).items():
        assert {routing.partition_of(org, 8) for org in orgs} == {partition}


def parked(engine) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(r.kind, r.reason, r.detail) for r in rejected_rows(engine)]


def rejected_rows(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return rejections.list_rejected(c, status=None)


def test_a_message_for_an_actor_nobody_declared_is_parked_not_silently_dead_lettered(
    engine, workers, pipeline_settings
):
    body = Message(
        queue_name=usage_queue(pipeline_settings.queue_prefix, "acme"),
        actor_name="no_such_actor",
        args=([completed("ghost-actor").to_wire()],),
        kwargs={},
        options={},
    ).encode()
    publish_raw(BROKER_URL, usage_queue(pipeline_settings.queue_prefix, "acme"), body)
    wait_until(lambda: parked(engine) != [], what="the message to be parked")
    [(kind, reason, detail)] = parked(engine)
    assert (kind, reason) == ("usage", rejections.DEAD_LETTERED)
    assert "ActorNotFound" in detail


def test_a_message_out_of_retries_is_parked_with_its_last_error(engine, workers, pipeline_settings):
    # A webhook job for an inbox row that does not exist fails every time; it may retry zero times.
    name = f"{pipeline_settings.queue_prefix}webhooks"
    body = Message(
        queue_name=name, actor_name="process_webhook", args=(987654,), kwargs={}, options={"max_retries": 0}
    ).encode()
    publish_raw(BROKER_URL, name, body)
    wait_until(lambda: parked(engine) != [], what="the message to be parked")
    [(kind, reason, detail)] = parked(engine)
    assert (kind, reason) == ("webhooks", rejections.RETRIES_EXHAUSTED)
    assert "no inbox row 987654" in detail


def test_a_body_that_is_not_a_dramatiq_message_is_parked_by_the_dead_letter_sweep(
    engine, workers, pipeline_settings
):
    queue = usage_queue(pipeline_settings.queue_prefix, "acme")
    publish_raw(BROKER_URL, queue, b"\x00 definitely not json")
    sweeper = DeadLetterSweeper(workers.runtime, [queue], interval=60)
    wait_until(lambda: sweeper.sweep() > 0 or parked(engine) != [], what="the dead letter to be parked")
    [row] = rejected_rows(engine)
    assert (row.kind, row.reason, row.payload) == (
        "usage",
        rejections.MALFORMED,
        {"raw": "\ufffd definitely not json"},
    )
    assert sweeper.sweep() == 0  # acknowledged once parked: nothing left


def test_the_wire_format_names_the_partition_queue():
    body = wire.encode("usage.6", wire.USAGE_ACTOR, [completed("w1").to_wire()])
    assert json.loads(body)["queue_name"] == "usage.6" == routing.usage_queue_of("acme", 8)


def test_an_event_with_a_nul_character_is_rejected_and_kept_not_retried_forever(
    engine, workers, pipeline_settings
):
    setup_prices(engine)
    create_org(engine, "acme")
    nul = {**completed("nul-1").to_wire(), "agent_id": "agent\x00one"}
    fine = completed("fine-1").to_wire()
    body = wire.encode(usage_queue(pipeline_settings.queue_prefix, "acme"), wire.USAGE_ACTOR, [nul, fine])
    publish_raw(BROKER_URL, usage_queue(pipeline_settings.queue_prefix, "acme"), body)
    wait_until(lambda: usage_rows(engine) == 1 and parked(engine) != [], what="one charge and one rejection")
    [row] = rejected_rows(engine)
    assert (row.reason, row.event_id, row.payload["agent_id"]) == (
        rejections.MALFORMED,
        "nul-1",
        "agent\ufffdone",
    )
    assert "NUL" in row.detail
