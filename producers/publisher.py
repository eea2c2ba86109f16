"""A thread-safe publisher with batching, asynchronous publisher confirms and reconnection.

Usage events are routed to their organization's partition queue (producers/routing.py) and packed
into Dramatiq messages of up to `max_batch` events of one partition (a partial batch leaves after
`linger_ms`). One I/O thread owns the pika connection; publishing threads only append to buffers
under a lock. Every message stays in `_unconfirmed` until the broker confirms it; after a lost
connection the I/O thread reconnects and republishes whatever is unconfirmed (the same event ids,
so the ledger treats a republished event as a duplicate).
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pika
import pika.channel
import pika.frame
import pika.spec

from producers import routing, wire
from producers.errors import (
    BrokerUnavailable,
    ConfirmTimeout,
    PublisherClosed,
    PublishError,
    PublishNacked,
    Unroutable,
)
from producers.events import InteractionFailed, MessageCompleted

_PERSISTENT = 2


@dataclass(frozen=True)
class _Message:
    queue: str
    body: bytes
    message_id: str


class Publisher:
    """Publish billing events with confirms. `flush()` returns once the broker has every event."""

    def __init__(
        self,
        url: str,
        *,
        queue_prefix: str = "",
        partitions: int = routing.DEFAULT_PARTITIONS,
        max_batch: int = 100,
        linger_ms: int = 20,
        connect_timeout: float = 15.0,
        max_unconfirmed: int = 5000,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch: must be at least 1")
        if partitions < 1:
            raise ValueError("partitions: must be at least 1 (the deployment's USAGE_PARTITIONS)")
        self._partitions = partitions
        self._params = pika.URLParameters(url)
        self._prefix = queue_prefix
        self._max_batch = max_batch
        self._linger = max(linger_ms, 1) / 1000
        self._max_unconfirmed = max_unconfirmed
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._buffer_started: dict[tuple[str, str], float] = {}
        self._next_seq = 0
        self._unconfirmed: dict[int, _Message] = {}
        # Per channel: delivery tag -> seq, in tag order; and which seqs were sent on it.
        self._tags: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._to_send: collections.deque[int] = collections.deque()  # seqs not yet sent on this channel
        self._next_tag = 1
        self._channel: pika.channel.Channel | None = None
        self._connection: pika.SelectConnection | None = None
        self._wakeup_pending = False
        self._failures: list[PublishError] = []
        self.connections_opened = 0  # more than 1 means it reconnected
        self._closing = False
        self._closed = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="billing-publisher-io", daemon=True)
        self._thread.start()
        if not self._ready.wait(connect_timeout):
            self._shutdown()
            raise BrokerUnavailable(f"could not connect to {self._params.host}:{self._params.port}")

    # ---- the public API -------------------------------------------------------------------

    def publish(self, event: MessageCompleted) -> None:
        if not isinstance(event, MessageCompleted):
            raise TypeError("publish() takes a MessageCompleted")
        self.publish_many([event])

    def publish_many(self, events: Iterable[MessageCompleted]) -> None:
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            if not isinstance(event, MessageCompleted):
                raise TypeError("publish_many() takes MessageCompleted events")
            queue = routing.usage_queue_of(event.organization_id, self._partitions)
            by_queue.setdefault(queue, []).append(event.to_wire())
        for queue, payloads in by_queue.items():
            self._add(queue, wire.USAGE_ACTOR, payloads)

    def publish_failure(self, event: InteractionFailed) -> None:
        if not isinstance(event, InteractionFailed):
            raise TypeError("publish_failure() takes an InteractionFailed")
        self._add(wire.REFUNDS_QUEUE, wire.REFUND_ACTOR, [event.to_wire()])

    def flush(self, timeout: float = 60.0) -> None:
        """Block until the broker has confirmed every event published so far, or raise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for key in list(self._buffers):
                self._pack(key)
        self._wake()
        with self._lock:
            while self._unconfirmed and not self._failures:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.5))
            if self._failures:
                failures, self._failures = self._failures, []
                raise failures[0]
            if self._unconfirmed:
                count = len(self._unconfirmed)
                if self._channel is None:
                    raise BrokerUnavailable(f"broker unreachable; {count} message(s) not yet confirmed")
                raise ConfirmTimeout(f"{count} message(s) not confirmed within {timeout} s")

    def close(self, timeout: float = 60.0) -> None:
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._shutdown()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._shutdown()

    # ---- publishing threads ---------------------------------------------------------------

    def _add(self, queue: str, actor: str, payloads: list[dict[str, Any]]) -> None:
        key = (wire.queue_name(self._prefix, queue), actor)
        with self._lock:
            if self._closed or self._closing:
                raise PublisherClosed("the publisher is closed")
            for payload in payloads:
                while len(self._unconfirmed) >= self._max_unconfirmed and not self._closing:
                    self._changed.wait(0.5)  # back-pressure: the broker is behind
                buffer = self._buffers.setdefault(key, [])
                if not buffer:
                    self._buffer_started[key] = time.monotonic()
                buffer.append(payload)
                if len(buffer) >= self._max_batch:
                    self._pack(key)
        self._wake()

    def _pack(self, key: tuple[str, str]) -> None:
        """Turn a buffer into one message awaiting confirmation (lock held)."""
        events = self._buffers.pop(key, None)
        self._buffer_started.pop(key, None)
        if not events:
            return
        queue, actor = key
        message_id = str(uuid.uuid4())
        seq = self._next_seq
        self._next_seq += 1
        self._unconfirmed[seq] = _Message(
            queue, wire.encode(queue, actor, events, message_id=message_id), message_id
        )
        self._to_send.append(seq)

    def _wake(self) -> None:
        with self._lock:
            connection = self._connection
            if self._wakeup_pending or connection is None or self._channel is None:
                return
            self._wakeup_pending = True
        try:
            connection.ioloop.add_callback_threadsafe(self._publish_pending)
        except Exception:  # the connection is going away; the I/O thread republishes on reconnect
            with self._lock:
                self._wakeup_pending = False

    def _shutdown(self) -> None:
        with self._lock:
            self._closing = True
            self._closed = True
            connection = self._connection
            self._changed.notify_all()
        if connection is not None:
            try:
                connection.ioloop.add_callback_threadsafe(self._close_connection)
            except Exception:
                pass
        self._thread.join(timeout=10)

    # ---- the I/O thread -------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            connection = pika.SelectConnection(
                self._params,
                on_open_callback=self._on_connection_open,
                on_open_error_callback=lambda conn, err: self._stop_soon(conn),
                on_close_callback=lambda conn, reason: self._stop_soon(conn),
            )
            with self._lock:
                self._connection = connection
            connection.ioloop.start()
            connection.ioloop.close()  # releases the loop's wake-up socket pair
            with self._lock:
                was_up = self._channel is not None
                self._connection = None
                self._channel = None
                self._tags.clear()
                self._to_send = collections.deque(sorted(self._unconfirmed))  # republish all unconfirmed
                self._wakeup_pending = False
                self._changed.notify_all()
            if self._closing:
                break
            backoff = 0.1 if was_up else min(backoff * 2, 2.0)
            time.sleep(backoff)

    @staticmethod
    def _stop_soon(connection: pika.SelectConnection) -> None:
        # Stop on the next loop turn, once pika has finished closing the socket.
        connection.ioloop.call_later(0, connection.ioloop.stop)

    def _close_connection(self) -> None:
        connection = self._connection
        if connection is None or connection.is_closing:
            return  # already on its way down; its close callback stops the loop
        if connection.is_open:
            connection.close()
        else:
            self._stop_soon(connection)

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: pika.channel.Channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda frame: self._on_confirm_mode(channel))

    def _on_channel_closed(self, channel: pika.channel.Channel, reason: Exception) -> None:
        self._close_connection()

    def _on_confirm_mode(self, channel: pika.channel.Channel) -> None:
        with self._lock:
            self._channel = channel
            self._next_tag = 1
            self.connections_opened += 1
        self._ready.set()
        self._publish_pending()
        self._schedule_linger()

    def _schedule_linger(self) -> None:
        connection = self._connection
        if connection is not None and not self._closing:
            connection.ioloop.call_later(self._linger, self._linger_tick)

    def _linger_tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, started in list(self._buffer_started.items()):
                if now - started >= self._linger:
                    self._pack(key)
        self._publish_pending()
        self._schedule_linger()

    def _publish_pending(self) -> None:
        with self._lock:
            self._wakeup_pending = False
            channel = self._channel
            if channel is None or not channel.is_open:
                return
            while self._to_send:
                seq = self._to_send.popleft()
                message = self._unconfirmed.get(seq)
                if message is None:
                    continue
                channel.basic_publish(
                    exchange="",
                    routing_key=message.queue,
                    body=message.body,
                    properties=pika.BasicProperties(
                        delivery_mode=_PERSISTENT,
                        message_id=message.message_id,
                        content_type="application/json",
                    ),
                    mandatory=True,
                )
                self._tags[self._next_tag] = seq
                self._next_tag += 1

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        tag: int = method.delivery_tag
        multiple: bool = method.multiple
        nacked = isinstance(method, pika.spec.Basic.Nack)
        with self._lock:
            # Tags are in ascending order: a multiple ack covers a prefix of them.
            done = list(itertools.takewhile(lambda t: t <= tag, self._tags)) if multiple else [tag]
            for t in done:
                seq = self._tags.pop(t, None)
                if seq is not None:
                    self._unconfirmed.pop(seq, None)
            if nacked:
                self._failures.append(PublishNacked(f"the broker refused {len(done)} message(s)"))
            self._changed.notify_all()

    def _on_return(
        self,
        channel: pika.channel.Channel,
        method: pika.spec.Basic.Return,
        properties: pika.spec.BasicProperties,
        body: bytes,
    ) -> None:
        with self._lock:
            self._failures.append(Unroutable(method.routing_key, 1))
            self._changed.notify_all()
