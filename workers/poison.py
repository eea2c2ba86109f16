"""Detect a message that keeps killing its worker: Dramatiq does not count crash redeliveries
against max_retries, so RabbitMQ's `redelivered` flag is counted in Postgres instead."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from billing_core.db.uow import committed
from billing_core.usage import rejections
from billing_core.usage.redeliveries import count_redelivery
from workers.broker import kind_of
from workers.runtime import WorkerRuntime


class PoisonMessageGuard(Middleware):
    """Park a message (as a rejected event) once it has been redelivered `limit` times."""

    def __init__(self, runtime: WorkerRuntime, limit: int = 5) -> None:
        self.runtime = runtime
        self.limit = limit

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if not getattr(message, "redelivered", False):
            return  # the normal path costs nothing

        count = committed(
            self.runtime.engine, lambda c: count_redelivery(c, message.message_id, message.queue_name)
        )
        if count >= self.limit:
            self.runtime.parked_message(
                kind=kind_of(self.runtime.settings, message.queue_name),
                reason=rejections.POISON,
                payload=message.asdict(),
                detail=f"redelivered {count} times after worker crashes; not processed",
            )
            raise SkipMessage(f"poison message {message.message_id}")
