"""Redelivery counts of queue messages: a message redelivered again and again is a poison message."""

from __future__ import annotations

from sqlalchemy import Connection, text


def count_redelivery(connection: Connection, message_id: str, queue_name: str) -> int:
    """Record one more crash redelivery of a message; returns how many there have been."""
    count: int = connection.execute(
        text(
            "INSERT INTO message_deliveries (message_id, queue_name, redeliveries) VALUES (:id, :q, 1) "
            "ON CONFLICT (message_id) DO UPDATE SET redeliveries = message_deliveries.redeliveries + 1, "
            "last_seen = now() RETURNING redeliveries"
        ),
        {"id": message_id, "q": queue_name},
    ).scalar_one()
    return count
