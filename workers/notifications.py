"""Sending notifications: the outbound side of billing_core/notifications.

- `NotificationDispatcher`: a thread of each process that consumes the `notifications` queue. Every
  second it leases the deliveries that are due (committed first) and enqueues one job each.
- `deliver`: the job. In one transaction it claims the delivery (locked: a duplicate job waits and
  then finds it done), sends it, logs the attempt and schedules the next one on failure.
- `post`: one signed HTTP POST (Standard Webhooks headers, signed with svix), 10 s timeout, no
  redirect followed, the response body kept truncated in the log. The host is resolved and checked
  now (billing_core/notifications/urls.py), and the request goes to the address that was checked,
  so a name that resolves elsewhere a moment later (DNS rebinding) is never reached.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine
from svix.webhooks import Webhook

from billing_core.db.uow import committed
from billing_core.errors import InvalidInput
from billing_core.notifications.deliveries import (
    AttemptOutcome,
    DeliveryJob,
    claim,
    lease_due,
    record_attempt,
)
from billing_core.notifications.urls import parse_endpoint_url, resolve_allowed
from billing_core.settings import Settings

log = logging.getLogger("billing.notifications")
TIMEOUT_S = 10.0
EXCERPT = 500  # characters of a response body kept in the attempt log


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with the certificate checked for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def signed_headers(job: DeliveryJob, at: datetime) -> dict[str, str]:
    msg_id = f"msg_{job.event_id}"  # the same for every attempt: receivers deduplicate on it
    return {
        "content-type": "application/json",
        "user-agent": "agent-credit-billing-notifications/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(job.secret).sign(msg_id, at, job.body),
    }


def post(job: DeliveryJob, *, allow_private: bool) -> AttemptOutcome:
    started = time.monotonic()

    def outcome(code: int | None, error: str | None = None, excerpt: str | None = None) -> AttemptOutcome:
        return AttemptOutcome(code, int((time.monotonic() - started) * 1000), error, excerpt)

    try:
        scheme, host, port = parse_endpoint_url(job.url, allow_private=allow_private)
        address = resolve_allowed(host, port, allow_private=allow_private)
    except InvalidInput as refused:
        return outcome(None, f"not sent: {refused}")
    parts = urlsplit(job.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, address, port, TIMEOUT_S)
    try:
        connection.request(
            "POST", target, body=job.body.encode(), headers=signed_headers(job, datetime.now(UTC))
        )
        response = connection.getresponse()  # a 3xx is an answer like any other: never followed
        excerpt = response.read(EXCERPT * 4).decode("utf-8", errors="replace")[:EXCERPT]
        return outcome(
            response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}", excerpt
        )
    except (OSError, http.client.HTTPException) as error:
        return outcome(None, f"{type(error).__name__}: {error}"[:300])
    finally:
        connection.close()


def deliver(engine: Engine, settings: Settings, delivery_id: int) -> str | None:
    """Attempt one delivery; its status afterwards, or None if it was not pending (done already)."""
    disable_after = timedelta(days=settings.notification_disable_after_days)

    def work(connection: Connection) -> str | None:
        job = claim(connection, delivery_id)
        if job is None:
            return None
        result = post(job, allow_private=settings.notifications_allow_private)
        log.info(
            "notification %s to endpoint %d: %s in %d ms",
            job.event_type,
            job.endpoint_id,
            result.status_code or result.error,
            result.latency_ms,
        )
        return record_attempt(connection, job, result, datetime.now(UTC), disable_after=disable_after)

    return committed(engine, work)


class NotificationDispatcher(threading.Thread):
    """Lease due deliveries every `interval` seconds and enqueue a job for each (after the commit)."""

    def __init__(
        self, engine: Callable[[], Engine], enqueue: Callable[[int], object], interval: float
    ) -> None:
        super().__init__(name="billing-notifications", daemon=True)
        self._engine = engine
        self._enqueue = enqueue
        self._interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self._interval):
            try:
                self.dispatch()
            except Exception:  # the database or broker is away: the lease brings the rest back
                log.warning("notification dispatch failed; retrying", exc_info=True)

    def dispatch(self) -> int:
        due = committed(self._engine(), lambda c: lease_due(c, datetime.now(UTC)))
        for delivery_id in due:
            self._enqueue(delivery_id)
        return len(due)

    def stop(self) -> None:
        self.stopped.set()
