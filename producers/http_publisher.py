"""Publishing billing events over HTTP (`POST /v1/events` of the billing API), for runtimes that
cannot reach RabbitMQ. The same surface as the AMQP Publisher: `publish`, `publish_many`,
`publish_failure` append to a buffer; sender threads post batches of up to `max_batch` events
(a partial batch leaves after `linger_ms`), each on its own keep-alive connection, retrying
with backoff and jitter (producers/http_transport.py); `flush()` returns once the server has
taken every event published so far (202: published with confirms; 200: charged), or raises.

Memory is bounded: `publish` blocks while `max_pending` events are buffered or in flight.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from producers import routing
from producers.errors import ConfirmTimeout, PublisherClosed, PublishError
from producers.events import InteractionFailed, MessageCompleted, failure_payload, usage_payloads
from producers.http_transport import CONNECTION_ERRORS, HttpTransport, Reply, RetryPolicy, encode, transports

RequestObserver = Callable[[int, float], None]  # (events, seconds) of each request the server took
BufferKey = int | str  # a usage partition, or "refunds" for failure reports


def buffer_key(payload: dict[str, Any], partitions: int) -> BufferKey:
    """Batches hold the events of one usage partition (producers/routing.py), so that the API
    publishes each request as one message, as the AMQP Publisher packs them; failure reports
    have their own."""
    if "original_event_id" in payload:
        return "refunds"
    return routing.partition_of(payload["organization_id"], partitions)


class HttpPublisher:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        max_batch: int = 100,
        linger_ms: int = 20,
        concurrency: int = 2,
        partitions: int = routing.DEFAULT_PARTITIONS,
        max_pending: int = 10_000,
        max_retries: int = 10,
        timeout: float = 30.0,
        gzip: bool = True,
        on_request: RequestObserver | None = None,
    ) -> None:
        self._transports = transports(
            url,
            api_key,
            max_batch=max_batch,
            concurrency=concurrency,
            max_pending=max_pending,
            timeout=timeout,
            gzip=gzip,
        )
        self._policy = RetryPolicy(max_retries=max_retries)
        self._max_batch = max_batch
        self._partitions = partitions
        self._linger = max(linger_ms, 1) / 1000
        self._max_pending = max_pending
        self._on_request = on_request
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._buffers: dict[BufferKey, list[dict[str, Any]]] = {}
        self._buffer_started: dict[BufferKey, float] = {}
        self._ready: deque[list[dict[str, Any]]] = deque()
        self._pending = 0  # events buffered, ready or being sent
        self._failures: list[PublishError] = []
        self._closed = False
        self._threads = [
            threading.Thread(target=self._send_loop, args=(t,), name="billing-http-publisher", daemon=True)
            for t in self._transports
        ]
        for thread in self._threads:
            thread.start()

    # ---- the public API -------------------------------------------------------------------

    def publish(self, event: MessageCompleted) -> None:
        self._add(usage_payloads([event], "publish"))

    def publish_many(self, events: Iterable[MessageCompleted]) -> None:
        self._add(usage_payloads(events, "publish_many"))

    def publish_failure(self, event: InteractionFailed) -> None:
        self._add([failure_payload(event)])

    def flush(self, timeout: float = 60.0) -> None:
        """Block until the server has taken every event published so far, or raise the first
        failure (EventsRejected, RequestRefused, EndpointUnavailable) or ConfirmTimeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for key in list(self._buffers):
                self._pack(key)
            while self._pending and not self._failures and time.monotonic() < deadline:
                self._changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            if self._failures:
                failures, self._failures = self._failures, []
                raise failures[0]
            if self._pending:
                raise ConfirmTimeout(f"{self._pending} event(s) not taken by the server within {timeout} s")

    def close(self, timeout: float = 60.0) -> None:
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._shutdown()

    def __enter__(self) -> HttpPublisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._shutdown()

    # ---- publishing threads ---------------------------------------------------------------

    def _add(self, payloads: list[dict[str, Any]]) -> None:
        with self._lock:
            for payload in payloads:
                while self._pending >= self._max_pending and not self._closed:
                    self._changed.wait(0.5)  # back-pressure: the server is behind
                if self._closed:
                    raise PublisherClosed("the publisher is closed")
                key = buffer_key(payload, self._partitions)
                buffer = self._buffers.setdefault(key, [])
                if not buffer:
                    self._buffer_started[key] = time.monotonic()
                buffer.append(payload)
                self._pending += 1
                if len(buffer) >= self._max_batch:
                    self._pack(key)

    def _pack(self, key: BufferKey) -> None:
        """A buffer becomes a batch ready to send (lock held)."""
        buffer = self._buffers.pop(key, None)
        self._buffer_started.pop(key, None)
        if buffer:
            self._ready.append(buffer)
            self._changed.notify_all()

    # ---- sender threads -------------------------------------------------------------------

    def _next_batch(self) -> list[dict[str, Any]] | None:
        with self._lock:
            while not self._closed:
                if self._ready:
                    return self._ready.popleft()
                now = time.monotonic()
                lingered = [key for key, at in self._buffer_started.items() if now - at >= self._linger]
                for key in lingered:
                    self._pack(key)
                if not lingered:
                    self._changed.wait(self._linger if self._buffers else 0.5)
            return None

    def _send_loop(self, transport: HttpTransport) -> None:
        while (batch := self._next_batch()) is not None:
            error: PublishError | None = None
            for body, count in encode(batch):
                try:
                    self._send(transport, body, count)
                except PublishError as failure:
                    error = error or failure
            with self._lock:
                self._pending -= len(batch)
                if error is not None:
                    self._failures.append(error)
                self._changed.notify_all()
        transport.close()

    def _send(self, transport: HttpTransport, body: bytes, count: int) -> None:
        attempt = 0
        while True:
            started = time.perf_counter()
            reply: Reply | None = None
            failure: BaseException | None = None
            try:
                reply = transport.post(body)
            except CONNECTION_ERRORS as error:
                failure = error
            if reply is not None and reply.status < 300 and self._on_request is not None:
                self._on_request(count, time.perf_counter() - started)
            delay = self._policy.after(attempt, reply, failure)
            if delay is None:
                return
            time.sleep(delay)
            attempt += 1

    def _shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
