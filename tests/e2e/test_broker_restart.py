"""RabbitMQ restarting while a Publisher publishes: every confirmed event is charged, once."""

from __future__ import annotations

import subprocess
import threading
import time

from producers import Publisher
from tests.support.ledger import create_org, setup_prices
from tests.support.pipeline import (
    completed,
    join_all,
    scalar,
    usage_rows,
    wait_for_usage_queues,
    wait_until,
    wait_until_broker_idle,
)
from tests.support.servers import BROKER_URL


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_events_published_across_a_broker_restart_are_all_charged_exactly_once(
    engine, process_env, queue_prefix, spawn_worker
):
    setup_prices(engine)
    create_org(engine, "acme")
    worker = spawn_worker()
    worker.start()
    wait_for_usage_queues(BROKER_URL, queue_prefix)
    started, restarted = threading.Event(), threading.Event()
    published: list[str] = []
    errors: list[BaseException] = []
    reconnects: list[int] = []

    def publish() -> None:
        """Publish steadily from before the broker stops until after it is back."""
        try:
            with Publisher(BROKER_URL, queue_prefix=queue_prefix, max_batch=5, linger_ms=5) as publisher:
                while not (restarted.is_set() and len(published) >= 3000):
                    batch = [completed(f"restart-{len(published) + i}") for i in range(30)]
                    publisher.publish_many(batch)
                    published.extend(e.event_id for e in batch)
                    if len(published) >= 600:
                        started.set()
                    time.sleep(0.01)
                publisher.flush(timeout=120)  # returns only once the broker has confirmed all of them
                reconnects.append(publisher.connections_opened)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        assert started.wait(60)
        rabbitmqctl("stop_app")
        time.sleep(1)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        restarted.set()
        join_all([thread], 180)
        assert errors == []
        assert reconnects and reconnects[0] >= 2, "the publisher never lost its connection"
        total = len(published)
        wait_until(lambda: usage_rows(engine) == total, timeout=180, what=f"all {total} debits")
        wait_until_broker_idle(queue_prefix)
    finally:
        rabbitmqctl("start_app")
        worker.stop()
    assert usage_rows(engine) == total
    assert (
        scalar(engine, "SELECT count(DISTINCT event_id) FROM credit_transactions WHERE type='usage'") == total
    )
    assert scalar(engine, "SELECT balance FROM balances WHERE organization_id='acme'") == -total * 1_000_000
