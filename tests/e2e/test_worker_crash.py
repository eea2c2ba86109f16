"""Killing workers mid-stream: every event is still charged exactly once."""

from __future__ import annotations

import subprocess
import threading

import pytest
from sqlalchemy import text

from producers import InteractionFailed, MessageCompleted, Publisher
from tests.support.ledger import balance, cr, create_org, grant, setup_prices
from tests.support.pipeline import (
    completed,
    join_all,
    publish_confirmed,
    rejected,
    scalar,
    usage_rows,
    wait_for_usage_queues,
    wait_until,
    wait_until_broker_idle,
)
from tests.support.processes import BILLING
from tests.support.servers import BROKER_URL

QUEUE_TYPES = pytest.mark.parametrize("queue_type", ["classic", "quorum"])


@QUEUE_TYPES
@pytest.mark.parametrize("with_failures", [False, True], ids=["debits", "debits-and-failures"])
def test_a_worker_killed_with_sigkill_mid_stream_loses_and_doubles_nothing(
    engine, process_env, queue_prefix, spawn_worker, with_failures, queue_type
):
    process_env["BROKER_QUEUE_TYPE"] = queue_type
    setup_prices(engine)
    orgs = [f"org-{i}" for i in range(20)]
    for org in orgs:
        create_org(engine, org)
        grant(engine, org, 1_000, f"seed-{org}")
    events = [completed(f"crash-{i}", org=orgs[i % 20], output_tokens=1 + i % 5) for i in range(5000)]
    # Every 7th interaction fails; half of those failures are published before their debit.
    failed = {e.event_id for i, e in enumerate(events) if with_failures and i % 7 == 3}
    worker = spawn_worker()
    worker.start()
    wait_for_usage_queues(BROKER_URL, queue_prefix)

    publish_errors: list[BaseException] = []

    def publish() -> None:
        try:
            publish_all()
        except BaseException as error:  # named by the test's failure, not lost in a thread warning
            publish_errors.append(error)

    def publish_all() -> None:
        with Publisher(BROKER_URL, queue_prefix=queue_prefix, max_batch=10, linger_ms=5) as publisher:
            for start in range(0, len(events), 50):
                chunk = events[start : start + 50]
                early = [e for i, e in enumerate(chunk) if e.event_id in failed and i % 2 == 0]
                late = [e for e in chunk if e.event_id in failed and e not in early]
                for e in early:
                    publisher.publish_failure(interaction_failed(e))
                publisher.publish_many(chunk)
                for e in late:
                    publisher.publish_failure(interaction_failed(e))

    publisher_thread = threading.Thread(target=publish)
    publisher_thread.start()
    wait_until(lambda: usage_rows(engine) >= 500, what="the worker to charge some events")
    worker.kill()
    charged_at_kill = usage_rows(engine)
    join_all([publisher_thread], 120)
    assert not publish_errors, f"the publisher failed: {publish_errors[0]!r}"
    assert charged_at_kill < 5000, "the kill came too late to test anything"
    worker.start()
    refunds = "SELECT count(*) FROM credit_transactions WHERE type = 'refund'"
    wait_until(lambda: usage_rows(engine) == 5000, timeout=180, what="all 5000 debits")
    wait_until(lambda: scalar(engine, refunds) == len(failed), timeout=120, what="every refund")
    wait_until_broker_idle(queue_prefix)
    assert usage_rows(engine) == 5000 and scalar(engine, refunds) == len(failed)
    assert (
        scalar(engine, "SELECT count(DISTINCT event_id) FROM credit_transactions WHERE type='usage'") == 5000
    )
    for org in orgs:
        spent = sum(e.output_tokens for e in events if e.organization_id == org and e.event_id not in failed)
        assert balance(engine, org).balance == cr(1_000) - cr(spent), org
    assert rejected(engine) == []
    reconcile = subprocess.run(
        [BILLING, "reconcile"], env=process_env, capture_output=True, text=True, timeout=60
    )
    assert reconcile.returncode == 0, reconcile.stdout


def interaction_failed(event: MessageCompleted) -> InteractionFailed:
    return InteractionFailed(
        event_id=f"failed-{event.event_id}",
        original_event_id=event.event_id,
        organization_id=event.organization_id,
        reason="the model stream was cut",
    )


@QUEUE_TYPES
def test_a_message_that_keeps_killing_its_worker_is_parked_after_bounded_redeliveries(
    engine, process_env, queue_prefix, spawn_worker, queue_type
):
    """The worker is killed while it processes the message, each time: a crash loop. A classic
    queue counts the redeliveries in Postgres; a quorum queue's delivery limit dead-letters it."""
    setup_prices(engine)
    create_org(engine, "stuck")
    create_org(engine, "fine")
    limit = 3
    env = {
        **process_env,
        "BROKER_QUEUE_TYPE": queue_type,
        "BILLING_POISON_REDELIVERIES": str(limit),
        "BILLING_DEAD_LETTER_INTERVAL": "0.5",
        "BILLING_USAGE_LOCK_TIMEOUT_MS": "600000",  # the delivery must block on the lock, not time out
    }
    worker = spawn_worker(env, threads=1)
    worker.start()
    wait_for_usage_queues(BROKER_URL, queue_prefix)
    # Hold the organization's balance row so that processing the message blocks inside its transaction.
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(text("SELECT * FROM balances WHERE organization_id = 'stuck' FOR UPDATE"))
    with Publisher(BROKER_URL, queue_prefix=queue_prefix) as publisher:
        publisher.publish(completed("poison-1", org="stuck"))

    def blocked_backends() -> int:
        # A killed worker's backend keeps waiting on the lock until it is granted, so count them all.
        return scalar(
            engine,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND query LIKE '%FROM balances%'",
        )

    kills = 0
    try:
        while not rejected(engine):
            # Each delivery blocks on the lock, and the worker is killed there: until it is parked.
            wait_until(
                lambda k=kills: blocked_backends() > k or rejected(engine) != [], what=f"delivery {kills + 1}"
            )
            if rejected(engine):
                break
            worker.kill()
            kills += 1
            assert kills <= limit + 1, "never parked: the crash loop is unbounded"
            worker.start()
    finally:
        blocker.rollback()
        blocker.close()
    # Right after the crash loop a quorum queue has been seen to refuse (nack) one publish: the
    # producer's contract is to publish again, which the event id makes safe.
    publish_confirmed(BROKER_URL, queue_prefix, [completed("after-poison", org="fine")])
    try:
        wait_until(lambda: usage_rows(engine) == 1, what="the next message to be processed")
    finally:
        worker.stop()
    assert rejected(engine) == [("poison_message", None)]
    assert scalar(engine, "SELECT count(*) FROM credit_transactions WHERE event_id = 'poison-1'") == 0
    replay = subprocess.run(
        [BILLING, "events", "replay", "--reason", "poison_message"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0 and "1 charged" in replay.stdout, replay.stdout + replay.stderr
    assert scalar(engine, "SELECT count(*) FROM credit_transactions WHERE event_id = 'poison-1'") == 1
