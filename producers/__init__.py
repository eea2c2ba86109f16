"""The library agent runtimes install to publish billing events to RabbitMQ.

    from producers import Publisher, MessageCompleted, PublishError

It depends on pika and the standard library only.
"""

from producers.errors import (
    BrokerUnavailable,
    ConfirmTimeout,
    PublisherClosed,
    PublishError,
    PublishNacked,
    Unroutable,
)
from producers.events import InteractionFailed, MessageCompleted
from producers.publisher import Publisher

__all__ = [
    "BrokerUnavailable",
    "ConfirmTimeout",
    "InteractionFailed",
    "MessageCompleted",
    "PublishError",
    "PublishNacked",
    "Publisher",
    "PublisherClosed",
    "Unroutable",
]
