"""Failed authentications per client address, counted in PostgreSQL so that every API process sees
the same count: one upsert per failure (failures are rare; a successful request writes nothing
here). A fixed window of one minute per address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

WINDOW = timedelta(minutes=1)
KEEP = timedelta(hours=1)  # rows of older windows are purged from time to time


@dataclass(frozen=True)
class FailureCount:
    failures: int  # in the current window, this one included
    window_end: datetime


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def record_failure(connection: Connection, address: str, now: datetime) -> FailureCount:
    start = _window_start(now)
    failures, window_start = connection.execute(
        text(
            "INSERT INTO auth_failures (address, window_start, failures) VALUES (:address, :start, 1) "
            "ON CONFLICT (address) DO UPDATE SET failures = CASE WHEN auth_failures.window_start = "
            "EXCLUDED.window_start THEN auth_failures.failures + 1 ELSE 1 END, "
            "window_start = EXCLUDED.window_start RETURNING failures, window_start"
        ),
        {"address": address[:100], "start": start},
    ).one()
    return FailureCount(failures, window_start + WINDOW)


def failures_now(connection: Connection, address: str, now: datetime) -> int:
    found = connection.execute(
        text("SELECT failures FROM auth_failures WHERE address = :address AND window_start = :start"),
        {"address": address[:100], "start": _window_start(now)},
    ).scalar()
    return int(found or 0)


def purge_failures(connection: Connection, now: datetime) -> int:
    return connection.execute(
        text("DELETE FROM auth_failures WHERE window_start < :before"), {"before": now - KEEP}
    ).rowcount
