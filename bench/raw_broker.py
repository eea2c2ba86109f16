"""The broker's own speed in this run: the same messages published and consumed with pika, no work."""

from __future__ import annotations

import time

import pika


def raw_broker_rate(broker_url: str, queue: str, messages: int, body: bytes) -> float:
    """Publish `messages` persistent messages (no confirms: the broker's upper bound) and consume
    them all with prefetch 1000, acknowledging every 500."""
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_purge(queue)
    started = time.perf_counter()
    for i in range(messages):
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
        if i % 500 == 499:
            connection.process_data_events(0)
    consumed = 0
    channel.basic_qos(prefetch_count=1000)
    for method, _props, _body in channel.consume(queue, inactivity_timeout=30):
        if method is None:
            break
        consumed += 1
        if consumed % 500 == 0 or consumed == messages:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if consumed == messages:
            break
    elapsed = time.perf_counter() - started
    channel.cancel()
    channel.queue_delete(queue)
    connection.close()
    return messages / elapsed if consumed == messages else 0.0
