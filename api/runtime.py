"""What the app holds for its lifetime (settings, engine, price cache, rate limiter, payment
providers), and the two
ways a view touches the database: a read (no writes, no transaction block), or a write in a unit
of work that commits (retried on deadlock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, cast

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from api.ratelimit import RateLimiter
from billing_core.db.uow import UnitOfWork, run_in_transaction
from billing_core.pricing.catalog import load_catalog
from billing_core.pricing.rules import PriceCatalog
from billing_core.settings import Settings
from billing_core.subscriptions.payment_port import PaymentProvider

T = TypeVar("T")
EXTENSION = "billing"
_CONNECTION = "billing_read_connection"


class PriceCache:
    """The price catalog, reloaded when older than `max_age` seconds or when asked for a fresh one."""

    def __init__(self, max_age: float = 30.0) -> None:
        self._max_age = max_age
        self._catalog: PriceCatalog | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, connection: Connection, *, fresh: bool = False) -> PriceCatalog:
        with self._lock:
            if self._catalog is None or fresh or time.monotonic() - self._loaded_at > self._max_age:
                self._catalog = load_catalog(connection)
                self._loaded_at = time.monotonic()
            return self._catalog


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    catalogs: PriceCache
    limiter: RateLimiter
    payments: Mapping[str, PaymentProvider] = field(default_factory=dict)  # configured providers by name


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[EXTENSION])


def read(work: Callable[[Connection], T]) -> T:
    """Run `work` without a transaction block (autocommit): each statement sees its own snapshot
    and no BEGIN/ROLLBACK round trips are paid. Views that need one snapshot use one statement.

    A request's reads share one pooled connection (taken at the first read, given back when the
    request ends). The pool does not ping on checkout: if the server dropped the connection, the
    read fails once, the pool discards its stale connections, and the read runs again."""
    try:
        return work(_request_connection())
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        _release_request_connection()
        return work(_request_connection())


def _request_connection() -> Connection:
    connection = g.get(_CONNECTION)
    if connection is None:
        connection = runtime().engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        setattr(g, _CONNECTION, connection)
    return cast(Connection, connection)


def _release_request_connection(error: BaseException | None = None) -> None:
    connection = g.pop(_CONNECTION, None)
    if connection is not None:
        connection.close()


def release_at_teardown(app: Flask) -> None:
    app.teardown_appcontext(_release_request_connection)


def write(work: Callable[[Connection], T]) -> T:
    """Run `work` in a transaction that commits when it returns; run again on a deadlock."""

    def committed(uow: UnitOfWork) -> T:
        value = work(uow.connection)
        uow.commit()
        return value

    return run_in_transaction(runtime().engine, committed)
