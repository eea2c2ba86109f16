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
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import pika
import pika.channel
import pika.frame
import pika.spec

from producers import routing, wire
from producers.amqp_io import ConfirmingIO, Message
from producers.errors import (
    BrokerUnavailable,
    ConfirmTimeout,
    PublisherClosed,
    PublishError,
)
from producers.events import InteractionFailed, MessageCompleted, failure_payload, usage_payloads

_PERSISTENT = 2


class Publisher(ConfirmingIO):
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
        block_timeout: float | None = 60.0,
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
        self._block_timeout = block_timeout  # back-pressure in publish(): None waits without bound
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._buffer_started: dict[tuple[str, str], float] = {}
        self._next_seq = 0
        self._unconfirmed: dict[int, Message] = {}
        # Per channel: delivery tag -> seq, in tag order; and which seqs were sent on it.
        self._tags: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._to_send: collections.deque[int] = collections.deque()  # seqs not yet sent on this channel
        self._next_tag = 1
        self._channel: pika.channel.Channel | None = None
        self._connection: pika.SelectConnection | None = None
        self._wakeup_pending = False
        self._failures: list[PublishError] = []
        # Messages of publish_confirmed calls: seq -> what went wrong (None while all is well).
        self._awaited: dict[int, PublishError | None] = {}
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
        self._add_usage(usage_payloads([event], "publish"))

    def publish_many(self, events: Iterable[MessageCompleted]) -> None:
        self._add_usage(usage_payloads(events, "publish_many"))

    def publish_failure(self, event: InteractionFailed) -> None:
        self._add(wire.REFUNDS_QUEUE, wire.REFUND_ACTOR, [failure_payload(event)])

    def _add_usage(self, payloads: list[dict[str, Any]]) -> None:
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for payload in payloads:
            queue = routing.usage_queue_of(payload["organization_id"], self._partitions)
            by_queue.setdefault(queue, []).append(payload)
        for queue, queued in by_queue.items():
            self._add(queue, wire.USAGE_ACTOR, queued)

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

    def publish_confirmed(
        self,
        usage: Sequence[Mapping[str, Any]],
        failures: Sequence[Mapping[str, Any]] = (),
        *,
        timeout: float = 30.0,
    ) -> None:
        """Publish events already in wire form (docs/events.md; not validated here), routed as
        `publish_many` and `publish_failure` route, in messages of their own (no linger), and block
        until the broker has confirmed those messages (not the others in flight), or raise. For a
        server relaying events it validated (the HTTP API); thread-safe."""
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for event in usage:
            org = event.get("organization_id")
            queue = routing.usage_queue_of(org if isinstance(org, str) else "", self._partitions)
            by_queue.setdefault(queue, []).append(dict(event))
        parts = [
            (wire.queue_name(self._prefix, q), wire.USAGE_ACTOR, events) for q, events in by_queue.items()
        ]
        if failures:
            refunds = wire.queue_name(self._prefix, wire.REFUNDS_QUEUE)
            parts.append((refunds, wire.REFUND_ACTOR, [dict(report) for report in failures]))
        deadline = time.monotonic() + timeout
        seqs: list[int] = []
        with self._lock:
            if self._closed or self._closing:
                raise PublisherClosed("the publisher is closed")
            while len(self._unconfirmed) >= self._max_unconfirmed and time.monotonic() < deadline:
                self._changed.wait(0.5)  # back-pressure: the broker is behind
            for queue, actor, events in parts:
                for start in range(0, len(events), self._max_batch):
                    seqs.append(self._enqueue(queue, actor, events[start : start + self._max_batch]))
            self._awaited.update(dict.fromkeys(seqs))
        self._wake()
        with self._lock:
            try:
                while any(seq in self._unconfirmed for seq in seqs) and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(min(left, 0.5))
                errors = [error for seq in seqs if (error := self._awaited.get(seq)) is not None]
                pending = sum(seq in self._unconfirmed for seq in seqs)
            finally:
                for seq in seqs:
                    self._awaited.pop(seq, None)
            if errors:
                raise errors[0]
            if pending:
                if self._channel is None:
                    raise BrokerUnavailable(f"broker unreachable; {pending} message(s) not yet confirmed")
                raise ConfirmTimeout(f"{pending} message(s) not confirmed within {timeout} s")

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
            deadline = None if self._block_timeout is None else time.monotonic() + self._block_timeout
            for payload in payloads:
                while len(self._unconfirmed) >= self._max_unconfirmed and not self._closing:
                    # Back-pressure: the broker is behind, or the path to it is silent.
                    left = 0.5 if deadline is None else min(deadline - time.monotonic(), 0.5)
                    if left <= 0:
                        raise self._no_room()
                    self._changed.wait(left)
                buffer = self._buffers.setdefault(key, [])
                if not buffer:
                    self._buffer_started[key] = time.monotonic()
                buffer.append(payload)
                if len(buffer) >= self._max_batch:
                    self._pack(key)
        self._wake()

    def _no_room(self) -> PublishError:
        """What publish() raises when back-pressure outlasted block_timeout (lock held)."""
        count = len(self._unconfirmed)
        said = f"{count} message(s) not confirmed within {self._block_timeout} s (max_unconfirmed)"
        return (
            BrokerUnavailable(f"broker unreachable; {said}")
            if self._channel is None
            else ConfirmTimeout(said)
        )

    def _pack(self, key: tuple[str, str]) -> None:
        """Turn a buffer into one message awaiting confirmation (lock held)."""
        events = self._buffers.pop(key, None)
        self._buffer_started.pop(key, None)
        if not events:
            return
        queue, actor = key
        self._enqueue(queue, actor, events)

    def _enqueue(self, queue: str, actor: str, events: list[dict[str, Any]]) -> int:
        """One message awaiting confirmation (lock held); its sequence number."""
        message_id = str(uuid.uuid4())
        seq = self._next_seq
        self._next_seq += 1
        self._unconfirmed[seq] = Message(
            queue, wire.encode(queue, actor, events, message_id=message_id), message_id
        )
        self._to_send.append(seq)
        return seq

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
