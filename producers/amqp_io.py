"""The I/O thread of the AMQP Publisher: one pika SelectConnection that publishes every message
awaiting confirmation, tracks the broker's confirms and returns, and reconnects after a loss
(republishing whatever was not confirmed). The publishing threads only touch the shared state
under the Publisher's lock; this half runs on the I/O thread."""

from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass

import pika
import pika.channel
import pika.frame
import pika.spec

from producers.errors import PublishError, PublishNacked, Unroutable

_PERSISTENT = 2


@dataclass(frozen=True)
class Message:
    """One Dramatiq message awaiting the broker's confirmation."""

    queue: str
    body: bytes
    message_id: str


class ConfirmingIO:
    """The connection side of the Publisher (state initialised by Publisher.__init__)."""

    _params: pika.URLParameters
    _linger: float
    _lock: threading.Lock
    _changed: threading.Condition
    _buffer_started: dict[tuple[str, str], float]
    _unconfirmed: dict[int, Message]
    _tags: collections.OrderedDict[int, int]
    _to_send: collections.deque[int]
    _next_tag: int
    _channel: pika.channel.Channel | None
    _connection: pika.SelectConnection | None
    _wakeup_pending: bool
    _failures: list[PublishError]
    _awaited: dict[int, PublishError | None]
    connections_opened: int
    _closing: bool
    _ready: threading.Event

    def _pack(self, key: tuple[str, str]) -> None:
        raise NotImplementedError

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
            refused = 0
            for t in done:
                seq = self._tags.pop(t, None)
                if seq is not None:
                    self._unconfirmed.pop(seq, None)
                if nacked and seq in self._awaited:
                    self._awaited[seq] = PublishNacked("the broker refused the message")
                elif nacked:
                    refused += 1
            if refused:
                self._failures.append(PublishNacked(f"the broker refused {refused} message(s)"))
            self._changed.notify_all()

    def _on_return(
        self,
        channel: pika.channel.Channel,
        method: pika.spec.Basic.Return,
        properties: pika.spec.BasicProperties,
        body: bytes,
    ) -> None:
        with self._lock:
            error = Unroutable(method.routing_key, 1)
            awaited = [s for s in self._awaited if self._message_id_of(s) == properties.message_id]
            if awaited:
                self._awaited[awaited[0]] = error  # its confirm follows: publish_confirmed raises this
            else:
                self._failures.append(error)
            self._changed.notify_all()

    def _message_id_of(self, seq: int) -> str | None:
        message = self._unconfirmed.get(seq)
        return None if message is None else message.message_id
