"""What the app holds for its lifetime (settings, engine, price cache, rate limiters, metrics, the
usage charger or publisher, payment providers, the clock), and the two
ways a view touches the database: a read (no writes, no transaction block), or a write in a unit
of work that commits (retried on deadlock)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar, cast

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from api.metrics import ApiMetrics
from api.ratelimit import FailureLimiter, Network, RateLimiter
from billing_core.db.uow import committed
from billing_core.pricing.catalog import CatalogCache
from billing_core.settings import Settings
from billing_core.subscriptions.payment_port import PaymentProvider
from billing_core.usage.charging import UsageCharger
from billing_core.usage.publishing import EventPublisher

T = TypeVar("T")
EXTENSION = "billing"
_CONNECTION = "billing_read_connection"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    catalogs: CatalogCache
    limiter: RateLimiter
    metrics: ApiMetrics
    charger: UsageCharger  # ingestion without a broker: charged in the request
    publisher: EventPublisher | None = None  # ingestion with a broker: published with confirms
    payments: Mapping[str, PaymentProvider] = field(default_factory=dict)  # configured providers by name
    failures: FailureLimiter = field(default_factory=lambda: FailureLimiter(20))
    proxies: tuple[Network, ...] = ()  # TRUSTED_PROXIES
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # tests move time
    console_secret: bytes | None = None  # read from the database at first use (console_secrets)


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[EXTENSION])


def now() -> datetime:
    """The time a request acts at (UTC)."""
    return runtime().clock()


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
    return committed(runtime().engine, work)
