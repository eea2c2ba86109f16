"""The one place that builds the broker and names its queues.

Usage is partitioned: `<prefix>usage.<p>` for p in 0..USAGE_PARTITIONS-1 (producers/routing.py),
each with a single active consumer, so one worker process at a time commits an organization's
debits. The other kinds of work have one queue each. Dramatiq declares `<q>.DQ` (delayed retries)
and `<q>.XQ` (dead letters) beside every queue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pika.exceptions
from dramatiq import Broker
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker, _RabbitmqConsumer
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import ConnectionClosed

from billing_core.settings import Settings
from producers import routing

KINDS = ("usage", "refunds", "grants", "webhooks", "notifications", "purchases")


def queue(settings: Settings, name: str) -> str:
    return f"{settings.queue_prefix}{name}"


def usage_queue(settings: Settings, partition: int) -> str:
    return queue(settings, routing.usage_queue(partition))


def usage_queues(settings: Settings, partitions: Iterable[int] | None = None) -> list[str]:
    chosen = range(settings.usage_partitions) if partitions is None else partitions
    return [usage_queue(settings, p) for p in chosen]


def every_queue(settings: Settings) -> list[str]:
    """Every queue a deployment's workers declare, delayed and dead-letter queues included."""
    names = usage_queues(settings) + [queue(settings, kind) for kind in KINDS if kind != "usage"]
    return [name + suffix for name in names for suffix in ("", ".DQ", ".XQ")]


def kind_of(settings: Settings, queue_name: str) -> str:
    """The kind of work a queue holds: `usage` for every partition, else the queue's own name."""
    name = queue_name.removeprefix(settings.queue_prefix)
    for suffix in (".DQ", ".XQ"):
        name = name.removesuffix(suffix)
    base, _, partition = name.rpartition(".")
    return base if base == routing.USAGE_QUEUE and partition.isdigit() else name


class CoalescingConsumer(_RabbitmqConsumer):
    """Dramatiq's consumer, with acknowledgements sent in bursts: a group commit finishes dozens of
    messages at once, and acking each one wakes the consumer's connection and sends a frame per
    message. Here one wake-up sends one `multiple` ack for the finished deliveries below the oldest
    unfinished one, and single acks for the rest. `_unfinished` is only touched on the consumer's
    own thread, so a multiple ack never covers a delivery still in progress or about to be nacked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._unfinished: set[int] = set()
        self._finished: set[int] = set()
        self._ack_lock = threading.Lock()
        self._flush_scheduled = False

    def __next__(self) -> Any:
        message = super().__next__()  # type: ignore[no-untyped-call]
        if message is not None:
            self._unfinished.add(message._tag)
        return message

    def ack(self, message: Any) -> None:
        with self._ack_lock:
            if message._tag not in self.known_tags:
                self.logger.warning("Failed to ack message: not in known tags.")
                return
            self.known_tags.discard(message._tag)
            self._finished.add(message._tag)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            self.connection.add_callback_threadsafe(self._send_acks)
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as error:
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]

    def _send_acks(self) -> None:
        with self._ack_lock:
            tags, self._finished = self._finished, set()
            self._flush_scheduled = False
        self._unfinished -= tags
        floor = min(self._unfinished, default=None)
        below = [t for t in tags if floor is None or t < floor]
        if below:
            self.channel.basic_ack(max(below), multiple=True)
        for tag in tags.difference(below):
            self.channel.basic_ack(tag)

    def _nack(self, tag: int) -> None:
        def send() -> None:
            self.channel.basic_nack(tag, requeue=False)
            self._unfinished.discard(tag)

        self.connection.add_callback_threadsafe(send)


class BillingRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker with single active consumers on the usage partitions and, when
    configured, quorum queues (whose delivery limit then dead-letters a message that keeps
    killing its consumer: it lands in `<q>.XQ` and is parked from there)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(url=settings.broker_url, confirm_delivery=True)
        self._prefix = settings.queue_prefix
        self._quorum = settings.broker_queue_type == "quorum"
        self._delivery_limit = settings.poison_redeliveries

    def _is_partition(self, queue_name: str) -> bool:
        base, _, partition = queue_name.removeprefix(self._prefix).rpartition(".")
        return base == routing.USAGE_QUEUE and partition.isdigit()

    def _typed(self, arguments: dict[str, Any], *, dead_letters: bool = True) -> dict[str, Any]:
        if not self._quorum:
            return arguments
        typed = {**arguments, "x-queue-type": "quorum"}
        if dead_letters:
            typed |= {
                "x-delivery-limit": self._delivery_limit,
                "x-dead-letter-strategy": "at-least-once",  # a dead letter is never dropped on the way
                "x-overflow": "reject-publish",  # which at-least-once dead-lettering requires
            }
        return typed

    @property
    def consumer_class(self) -> type[CoalescingConsumer]:
        return CoalescingConsumer

    def _dead_lettered(self, queue_name: str) -> dict[str, Any]:
        """Dramatiq's own arguments: what is rejected goes to `<q>.XQ`."""
        return {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue_name)}

    def _declare_queue(self, queue_name: str) -> Any:
        arguments = self._typed(self._dead_lettered(queue_name))
        if self._is_partition(queue_name):
            arguments["x-single-active-consumer"] = True
        return self.channel.queue_declare(queue=queue_name, durable=True, arguments=arguments)

    def _declare_dq_queue(self, queue_name: str) -> Any:
        arguments = self._typed(self._dead_lettered(queue_name))
        return self.channel.queue_declare(queue=dq_name(queue_name), durable=True, arguments=arguments)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        arguments = self._typed({"x-message-ttl": DEAD_MESSAGE_TTL}, dead_letters=False)
        return self.channel.queue_declare(queue=xq_name(queue_name), durable=True, arguments=arguments)


def build_broker(settings: Settings) -> Broker:
    """RabbitMQ when BROKER_URL is set, otherwise an in-process broker (the embedded run)."""
    if settings.broker_url:
        return BillingRabbitmqBroker(settings)
    broker = StubBroker()
    broker.emit_after("process_boot")
    return broker
