"""Helpers for pipeline tests: build events, wait for the ledger to hold them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from producers import MessageCompleted

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def completed(
    event_id: str, org: str = "acme", *, output_tokens: int = 1, model: str = "unit-model", **extra
) -> MessageCompleted:  # type: ignore[no-untyped-def]
    """With the test prices, a unit-model event costs `output_tokens` credits."""
    return MessageCompleted(
        event_id=event_id,
        organization_id=org,
        agent_id="agent-1",
        model=model,
        input_tokens=0,
        output_tokens=output_tokens,
        occurred_at=AT,
        **extra,
    )


def scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as c:
        return int(c.execute(text(sql), params).scalar_one())


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def usage_rows(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'")


def rejected(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as c:
        return [
            (r, e) for r, e in c.execute(text("SELECT reason, event_id FROM rejected_events ORDER BY id"))
        ]


def publish_raw(broker_url: str, queue: str, body: bytes) -> None:
    """Publish bytes as any producer could: persistent, mandatory, confirmed."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
    finally:
        connection.close()
