"""Nothing dead-lettered is lost: every message that leaves a queue unprocessed is parked as a
replayable rejected event.

Every dead letter is parked exactly once, by one of two:
- Dramatiq gives up on a message (retries exhausted, no such actor) and nacks it: `ParkOnNack`
  parks it, committed before the nack, with what Dramatiq knows (retries, last error).
- What reaches `<q>.XQ` without passing through Dramatiq's middleware: a quorum queue's delivery
  limit dropping a message that keeps killing its consumer, and a body Dramatiq cannot decode.
  `DeadLetterSweeper` parks those from there; the other dead letters it finds were parked at their
  nack and are only acknowledged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import dramatiq
import pika
from dramatiq.common import xq_name
from dramatiq.errors import DecodeError
from dramatiq.middleware import Middleware

from billing_core.usage import rejections
from workers.broker import kind_of
from workers.runtime import WorkerRuntime

log = logging.getLogger("billing.workers")


class ParkOnNack(Middleware):
    """Park a message Dramatiq is about to dead-letter."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def before_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        options = message.options
        error = getattr(message, "_exception", None)
        if "retries" in options:
            reason = rejections.RETRIES_EXHAUSTED
            detail = (
                f"failed {options['retries']} times; last error: {str(options.get('traceback', ''))[-500:]}"
            )
        else:
            reason = rejections.DEAD_LETTERED
            detail = f"not processed: {type(error).__name__ if error else 'rejected'}: {error}"[:500]
        self.runtime.parked_message(
            kind=kind_of(self.runtime.settings, message.queue_name),
            reason=reason,
            payload=message.asdict(),
            detail=detail,
        )


def _death_reason(properties: pika.BasicProperties) -> str:
    deaths = (properties.headers or {}).get("x-death") or [{}]
    reason = deaths[0].get("reason", "")
    return reason.decode() if isinstance(reason, bytes) else str(reason)


class DeadLetterSweeper(threading.Thread):
    """Every `interval` seconds, park what the broker dead-lettered from these queues."""

    def __init__(self, runtime: WorkerRuntime, queue_names: Sequence[str], interval: float) -> None:
        super().__init__(name="billing-dead-letters", daemon=True)
        self.runtime = runtime
        self.queue_names = list(queue_names)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # the broker or database is away: the next sweep tries again
                log.warning("dead-letter sweep failed; retrying in %.0f s", self.interval, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()

    def sweep(self) -> int:
        """Park every broker-dead-lettered message waiting now; returns how many were parked."""
        assert self.runtime.settings.broker_url
        urls = self.runtime.settings.broker_url.split(";")  # a cluster: tried in turn, as Dramatiq does
        connection = pika.BlockingConnection([pika.URLParameters(url) for url in urls])
        parked = 0
        try:
            channel = connection.channel()
            for name in self.queue_names:
                while True:
                    method, properties, body = channel.basic_get(xq_name(name))
                    if method is None:
                        break
                    rejection = self._rejection(name, properties, body)
                    if rejection is not None:
                        self.runtime.park(rejection)
                        parked += 1
                    channel.basic_ack(method.delivery_tag)  # after the park committed
        finally:
            if connection.is_open:
                connection.close()
        return parked

    def _rejection(
        self, queue_name: str, properties: pika.BasicProperties, body: bytes
    ) -> rejections.Rejection | None:
        """The rejection a dead letter stands for, or None if ParkOnNack recorded it already."""
        kind = kind_of(self.runtime.settings, queue_name)
        try:
            message = dramatiq.Message.decode(body)
        except DecodeError:
            return rejections.Rejection.of_message(
                kind,
                body.decode("utf-8", errors="replace"),
                rejections.MALFORMED,
                "not a Dramatiq message (undecodable JSON envelope); not processed",
                id_field="message_id",
            )
        if _death_reason(properties) != "delivery_limit":
            return None
        limit = self.runtime.settings.poison_redeliveries
        return rejections.Rejection(
            kind=kind,
            reason=rejections.POISON,
            payload=message.asdict(),
            detail=f"delivered more than {limit} times without an acknowledgement (the queue's delivery "
            "limit): it keeps stopping its worker; not processed",
        )
