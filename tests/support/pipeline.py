"""Helpers for pipeline tests: build events, wait for the ledger to hold them."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pika
from sqlalchemy import Engine, text

from bench.scratch import wait_for_queue
from billing_core.settings import Settings
from producers import MessageCompleted, Publisher, PublishError
from producers.routing import DEFAULT_PARTITIONS, usage_queue_of
from producers.routing import usage_queue as partition_queue
from workers.broker import every_queue

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def completed(
    event_id: str, org: str = "acme", *, output_tokens: int = 1, model: str = "unit-model", **extra
) -> MessageCompleted:  # type: ignore[no-untyped-def]
    """With the test prices, a unit-model event costs `output_tokens` credits."""
    return MessageCompleted(
        event_id=event_id,
        organization_id=org,
        agent_id="agent-1",
        model=model,
        input_tokens=0,
        output_tokens=output_tokens,
        occurred_at=AT,
        **extra,
    )


def scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as c:
        return int(c.execute(text(sql), params).scalar_one())


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def usage_rows(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'")


def rejected(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as c:
        return [
            (r, e) for r, e in c.execute(text("SELECT reason, event_id FROM rejected_events ORDER BY id"))
        ]


def publish_raw(broker_url: str, queue: str, body: bytes) -> None:
    """Publish bytes as any producer could: persistent, mandatory, confirmed."""
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
    finally:
        connection.close()


def usage_queue(prefix: str, organization_id: str) -> str:
    """The partition queue the Publisher sends an organization's events to (default partitions)."""
    return f"{prefix}{usage_queue_of(organization_id, DEFAULT_PARTITIONS)}"


def work_queues(prefix: str) -> list[str]:
    """Every queue of a deployment with this prefix (default partitions), without DQ/XQ."""
    return [q for q in every_queue(Settings(queue_prefix=prefix)) if not q.endswith((".DQ", ".XQ"))]


def broker_counts(prefix: str) -> dict[str, tuple[int, int]]:
    """(ready, unacknowledged) messages of every queue with this prefix, as the broker counts them."""
    out = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "name", "messages_ready", "messages_unacknowledged"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    counts = {}
    for line in out.splitlines()[1:]:
        name, ready, unacked = line.split("\t")
        if name.startswith(prefix):
            counts[name] = (int(ready), int(unacked))
    return counts


def wait_until_broker_idle(prefix: str, timeout: float = 120) -> None:
    """Wait until no queue of this prefix holds a ready or an unacknowledged message (a message
    prefetched by a worker is unacknowledged until its commit): only then has everything sent been
    handled. Delayed retries (`.DQ`) count too."""
    wait_until(
        lambda: all(ready == unacked == 0 for ready, unacked in broker_counts(prefix).values()),
        timeout=timeout,
        what=f"every queue of {prefix} to be empty and acknowledged",
    )


def wait_for_usage_queues(broker_url: str, prefix: str) -> None:
    """Return once workers have declared every usage partition queue of this prefix."""
    for partition in range(DEFAULT_PARTITIONS):
        wait_for_queue(broker_url, f"{prefix}{partition_queue(partition)}")


def publish_confirmed(
    broker_url: str, prefix: str, events: list[MessageCompleted], attempts: int = 3
) -> None:
    """Publish as a producer should: when the broker refuses (a PublishError from flush), publish the
    same events again (their ids make a repeat a duplicate), a few times."""
    for attempt in range(1, attempts + 1):
        try:
            with Publisher(broker_url, queue_prefix=prefix) as publisher:
                publisher.publish_many(events)
            return
        except PublishError:
            if attempt == attempts:
                raise
            time.sleep(1.0)


def join_all(threads: list[threading.Thread], timeout: float = 120) -> None:
    """Join every thread and fail if one is still running: a test that went on after a hung thread
    would check a state its thread had not reached."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"still running after {timeout} s: {', '.join(alive)}"
