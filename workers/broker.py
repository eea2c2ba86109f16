"""The one place that builds the broker and names its queues.

Usage is partitioned: `<prefix>usage.<p>` for p in 0..USAGE_PARTITIONS-1 (producers/routing.py),
each with a single active consumer, so one worker process at a time commits an organization's
debits. The other kinds of work have one queue each. Dramatiq declares `<q>.DQ` (delayed retries)
and `<q>.XQ` (dead letters) beside every queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dramatiq import Broker
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, xq_name

from billing_core.settings import Settings
from producers import routing

KINDS = ("usage", "refunds", "grants", "webhooks")


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
