"""The port through which a process that is not a worker (the HTTP API) hands events to the
broker: `producers.Publisher` implements it (publish_confirmed), and the composition root
(billing_cli) passes one in, so the API itself imports neither the producer library nor pika."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class EventPublisher(Protocol):
    def publish_confirmed(
        self,
        usage: Sequence[Mapping[str, Any]],
        failures: Sequence[Mapping[str, Any]] = (),
        *,
        timeout: float = 30.0,
    ) -> None:
        """Publish wire events (docs/events.md): usage to its organization's partition queue,
        failure reports to the refunds queue, persistent and mandatory; return only once the
        broker has confirmed every one of them, else raise (nothing is then known to be durable)."""
        ...
