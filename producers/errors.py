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


class EventsRejected(PublishError):
    """Raised when the HTTP endpoint refused some events of a batch (the others were accepted):
    `rejected` holds, for each, its `event_id`, `type`, `field` and `error` as the server said."""

    def __init__(self, rejected: list[dict[str, object]]) -> None:
        first = rejected[0].get("error") if rejected else ""
        super().__init__(f"{len(rejected)} event(s) refused by the server, the first: {first}")
        self.rejected = rejected


class RequestRefused(PublishError):
    """Raised when the HTTP endpoint refused a whole request for good (a 4xx other than 429: a bad
    key, a body it cannot read); retrying the same request would not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class EndpointUnavailable(PublishError):
    """Raised when the HTTP endpoint could not be reached, or kept answering 5xx or 429, through
    every retry: the events of that request may not have been taken."""
