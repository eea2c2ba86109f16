"""Concurrent writers on one organization: exact balance, every duplicate a no-op, no deadlock lost."""

from __future__ import annotations

import random
import threading

from sqlalchemy import text

from tests.support.ledger import balance, cr, create_org, debit, event, grant, setup_prices, violations
from tests.support.pipeline import join_all


def test_eight_threads_debiting_one_organization_with_overlapping_events_charge_each_event_once(engine):
    setup_prices(engine)
    for org in ("hot", "other"):
        create_org(engine, org)
        grant(engine, org, 100_000, f"seed-{org}")
    # 400 distinct events (cost 1..4 credits), each sent by 2-3 different threads in shuffled batches.
    events = [event(f"e{i}", "hot" if i % 4 else "other", output_tokens=1 + i % 4) for i in range(400)]
    deliveries = [e for e in events for _ in range(2 + (hash(e.event_id) % 2))]
    random.Random(7).shuffle(deliveries)
    chunks = [deliveries[i::8] for i in range(8)]
    errors: list[BaseException] = []

    def worker(chunk):  # type: ignore[no-untyped-def]
        try:
            for start in range(0, len(chunk), 25):
                debit(engine, chunk[start : start + 25])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    join_all(threads, 120)
    assert errors == []
    expected = {"hot": 0, "other": 0}
    for e in events:
        expected[e.organization_id] += e.usage.output_tokens
    assert balance(engine, "hot").balance == cr(100_000) - cr(expected["hot"])
    assert balance(engine, "other").balance == cr(100_000) - cr(expected["other"])
    with engine.connect() as c:
        usage_rows = c.execute(
            text("SELECT count(*) FROM credit_transactions WHERE type = 'usage'")
        ).scalar_one()
    assert usage_rows == 400
    assert violations(engine) == []


def test_two_batches_touching_the_same_organizations_in_opposite_order_both_commit(engine):
    setup_prices(engine)
    orgs = [f"org{i}" for i in range(10)]
    for org in orgs:
        create_org(engine, org)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name, order):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            for round_ in range(20):
                debit(engine, [event(f"{name}-{round_}-{o}", o) for o in order])
        except BaseException as error:  # pragma: no cover
            errors.append(error)

    threads = [
        threading.Thread(target=worker, args=("fwd", orgs)),
        threading.Thread(target=worker, args=("rev", list(reversed(orgs)))),
    ]
    for t in threads:
        t.start()
    join_all(threads, 120)
    assert errors == []
    for org in orgs:
        view = balance(engine, org)
        assert (view.balance, view.overdraft) == (-cr(40), cr(40))
    assert violations(engine) == []
