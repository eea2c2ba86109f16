"""The unit of work owns every transaction: what is not committed is rolled back, an exception rolls
back, and a deadlock is run again from the start (real PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection, Engine, text

from billing_core.db.uow import UnitOfWork, committed, read_only, run_in_transaction
from tests.support.ledger import create_org
from tests.support.pipeline import join_all


def names(engine: Engine) -> list[str]:
    return read_only(
        engine, lambda c: [r[0] for r in c.execute(text("SELECT name FROM organizations ORDER BY id"))]
    )


def rename(connection: Connection, org: str, name: str) -> None:
    connection.execute(text("UPDATE organizations SET name = :n WHERE id = :o"), {"n": name, "o": org})


def test_work_that_is_not_committed_is_rolled_back(engine):
    create_org(engine, "acme")
    with UnitOfWork(engine) as uow:
        rename(uow.connection, "acme", "changed")
    assert names(engine) == ["acme"]


def test_an_exception_rolls_back_everything_the_work_did(engine):
    create_org(engine, "acme")

    def work(connection: Connection) -> None:
        rename(connection, "acme", "changed")
        raise ValueError("halfway")

    with pytest.raises(ValueError, match="halfway"):
        committed(engine, work)
    assert names(engine) == ["acme"]


def test_committed_work_stays(engine):
    create_org(engine, "acme")
    committed(engine, lambda c: rename(c, "acme", "changed"))
    assert names(engine) == ["changed"]


def test_a_deadlock_is_run_again_from_the_start_and_both_sides_commit(engine):
    """Two transactions lock two rows in opposite orders: PostgreSQL kills one with a deadlock, and
    run_in_transaction runs it again, so both renames land."""
    create_org(engine, "a")
    create_org(engine, "b")
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"x": 0, "y": 0}

    def crossing(name: str, first: str, second: str) -> None:
        def work(uow: UnitOfWork) -> None:
            attempts[name] += 1
            rename(uow.connection, first, f"{name}-{attempts[name]}")
            if attempts[name] == 1:
                both_hold_one.wait()  # only the first attempts cross; a rerun finds no one waiting
            rename(uow.connection, second, f"{name}-{attempts[name]}")
            uow.commit()

        run_in_transaction(engine, work)

    threads = [
        threading.Thread(target=crossing, args=("x", "a", "b")),
        threading.Thread(target=crossing, args=("y", "b", "a")),
    ]
    for t in threads:
        t.start()
    join_all(threads, 30)
    # A victim was rerun (its rerun may race the survivor into a second deadlock: then both are).
    assert max(attempts.values()) >= 2, attempts
    final = names(engine)
    # Both rows hold the names of one complete attempt: the one that committed last.
    assert final[0] == final[1] and final[0] in {f"{n}-{k}" for n, k in attempts.items()}, final
