"""HttpPublisher and AsyncHttpPublisher against the real API served by waitress (no broker:
events are charged in the request), and their retry rules."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from api.app import create_app
from billing_cli.api_commands import ApiServer, start_server
from billing_core.settings import Settings
from producers import (
    AsyncHttpPublisher,
    EndpointUnavailable,
    EventsRejected,
    HttpPublisher,
    InteractionFailed,
    RequestRefused,
)
from tests.support.api import ADMIN
from tests.support.ledger import create_org, grant, setup_prices
from tests.support.pipeline import completed, scalar, usage_rows
from tests.support.processes import free_port
from tests.support.servers import BROKER_URL

T = TypeVar("T")


def run_in_own_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run(main()) on a thread of its own: the browser tests' driver may hold an event
    loop running in the main thread for the rest of the session."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(asyncio.run(main()))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results[0]


def serve(database_url: str, engine: Engine, **settings: Any) -> ApiServer:
    config = {"database_url": database_url, "admin_token": ADMIN, **settings}
    return start_server(create_app(Settings(**config), engine=engine), host="127.0.0.1", port=0, threads=4)


@pytest.fixture
def api_url(database_url: str, engine: Engine) -> Iterator[str]:
    setup_prices(engine)
    for org in ("acme", "globex"):
        create_org(engine, org)
        grant(engine, org, 10_000, f"{org}-g")
    server = serve(database_url, engine)
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_the_http_publisher_batches_and_every_event_is_charged_once(api_url, engine):
    seen: list[int] = []
    events = [completed(f"h{i}", org=("acme", "globex")[i % 2]) for i in range(1050)]
    with HttpPublisher(
        api_url, ADMIN, max_batch=100, concurrency=3, on_request=lambda n, s: seen.append(n)
    ) as p:
        p.publish_many(events[:1000])
        for event in events[1000:]:
            p.publish(event)
        p.flush()
        p.publish_many(events[:10])  # again: duplicates, charged nothing more
    assert usage_rows(engine) == 1050
    assert sum(seen) == 1060 and max(seen) <= 100


def test_a_failure_report_over_http_refunds_its_interaction(api_url, engine):
    with HttpPublisher(api_url, ADMIN) as publisher:
        publisher.publish(completed("paid", output_tokens=7))
        publisher.flush()
        publisher.publish_failure(
            InteractionFailed(event_id="f", original_event_id="paid", organization_id="acme", reason="cut")
        )
    assert scalar(engine, "SELECT count(*) FROM credit_transactions WHERE type = 'refund'") == 1


def test_refused_events_raise_with_the_per_event_errors_and_the_others_are_charged(api_url, engine):
    publisher = HttpPublisher(api_url, ADMIN, max_retries=0)
    publisher.publish_many([completed("fine"), completed("no-price", model="gpt-9")])
    with pytest.raises(EventsRejected) as refused:
        publisher.flush()
    assert [(r["event_id"], r["type"]) for r in refused.value.rejected] == [("no-price", "unknown_model")]
    publisher.close()
    assert usage_rows(engine) == 1


def test_a_bad_key_is_refused_for_good_without_retrying(api_url):
    with pytest.raises(RequestRefused) as refused, HttpPublisher(api_url, "bk_live_nope_nope") as publisher:
        publisher.publish(completed("x"))
    assert refused.value.status == 401


def test_5xx_is_retried_with_backoff_until_the_retries_are_spent(database_url, engine):
    server = serve(database_url, engine, broker_url=BROKER_URL)  # a broker but no publisher: 503
    try:
        publisher = HttpPublisher(f"http://127.0.0.1:{server.port}", ADMIN, max_retries=2)
        publisher.publish(completed("x"))
        with pytest.raises(EndpointUnavailable, match="3 attempts"):
            publisher.flush()
        publisher.close()
    finally:
        server.stop()


def test_429_is_retried_after_retry_after_and_every_event_lands(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    server = serve(database_url, engine, api_rate_limit_per_second=2, api_rate_limit_burst=1)
    try:
        with HttpPublisher(
            f"http://127.0.0.1:{server.port}", ADMIN, max_batch=10, concurrency=2
        ) as publisher:
            publisher.publish_many([completed(f"r{i}") for i in range(40)])
    finally:
        server.stop()
    assert usage_rows(engine) == 40


def test_connection_errors_are_retried_until_the_server_is_back(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    port = free_port()
    publisher = HttpPublisher(f"http://127.0.0.1:{port}", ADMIN, max_retries=20)
    publisher.publish(completed("late"))
    server = None
    try:
        time.sleep(0.5)  # the first attempts find nothing listening
        config = {"database_url": database_url, "admin_token": ADMIN}
        server = start_server(create_app(Settings(**config), engine=engine), host="127.0.0.1", port=port)
        publisher.close()
    finally:
        if server is not None:
            server.stop()
    assert usage_rows(engine) == 1


def test_the_asyncio_publisher_never_blocks_the_loop_and_lands_every_event(api_url, engine):
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        clock = asyncio.create_task(ticker())
        async with AsyncHttpPublisher(
            api_url, ADMIN, max_batch=50, concurrency=2, max_pending=100
        ) as publisher:
            for i in range(500):
                await publisher.publish(completed(f"a{i}"))
            await publisher.publish_failure(
                InteractionFailed(event_id="af", original_event_id="a0", organization_id="acme", reason="cut")
            )
            await publisher.flush()
        clock.cancel()
        return ticks

    assert run_in_own_loop(main) > 0
    assert usage_rows(engine) == 500
    assert scalar(engine, "SELECT count(*) FROM credit_transactions WHERE type = 'refund'") == 1


def test_the_asyncio_publisher_raises_refused_events(api_url, engine):
    async def main() -> None:
        publisher = AsyncHttpPublisher(api_url, ADMIN, max_retries=0)
        await publisher.publish(completed("ok"))
        await publisher.publish(completed("nobody", org="ghost"))
        with pytest.raises(EventsRejected):
            await publisher.flush()
        await publisher.close()

    run_in_own_loop(main)
    assert usage_rows(engine) == 1
