"""Keyset pagination: consistent under concurrent inserts, and a deep page starts at the cursor in
the history index instead of scanning the pages before it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from sqlalchemy import text

from billing_core.queries import transaction_page
from tests.support.api import Api
from tests.support.ledger import create_org, debit, event, grant, setup_prices
from tests.support.pipeline import join_all


def test_walking_every_page_while_transactions_arrive_gives_no_duplicate_and_no_gap(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    create_org(engine, "other")
    grant(engine, "acme", 10_000, "g")
    debit(engine, [event(f"before-{i}", "acme", output_tokens=1, at=datetime.now(UTC)) for i in range(300)])
    with engine.connect() as c:
        existing = [
            r for (r,) in c.execute(text("SELECT id FROM credit_transactions WHERE organization_id = 'acme'"))
        ]
    api = Api(database_url, engine)
    stop = threading.Event()
    inserted = []

    def insert_meanwhile() -> None:
        i = 0
        while not stop.is_set() and i < 500:
            org = "acme" if i % 3 else "other"
            if org == "other" and i == 0:
                grant(engine, "other", 1, "o")
            debit(engine, [event(f"during-{i}", org, output_tokens=1, at=datetime.now(UTC))])
            inserted.append(i)
            i += 1

    writer = threading.Thread(target=insert_meanwhile)
    writer.start()
    seen: list[int] = []
    cursor = None
    try:
        while True:
            query = "limit=7" + (f"&cursor={cursor}" if cursor else "")
            page = api.get(f"/v1/organizations/acme/transactions?{query}").json
            seen.extend(row["id"] for row in page["data"])
            assert {row["id"] for row in page["data"]}.isdisjoint(seen[: -len(page["data"]) or None])
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
    finally:
        stop.set()
        join_all([writer], 60)
    assert inserted, "the writer inserted nothing while the pages were read"
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert set(existing) <= set(seen), "a row that existed before the walk was missed"
    assert seen == sorted(seen, reverse=True)


def _plan(connection, statement: str, params: list[object]) -> dict:  # type: ignore[no-untyped-def,type-arg]
    connection.execute(text("SET plan_cache_mode = force_generic_plan"))
    connection.execute(text("SET enable_seqscan = off"))
    connection.exec_driver_sql(f"PREPARE page AS {statement}")
    placeholders = ", ".join(f"'{p}'" for p in params)
    raw = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE page({placeholders})").scalar_one()
    return (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]  # type: ignore[no-any-return]


def _nodes(plan: dict) -> list[dict]:  # type: ignore[type-arg]
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


def test_a_deep_page_is_an_index_range_scan_starting_at_the_cursor_even_with_a_generic_plan(engine):
    statement = (
        transaction_page._SELECT.replace(":org", "$1")
        + transaction_page._FILTERS["before"].replace(":before", "$2")
        + " ORDER BY id DESC LIMIT $3"
    )
    with engine.connect() as c:
        plan = _plan(c, statement, ["acme", 123456, 51])
    scans = [n for n in _nodes(plan) if n.get("Index Name") == "credit_transactions_history"]
    assert scans, plan
    assert "id < $2" in scans[0]["Index Cond"] and "organization_id = $1" in scans[0]["Index Cond"]
    assert "Sort" not in {n["Node Type"] for n in _nodes(plan)}
