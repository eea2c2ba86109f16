"""Any interleaving of debits, failures and duplicates ends in the same balance."""

from __future__ import annotations

import threading
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support.ledger import balance, cr, create_org, grant, setup_prices, violations
from tests.support.pipeline import join_all
from tests.support.refunds import charge, failure, report, wire_event

interactions = st.lists(
    st.tuples(st.integers(min_value=0, max_value=20), st.booleans(), st.integers(1, 3), st.integers(1, 2)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=interactions, data=st.data())
def test_the_final_balance_counts_only_interactions_that_did_not_fail_whatever_the_order(engine, plan, data):
    org = f"org-{uuid.uuid4().hex[:8]}"
    if not _prices_ready(engine):
        setup_prices(engine)
    create_org(engine, org)
    grant(engine, org, 1000, f"seed-{org}")
    ops: list[tuple[str, dict]] = []
    for i, (cost, failed, debit_copies, failure_copies) in enumerate(plan):
        event_id = f"{org}-m{i}"
        ops += [("debit", wire_event(event_id, org, output_tokens=cost))] * debit_copies
        if failed:
            ops += [("failure", failure(event_id, org))] * failure_copies
    order = data.draw(st.permutations(ops))
    # Apply in runs of consecutive operations of the same kind, as workers would receive them.
    run: list[dict] = []
    kind = None
    for op_kind, payload in [*order, ("end", {})]:
        if op_kind != kind and run:
            (charge if kind == "debit" else report)(engine, run)
            run = []
        kind = op_kind
        run.append(payload)

    kept = sum(cost for cost, failed, _, _ in plan if not failed)
    assert balance(engine, org).balance == cr(1000) - cr(kept)
    with engine.connect() as c:
        refunds = c.execute(
            text("SELECT count(*) FROM credit_transactions WHERE type = 'refund' AND organization_id = :o"),
            {"o": org},
        ).scalar_one()
    assert refunds == sum(1 for _, failed, _, _ in plan if failed)
    assert violations(engine) == []


def _prices_ready(engine) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return bool(
            c.execute(text("SELECT count(*) FROM model_prices WHERE model = 'unit-model'")).scalar_one()
        )


def test_a_debit_and_its_failure_report_committed_at_the_same_moment_refund_it_exactly_once(engine):
    """Not one after the other: each interaction's debit and its failure report run in two threads
    released together, 40 times; whichever commits first, the refund happens once."""
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 1000, "seed")
    errors: list[BaseException] = []
    for i in range(40):
        event_id = f"race-{i}"
        start = threading.Barrier(2, timeout=10)

        def run(work, payload, start=start) -> None:  # type: ignore[no-untyped-def]
            try:
                start.wait()
                work(engine, [payload])
            except BaseException as error:
                errors.append(error)

        pair = [
            threading.Thread(target=run, args=(charge, wire_event(event_id, "acme", output_tokens=3))),
            threading.Thread(target=run, args=(report, failure(event_id, "acme"))),
        ]
        for t in pair:
            t.start()
        join_all(pair, 30)
    assert errors == []
    assert balance(engine, "acme").balance == cr(1000)  # every debit was refunded
    with engine.connect() as c:
        refunds = c.execute(
            text("SELECT count(*) FROM credit_transactions WHERE type = 'refund'")
        ).scalar_one()
    assert refunds == 40
    assert violations(engine) == []
