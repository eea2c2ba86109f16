"""The HTTP publisher for runtimes on asyncio: the surface of HttpPublisher as coroutines.
`publish` only appends to a buffer (it awaits, never blocks the loop, while `max_pending` events
are buffered or in flight); `concurrency` sender tasks post batches, each request run on a worker
thread with its own keep-alive connection (producers/http_transport.py), retries awaited with
backoff and jitter. `flush()` returns once the server has taken every event published so far."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from producers import routing
from producers.errors import ConfirmTimeout, PublisherClosed, PublishError
from producers.events import InteractionFailed, MessageCompleted, failure_payload, usage_payloads
from producers.http_publisher import BufferKey, RequestObserver, buffer_key
from producers.http_transport import CONNECTION_ERRORS, HttpTransport, Reply, RetryPolicy, encode, transports


class AsyncHttpPublisher:
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
        self._changed: asyncio.Condition | None = None  # made in the running loop, at first use
        self._buffers: dict[BufferKey, list[dict[str, Any]]] = {}
        self._ready: deque[list[dict[str, Any]]] = deque()
        self._linger_timers: dict[BufferKey, asyncio.TimerHandle] = {}
        self._pending = 0
        self._failures: list[PublishError] = []
        self._senders: list[asyncio.Task[None]] = []
        self._closed = False

    # ---- the public API -------------------------------------------------------------------

    async def publish(self, event: MessageCompleted) -> None:
        await self._add(usage_payloads([event], "publish"))

    async def publish_many(self, events: Iterable[MessageCompleted]) -> None:
        await self._add(usage_payloads(events, "publish_many"))

    async def publish_failure(self, event: InteractionFailed) -> None:
        await self._add([failure_payload(event)])

    async def flush(self, timeout: float = 60.0) -> None:
        """Return once the server has taken every event published so far, or raise the first
        failure (EventsRejected, RequestRefused, EndpointUnavailable) or ConfirmTimeout."""
        changed = self._condition()
        deadline = time.monotonic() + timeout
        async with changed:
            for key in list(self._buffers):
                self._pack(key)
            while self._pending and not self._failures and (left := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(changed.wait(), min(left, 0.5))
                except TimeoutError:
                    pass
            if self._failures:
                failures, self._failures = self._failures, []
                raise failures[0]
            if self._pending:
                raise ConfirmTimeout(f"{self._pending} event(s) not taken by the server within {timeout} s")

    async def close(self, timeout: float = 60.0) -> None:
        if self._closed:
            return
        try:
            await self.flush(timeout)
        finally:
            await self._shutdown()

    async def __aenter__(self) -> AsyncHttpPublisher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            await self.close()
        else:
            await self._shutdown()

    # ---- the buffer -----------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
            self._senders = [asyncio.create_task(self._send_loop(t)) for t in self._transports]
        return self._changed

    async def _add(self, payloads: list[dict[str, Any]]) -> None:
        changed = self._condition()
        async with changed:
            for payload in payloads:
                while self._pending >= self._max_pending and not self._closed:
                    await changed.wait()  # back-pressure: the server is behind
                if self._closed:
                    raise PublisherClosed("the publisher is closed")
                key = buffer_key(payload, self._partitions)
                buffer = self._buffers.setdefault(key, [])
                if not buffer:
                    loop = asyncio.get_running_loop()
                    self._linger_timers[key] = loop.call_later(self._linger, self._linger_expired, key)
                buffer.append(payload)
                self._pending += 1
                if len(buffer) >= self._max_batch:
                    self._pack(key)

    def _linger_expired(self, key: BufferKey) -> None:
        asyncio.get_running_loop().create_task(self._pack_locked(key))

    async def _pack_locked(self, key: BufferKey) -> None:
        async with self._condition():
            self._pack(key)

    def _pack(self, key: BufferKey) -> None:
        """A buffer becomes a batch ready to send (condition held)."""
        timer = self._linger_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        buffer = self._buffers.pop(key, None)
        if buffer:
            self._ready.append(buffer)
            self._condition().notify_all()

    # ---- sender tasks ---------------------------------------------------------------------

    async def _send_loop(self, transport: HttpTransport) -> None:
        changed = self._condition()
        try:
            while True:
                async with changed:
                    while not self._ready and not self._closed:
                        await changed.wait()
                    if self._closed:
                        return
                    batch = self._ready.popleft()
                error: PublishError | None = None
                for body, count in encode(batch):
                    try:
                        await self._send(transport, body, count)
                    except PublishError as failure:
                        error = error or failure
                async with changed:
                    self._pending -= len(batch)
                    if error is not None:
                        self._failures.append(error)
                    changed.notify_all()
        finally:
            transport.close()

    async def _send(self, transport: HttpTransport, body: bytes, count: int) -> None:
        attempt = 0
        while True:
            started = time.perf_counter()
            reply: Reply | None = None
            failure: BaseException | None = None
            try:
                reply = await asyncio.to_thread(transport.post, body)
            except CONNECTION_ERRORS as error:
                failure = error
            if reply is not None and reply.status < 300 and self._on_request is not None:
                self._on_request(count, time.perf_counter() - started)
            delay = self._policy.after(attempt, reply, failure)
            if delay is None:
                return
            await asyncio.sleep(delay)
            attempt += 1

    async def _shutdown(self) -> None:
        self._closed = True
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
        for task in self._senders:
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
