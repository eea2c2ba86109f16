"""The one place that builds the broker: RabbitMQ with publisher confirms, or in-process."""

from __future__ import annotations

from dramatiq import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker

from billing_core.settings import Settings

QUEUES = ("usage", "refunds", "grants", "webhooks")


def queue(settings: Settings, name: str) -> str:
    return f"{settings.queue_prefix}{name}"


def build_broker(settings: Settings) -> Broker:
    """RabbitMQ when BROKER_URL is set, otherwise an in-process broker (the embedded run)."""
    if settings.broker_url:
        return RabbitmqBroker(url=settings.broker_url, confirm_delivery=True)
    broker = StubBroker()
    broker.emit_after("process_boot")
    return broker
