"""The unit of work: the one place that owns a transaction. It rolls back unless told to commit."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import psycopg.errors
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from billing_core.errors import RetryableConflict

T = TypeVar("T")

# Deadlocks and serialization failures are transient by nature: run the transaction again.
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class UnitOfWork:
    """`with UnitOfWork(engine) as uow: ...; uow.commit()` — anything not committed is rolled back."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._committed = False

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open")
        return self._connection

    def __enter__(self) -> UnitOfWork:
        self._connection = self._engine.connect()
        self._connection.begin()
        self._committed = False
        return self

    def commit(self) -> None:
        self.connection.commit()
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()


def is_transient(error: BaseException) -> bool:
    """Deadlocks, serialization failures, lost races, and a connection the server dropped (the pool
    then discards its other connections of that time: the next attempt gets a fresh one)."""
    if isinstance(error, RetryableConflict):
        return True
    return isinstance(error, DBAPIError) and (
        isinstance(error.orig, _TRANSIENT) or error.connection_invalidated
    )


def run_in_transaction(engine: Engine, work: Callable[[UnitOfWork], T], *, attempts: int = 8) -> T:
    """Run `work` in a fresh unit of work, again on a deadlock or serialization failure. `work`
    commits (uow.commit()) or everything it did is rolled back."""
    for attempt in range(1, attempts + 1):
        try:
            with UnitOfWork(engine) as uow:
                return work(uow)
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
    raise AssertionError("unreachable")


def committed(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """The one way to run a write: `work(connection)` in a transaction committed when it returns,
    run again from the start on a transient failure; an exception rolls everything back."""

    def run(uow: UnitOfWork) -> T:
        value = work(uow.connection)
        uow.commit()
        return value

    return run_in_transaction(engine, run, attempts=attempts)


def read_only(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work(connection)` with no transaction block (autocommit: each statement its own
    snapshot, no BEGIN/ROLLBACK round trips); for reads only."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return work(connection)
