"""What can go wrong when publishing; every error is a PublishError."""

from __future__ import annotations


class PublishError(Exception):
    """Base class: events published since the last successful flush may not have reached the broker."""


class BrokerUnavailable(PublishError):
    """Raised when the broker cannot be reached (or reached again) within the reconnect budget."""


class Unroutable(PublishError):
    """Raised when the broker returned a message because no queue is bound (no worker declared it)."""

    def __init__(self, queue: str, count: int) -> None:
        super().__init__(f"{count} message(s) to queue {queue!r} were unroutable: is the queue declared?")
        self.queue = queue
        self.count = count


class PublishNacked(PublishError):
    """Raised when the broker refused (nacked) a message it could not store."""


class ConfirmTimeout(PublishError):
    """Raised when the broker has not confirmed every published message within the timeout."""


class PublisherClosed(PublishError):
    """Raised when publishing on a publisher that was closed."""
