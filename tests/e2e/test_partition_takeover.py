"""Two `billing worker` processes split the 8 usage partitions; one is SIGKILLed mid-stream and
the other takes its partitions over. Each partition has one active consumer at every moment (read
from the broker's own consumer list), and every event is charged exactly once."""

from __future__ import annotations

import subprocess
import threading
import time

from producers import Publisher, routing
from tests.support.ledger import balance, cr, create_org, grant, setup_prices
from tests.support.pipeline import (
    completed,
    rejected,
    scalar,
    usage_rows,
    wait_until,
    wait_until_broker_idle,
)
from tests.support.processes import BILLING, consumers_by_queue
from tests.support.servers import BROKER_URL

ORGS = [f"org-{i}" for i in range(40)]


def partition_queues(prefix: str) -> list[str]:
    return [f"{prefix}{routing.usage_queue(p)}" for p in range(routing.DEFAULT_PARTITIONS)]


def test_a_killed_workers_partitions_move_to_the_other_and_nothing_is_lost_or_doubled(
    engine, process_env, queue_prefix, spawn_worker
):
    setup_prices(engine)
    for org in ORGS:
        create_org(engine, org)
        grant(engine, org, 10_000, f"seed-{org}")
    # Long enough that both processes subscribe to their own partitions before either stands by for
    # the other's, even on a loaded machine.
    env = {**process_env, "BILLING_STANDBY_DELAY": "8"}
    first = spawn_worker(env, args=("--partitions", "0-3"))
    second = spawn_worker(env, args=("--partitions", "4-7"))
    first.start()
    second.start()
    names = {"first": first.pid, "second": second.pid}
    queues = partition_queues(queue_prefix)

    def owners() -> dict[str, list[tuple[str, bool]]]:
        return consumers_by_queue(queue_prefix, names)

    # Each process is active on its preferred partitions and stands by on the other's.
    wait_until(
        lambda: all(len(owners().get(q, [])) == 2 for q in queues), what="a standby on every partition"
    )
    layout = owners()
    for partition, queue in enumerate(queues):
        active = [owner for owner, is_active in layout[queue] if is_active]
        assert active == ["first" if partition < 4 else "second"], (queue, layout[queue])

    events = [completed(f"take-{i}", org=ORGS[i % len(ORGS)], output_tokens=1 + i % 4) for i in range(6000)]
    samples: list[dict[str, list[tuple[str, bool]]]] = []
    done = threading.Event()

    def publish() -> None:
        with Publisher(BROKER_URL, queue_prefix=queue_prefix, max_batch=20, linger_ms=5) as publisher:
            for start in range(0, len(events), 200):
                chunk = events[start : start + 200]
                publisher.publish_many(chunk)
                publisher.publish_many(chunk[:50])  # duplicates, mixed into the stream
                time.sleep(0.02)

    def sample() -> None:
        while not done.is_set():
            samples.append(consumers_by_queue(queue_prefix, names))

    publisher = threading.Thread(target=publish)
    sampler = threading.Thread(target=sample)
    publisher.start()
    sampler.start()
    try:
        wait_until(lambda: usage_rows(engine) >= 1000, what="some events charged")
        first.kill()
        wait_until(  # a bound on liveness, not a timing: the survivor stands by on every partition
            lambda: all(owners().get(q) == [("second", True)] for q in queues),
            timeout=90,
            what="the survivor to be active on every partition",
        )
        publisher.join(timeout=120)
        assert not publisher.is_alive()
        wait_until(lambda: usage_rows(engine) == len(events), timeout=180, what="every event charged")
        wait_until_broker_idle(queue_prefix)
    finally:
        done.set()
        sampler.join(timeout=60)
    assert samples, "the consumer list was never read during the run"
    for seen in samples:
        for queue in queues:
            assert sum(active for _, active in seen.get(queue, [])) <= 1, (queue, seen[queue])
    assert usage_rows(engine) == len(events)
    assert scalar(
        engine, "SELECT count(DISTINCT event_id) FROM credit_transactions WHERE type='usage'"
    ) == len(events)
    for org in ORGS:
        spent = sum(e.output_tokens for e in events if e.organization_id == org)
        assert balance(engine, org).balance == cr(10_000) - cr(spent), org
    assert rejected(engine) == []
    reconcile = subprocess.run(
        [BILLING, "reconcile"], env=process_env, capture_output=True, text=True, timeout=60
    )
    assert reconcile.returncode == 0, reconcile.stdout
