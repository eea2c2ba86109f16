"""The library agent runtimes install to publish billing events: to RabbitMQ (`Publisher`), or
over HTTP to the billing API (`HttpPublisher`, and `AsyncHttpPublisher` for asyncio runtimes).

    from producers import Publisher, HttpPublisher, MessageCompleted, PublishError

It depends on pika and the standard library only (`pip install ./producers`).
"""

from producers.async_http_publisher import AsyncHttpPublisher
from producers.errors import (
    BrokerUnavailable,
    ConfirmTimeout,
    EndpointUnavailable,
    EventsRejected,
    PublisherClosed,
    PublishError,
    PublishNacked,
    RequestRefused,
    Unroutable,
)
from producers.events import InteractionFailed, MessageCompleted
from producers.http_publisher import HttpPublisher
from producers.publisher import Publisher

__all__ = [
    "AsyncHttpPublisher",
    "BrokerUnavailable",
    "ConfirmTimeout",
    "EndpointUnavailable",
    "EventsRejected",
    "HttpPublisher",
    "InteractionFailed",
    "MessageCompleted",
    "PublishError",
    "PublishNacked",
    "Publisher",
    "PublisherClosed",
    "RequestRefused",
    "Unroutable",
]
