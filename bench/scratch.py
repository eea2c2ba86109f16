"""A scratch database and queue prefix for one benchmark run, removed afterwards, and the prices
the benchmarks charge with."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pika
import psycopg
from sqlalchemy import Connection, make_url

from billing_core.pricing.catalog import NewModelPrice, add_model_prices, add_tool_price
from billing_core.settings import Settings
from producers.routing import DEFAULT_PARTITIONS
from workers.broker import every_queue


def seed_bench_prices(connection: Connection) -> None:
    """The models and tool the benchmarks' events use, in effect since 2000."""
    at = datetime(2000, 1, 1, tzinfo=UTC)
    add_model_prices(
        connection,
        [
            NewModelPrice("gpt-4o", Decimal(250), Decimal(1000), Decimal(125), at),
            NewModelPrice("gpt-4o-mini", Decimal(15), Decimal(60), Decimal("7.5"), at),
            NewModelPrice("claude-sonnet", Decimal(300), Decimal(1500), Decimal(30), at),
        ],
    )
    add_tool_price(connection, "web_search", Decimal(1), at)


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Create a database on the server of `server_url`; yield its URL; drop it afterwards."""
    url = make_url(server_url).set(drivername="postgresql")
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    name = f"billing_bench_{int(time.time())}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_queues(broker_url: str, partitions: int = DEFAULT_PARTITIONS) -> Iterator[str]:
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    try:
        yield prefix
    finally:
        delete_queues(
            broker_url, Settings.model_validate({"queue_prefix": prefix, "usage_partitions": partitions})
        )


def delete_queues(broker_url: str, settings: Settings) -> None:
    """Delete every queue of a deployment's prefix (a scratch run's, a test's)."""
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        for name in every_queue(settings):
            channel.queue_delete(name)
    finally:
        connection.close()


def wait_for_queue(broker_url: str, queue: str, timeout: float = 60) -> None:
    """Return once a worker has declared `queue`; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
        try:
            connection.channel().queue_declare(queue, passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.2)
        finally:
            if connection.is_open:
                connection.close()
    raise TimeoutError(f"no worker declared {queue} within {timeout} s")
